"""A service's catalog ``health`` entry (:class:`planners.model.HealthSpec`) as checks to verify.

:func:`checks_from_catalog` turns the entry into :class:`ServiceHealth`: one adapter per check
(:class:`~integrations.health.prometheus.PrometheusHealthCheck`,
:class:`~integrations.health.http_probe.HttpProbe`) and the verification settings. The entry's
shape was checked when the catalog was read (a topology problem naming the service and field);
what each check's values mean (an operator, a URL) is checked here, by the adapters:

```yaml
health:
  prometheus: 'job:http_error_ratio:rate2m{service="cart"} < 0.05'   # must return a sample
  http: http://cart:8080/healthz
  consecutive: 3       # healthy readings in a row (default 3)
  interval: 5          # seconds between readings (default 5)
  timeout: 120         # seconds before giving up (default 120)
```

Each check may also be a mapping (``{query, op, threshold, empty_is, name, url, timeout}`` for
Prometheus, ``{url, expect, timeout}`` for HTTP) or a list of checks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from integrations.base import HealthCheck
from integrations.errors import ConfigError
from integrations.health._config import ClientFactory
from integrations.health.http_probe import HttpProbe
from integrations.health.prometheus import PrometheusHealthCheck
from integrations.health.verify import (
    DEFAULT_CONSECUTIVE,
    DEFAULT_INTERVAL,
    DEFAULT_TIMEOUT,
    AllOf,
    Verdict,
    verify,
)
from integrations.http import make_client
from planners.model import HealthSpec

__all__ = ["ServiceHealth", "checks_from_catalog"]

_INTEGRATION = "health"


@dataclass(frozen=True, kw_only=True)
class ServiceHealth:
    """How one service's health is verified, as its catalog entry says.

    Attributes:
        checks: every check; the service is healthy when all of them are.
        consecutive: healthy readings needed in a row.
        timeout: seconds before verification gives up.
        interval: seconds between readings.
    """

    checks: tuple[HealthCheck, ...]
    consecutive: int = DEFAULT_CONSECUTIVE
    timeout: float = DEFAULT_TIMEOUT
    interval: float = DEFAULT_INTERVAL

    def verify(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> Verdict:
        """:func:`verify` all the checks together, with this service's settings."""
        return verify(
            AllOf(self.checks),
            consecutive=self.consecutive,
            interval=self.interval,
            timeout=self.timeout,
            sleep=sleep,
            clock=clock,
        )

    def close(self) -> None:
        """Close the checks' HTTP clients."""
        _close(self.checks)


def checks_from_catalog(
    health: HealthSpec,
    *,
    prometheus_url: str | None,
    client_factory: ClientFactory = make_client,
) -> ServiceHealth:
    """Build a service's checks from its catalog ``health`` entry (shapes in the module doc).

    Args:
        health: the entry.
        prometheus_url: the Prometheus server the queries go to, unless a check names its own
            ``url``.
        client_factory: builds each check's HTTP client.

    Returns:
        The checks and the verification settings. Close it when done with it.

    Raises:
        ConfigError: a check's value the adapter cannot use; the message names the field
            (``health.prometheus.threshold``).
    """
    checks: list[HealthCheck] = []
    try:
        for where, config in _entries(health.prometheus, "prometheus"):
            config.setdefault("url", prometheus_url)
            if config["url"] is None:
                raise ConfigError(
                    f"{where} needs a Prometheus URL: none is configured for Backout and the "
                    "check names no url",
                    integration=_INTEGRATION,
                )
            checks.append(
                PrometheusHealthCheck.from_config(
                    config, client_factory=client_factory, where=where
                )
            )
        for where, config in _entries(health.http, "http"):
            checks.append(HttpProbe.from_config(config, client_factory=client_factory, where=where))
    except ConfigError:
        _close(checks)
        raise
    return ServiceHealth(
        checks=tuple(checks),
        consecutive=DEFAULT_CONSECUTIVE if health.consecutive is None else health.consecutive,
        timeout=DEFAULT_TIMEOUT if health.timeout is None else health.timeout,
        interval=DEFAULT_INTERVAL if health.interval is None else health.interval,
    )


def _entries(specs: Sequence[BaseModel], key: str) -> list[tuple[str, dict[str, Any]]]:
    """Each check's settings, named ``health.http`` (``health.http[1]`` when there are several)."""
    if len(specs) == 1:
        return [(f"health.{key}", specs[0].model_dump(exclude_none=True))]
    return [
        (f"health.{key}[{index}]", spec.model_dump(exclude_none=True))
        for index, spec in enumerate(specs)
    ]


def _close(checks: Sequence[HealthCheck]) -> None:
    for check in checks:
        close = getattr(check, "close", None)
        if callable(close):
            close()
