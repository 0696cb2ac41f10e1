"""Health checks, and verifying that a service stays healthy after a rollback step.

The engine calls :func:`verify` after each stage: it reads a :class:`~integrations.base.HealthCheck`
until it is healthy ``consecutive`` times in a row (one bad reading restarts the count) or the
time runs out. A reading that fails with a temporary error counts as a bad reading; a permanent
error (a query Prometheus rejects) is a configuration problem and propagates.

:func:`checks_from_catalog` turns a service's catalog ``health`` entry into checks:

```yaml
health:
  prometheus: 'job:http_error_ratio:rate2m{service="cart"} < 0.05'   # must return a sample
  http: http://cart:8080/healthz
  consecutive: 3       # healthy readings in a row (default 3)
  interval: 5          # seconds between readings (default 5)
  timeout: 120         # seconds before giving up (default 120)
```

Each check may also be a mapping (``{query, op, threshold, empty_is, name, url, timeout}`` for
Prometheus, ``{url, expect, timeout}`` for HTTP) or a list of checks. Adapters:
:class:`PrometheusHealthCheck` (``prometheus.py``) and :class:`HttpProbe` (``http_probe.py``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from integrations.base import HealthCheck, HealthReading
from integrations.errors import ConfigError, TemporaryIntegrationError
from integrations.health._config import ClientFactory, optional_number, reject_unknown
from integrations.health.http_probe import HttpProbe
from integrations.health.prometheus import PrometheusHealthCheck
from integrations.http import make_client

__all__ = [
    "DEFAULT_CONSECUTIVE",
    "DEFAULT_INTERVAL",
    "DEFAULT_TIMEOUT",
    "AllOf",
    "HttpProbe",
    "PrometheusHealthCheck",
    "ServiceHealth",
    "Verdict",
    "checks_from_catalog",
    "verify",
]

log = logging.getLogger(__name__)

DEFAULT_CONSECUTIVE = 3
DEFAULT_INTERVAL = 5.0
DEFAULT_TIMEOUT = 120.0

_INTEGRATION = "health"
_CATALOG_KEYS = frozenset({"prometheus", "http", "consecutive", "interval", "timeout"})


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The outcome of :func:`verify`.

    Attributes:
        healthy: whether the check was healthy ``consecutive`` times in a row in time.
        readings: every reading taken, in order; a failed read is an unhealthy reading whose
            detail says why.
        reason: one line for the humans.
    """

    healthy: bool
    readings: tuple[HealthReading, ...]
    reason: str


