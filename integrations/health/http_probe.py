"""The HTTP probe: ``GET`` a URL; healthy when it answers an expected status (2xx by default).

One of the :class:`~integrations.base.HealthCheck` adapters of ``integrations/health/``, the
counterpart of a Kubernetes ``httpGet`` probe. A probe exists to notice a service that is down,
so a refused connection or a timeout is an unhealthy *reading*, not an exception. A malformed URL
is a :class:`ConfigError`, raised when the probe is built. Redirects are not followed: a 3xx is
unhealthy unless listed in ``expect``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

import httpx

from integrations.base import HealthReading
from integrations.errors import ConfigError, UnavailableError
from integrations.health._config import (
    ClientFactory,
    positive_number,
    reject_unknown,
    text,
)
from integrations.http import make_client, send

__all__ = ["HttpProbe"]

log = logging.getLogger(__name__)

_INTEGRATION = "http"
_CONFIG_KEYS = frozenset({"url", "expect", "timeout"})
_DEFAULT_TIMEOUT = 5.0


class HttpProbe:
    """Healthy when ``GET url`` answers one of the ``expect`` statuses.

    Args:
        client: the client to send with; the URL is absolute, so its base URL does not matter.
        url: an absolute ``http`` or ``https`` URL.
        expect: the statuses that mean healthy; any 2xx when not given.

    Raises:
        ConfigError: the URL is not an absolute http(s) URL, or ``expect`` holds a non-status.
    """

    kind: ClassVar[str] = "http"

    def __init__(
        self, *, client: httpx.Client, url: str, expect: Collection[int] | None = None
    ) -> None:
        self.url = str(_parse_url(url, where="url"))
        self.expect = None if expect is None else _statuses(expect, where="expect")
        self.client = client

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        client_factory: ClientFactory = make_client,
        where: str = "http",
    ) -> HttpProbe:
        """Build a probe from its configuration (the registry's factory signature).

        Args:
            config: ``url`` (required), ``expect`` (a list of statuses) and ``timeout`` (seconds,
                default 5).
            client_factory: builds the client; it is given the URL's origin.
            where: names the configuration in error messages (``health.http``).

        Raises:
            ConfigError: a key is missing, unknown or of the wrong type; the message names it.
        """
        reject_unknown(config, _CONFIG_KEYS, where=where, integration=_INTEGRATION)
        url = _parse_url(
            text(config, "url", where=where, integration=_INTEGRATION), where=f"{where}.url"
        )
        raw_expect = config.get("expect")
        expect = None if raw_expect is None else _statuses(raw_expect, where=f"{where}.expect")
        timeout = positive_number(
            config, "timeout", default=_DEFAULT_TIMEOUT, where=where, integration=_INTEGRATION
        )
        origin = str(url.copy_with(path="/", query=None, fragment=None))
        return cls(client=client_factory(origin, timeout=timeout), url=str(url), expect=expect)

    def read(self) -> HealthReading:
        """Send one ``GET``; never raises for an unreachable or slow service."""
        request = self.client.build_request("GET", self.url)
        try:
            response = send(self.client, request, integration=_INTEGRATION)
        except UnavailableError as exc:
            cause = exc.__cause__
            why = "timed out" if isinstance(cause, httpx.TimeoutException) else _reason(cause)
            log.debug("http probe failed", extra={"url": self.url, "why": why})
            return HealthReading(healthy=False, detail=f"GET {self.url} {why}")
        status = response.status_code
        healthy = (200 <= status < 300) if self.expect is None else status in self.expect
        wanted = "2xx" if self.expect is None else " or ".join(map(str, sorted(self.expect)))
        phrase = f" {response.reason_phrase}" if response.reason_phrase else ""
        return HealthReading(
            healthy=healthy,
            detail=f"GET {self.url} answered {status}{phrase} (expects {wanted})",
            value=float(status),
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    def __repr__(self) -> str:
        return f"HttpProbe({self.url!r})"


def _parse_url(raw: str, *, where: str) -> httpx.URL:
    try:
        url = httpx.URL(raw.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigError(f"{where} {raw!r} is not a URL: {exc}", integration=_INTEGRATION) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(
            f"{where} must be an absolute http(s) URL such as http://cart:8080/healthz, "
            f"got {raw!r}",
            integration=_INTEGRATION,
        )
    return url


def _statuses(raw: object, *, where: str) -> frozenset[int]:
    if isinstance(raw, str | bytes) or not isinstance(raw, Collection) or not raw:
        raise ConfigError(
            f"{where} must be a non-empty list of HTTP statuses, got {raw!r}",
            integration=_INTEGRATION,
        )
    bad = [s for s in raw if isinstance(s, bool) or not isinstance(s, int) or not 100 <= s <= 599]
    if bad:
        raise ConfigError(
            f"{where} holds {bad[0]!r}, which is not an HTTP status (100-599)",
            integration=_INTEGRATION,
        )
    return frozenset(raw)


def _reason(cause: BaseException | None) -> str:
    if isinstance(cause, httpx.ConnectError):
        return f"could not connect ({cause})" if str(cause) else "could not connect"
    return f"failed ({type(cause).__name__}: {cause})" if cause else "failed"