def verify(
    check: HealthCheck,
    *,
    consecutive: int = DEFAULT_CONSECUTIVE,
    interval: float = DEFAULT_INTERVAL,
    timeout: float = DEFAULT_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Verdict:
    """Read ``check`` until it is healthy ``consecutive`` times in a row, or time runs out.

    The first reading is taken at once, then one every ``interval`` seconds. A bad reading
    restarts the count. No reading starts after ``timeout``, and verification stops early when
    the readings left before it could no longer make up the streak.

    Args:
        check: the check to read.
        consecutive: healthy readings needed in a row (at least 1).
        interval: seconds to sleep between readings.
        timeout: seconds from the first reading after which no reading starts.
        sleep: how to wait (a fake in tests).
        clock: a monotonic clock in seconds (a fake in tests).

    Returns:
        The verdict, with every reading.

    Raises:
        ValueError: ``consecutive`` below 1, or a negative ``interval`` or ``timeout``.
        PermanentIntegrationError: the check cannot be read, ever (a rejected query, refused
            credentials); retrying is pointless, so it is not turned into a bad reading.
    """
    if isinstance(consecutive, bool) or consecutive < 1:
        raise ValueError(f"consecutive must be at least 1, got {consecutive!r}")
    if interval < 0 or timeout < 0:
        raise ValueError(f"interval and timeout must not be negative, got {interval}, {timeout}")
    deadline = clock() + timeout
    readings: list[HealthReading] = []
    streak = 0
    while True:
        reading = _read(check)
        readings.append(reading)
        streak = streak + 1 if reading.healthy else 0
        log.debug(
            "health reading",
            extra={"check": check.kind, "healthy": reading.healthy, "detail": reading.detail},
        )
        if streak >= consecutive:
            return _verdict(
                healthy=True,
                readings=readings,
                reason=f"healthy {consecutive} times in a row ({reading.detail})",
            )
        if _readings_left(deadline - clock(), interval=interval) < consecutive - streak:
            return _verdict(
                healthy=False,
                readings=readings,
                reason=(
                    f"not healthy {consecutive} times in a row within {timeout:g} s "
                    f"({len(readings)} readings; last: {reading.detail})"
                ),
            )
        sleep(interval)


class AllOf:
    """One check made of several: healthy when every one of them is.

    A check that fails with a temporary error counts as unhealthy, and the others are still
    read, so that the reading says what each one saw. Permanent errors propagate.
    """

    kind: ClassVar[str] = "all"

    def __init__(self, checks: Sequence[HealthCheck]) -> None:
        if not checks:
            raise ValueError("AllOf needs at least one check")
        self.checks = tuple(checks)

    def read(self) -> HealthReading:
        """Read every check once."""
        readings = [_read(check) for check in self.checks]
        if len(readings) == 1:
            return readings[0]
        return HealthReading(
            healthy=all(reading.healthy for reading in readings),
            detail="; ".join(reading.detail for reading in readings),
        )

    def __repr__(self) -> str:
        return f"AllOf({list(self.checks)!r})"


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
    health: Mapping[str, Any],
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
        ConfigError: the entry has no check, an unknown key, or a field of the wrong shape; the
            message names the field (``health.prometheus.threshold``).
    """
    if not isinstance(health, Mapping):
        raise ConfigError(
            f"health must be a mapping, got {type(health).__name__}", integration=_INTEGRATION
        )
    reject_unknown(health, _CATALOG_KEYS, where="health", integration=_INTEGRATION)
    consecutive = _consecutive(health)
    timeout = _seconds(health, "timeout", default=DEFAULT_TIMEOUT, zero_ok=False)
    interval = _seconds(health, "interval", default=DEFAULT_INTERVAL, zero_ok=True)
    checks: list[HealthCheck] = []
    try:
        for where, entry in _entries(health, "prometheus"):
            config = _as_mapping(entry, key="query", where=where)
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
        for where, entry in _entries(health, "http"):
            config = _as_mapping(entry, key="url", where=where)
            checks.append(HttpProbe.from_config(config, client_factory=client_factory, where=where))
    except ConfigError:
        _close(checks)
        raise
    if not checks:
        raise ConfigError(
            "health names no check: give prometheus (an expression that must hold) or http "
            "(a URL that must answer 2xx)",
            integration=_INTEGRATION,
        )
    return ServiceHealth(
        checks=tuple(checks), consecutive=consecutive, timeout=timeout, interval=interval
    )


def _read(check: HealthCheck) -> HealthReading:
    """One reading; a temporary failure is an unhealthy reading that says why."""
    try:
        return check.read()
    except TemporaryIntegrationError as exc:
        log.info("health check could not be read", extra={"check": check.kind, "error": str(exc)})
        return HealthReading(healthy=False, detail=f"{check.kind} check could not be read: {exc}")


def _readings_left(remaining: float, *, interval: float) -> float:
    """How many more readings can start, one per ``interval``, in ``remaining`` seconds."""
    if interval > 0:
        return remaining // interval
    return math.inf if remaining > 0 else 0


def _verdict(*, healthy: bool, readings: list[HealthReading], reason: str) -> Verdict:
    log.info("health verdict", extra={"healthy": healthy, "reason": reason})
    return Verdict(healthy=healthy, readings=tuple(readings), reason=reason)


def _close(checks: Sequence[HealthCheck]) -> None:
    for check in checks:
        close = getattr(check, "close", None)
        if callable(close):
            close()


def _entries(health: Mapping[str, Any], key: str) -> list[tuple[str, object]]:
    """A check key's entries, each with its name (``health.prometheus[1]`` in a list)."""
    value = health.get(key)
    if value is None:
        return []
    where = f"health.{key}"
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"{where} is an empty list", integration=_INTEGRATION)
        return [(f"{where}[{index}]", item) for index, item in enumerate(value)]
    return [(where, value)]


def _as_mapping(entry: object, *, key: str, where: str) -> dict[str, Any]:
    """A check's configuration; a string is shorthand for its ``key``."""
    if isinstance(entry, str):
        return {key: entry}
    if isinstance(entry, Mapping):
        return {str(k): v for k, v in entry.items()}
    raise ConfigError(
        f"{where} must be a string or a mapping, got {type(entry).__name__}",
        integration=_INTEGRATION,
    )


def _consecutive(health: Mapping[str, Any]) -> int:
    value = health.get("consecutive", DEFAULT_CONSECUTIVE)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"health.consecutive must be a whole number of readings, at least 1, got {value!r}",
            integration=_INTEGRATION,
        )
    return value


def _seconds(health: Mapping[str, Any], key: str, *, default: float, zero_ok: bool) -> float:
    value = optional_number(health, key, where="health", integration=_INTEGRATION)
    if value is None:
        return default
    too_small = value < 0 if zero_ok else value <= 0
    if too_small or math.isinf(value):
        bound = "0 or more" if zero_ok else "above 0"
        raise ConfigError(
            f"health.{key} must be a number of seconds {bound}, got {health[key]!r}",
            integration=_INTEGRATION,
        )
    return value
