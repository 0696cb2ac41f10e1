"""Verifying that a service is healthy: read a check until it is healthy enough times in a row.

The engine's health gate (``bot.runtime.services.CatalogHealthGate``) calls :func:`verify`
through :class:`~integrations.health.catalog.ServiceHealth` after each stage: it reads a
:class:`~integrations.base.HealthCheck` until it is healthy ``consecutive`` times in a row (one
bad reading restarts the count) or the time runs out. A reading that fails with a temporary error
counts as a bad reading; a permanent error (a query Prometheus rejects) is a configuration problem
and propagates. :class:`AllOf` reads several checks as one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from integrations.base import HealthCheck, HealthReading
from integrations.errors import TemporaryIntegrationError

__all__ = [
    "DEFAULT_CONSECUTIVE",
    "DEFAULT_INTERVAL",
    "DEFAULT_TIMEOUT",
    "AllOf",
    "Verdict",
    "verify",
]

log = logging.getLogger(__name__)

DEFAULT_CONSECUTIVE = 3
DEFAULT_INTERVAL = 5.0
DEFAULT_TIMEOUT = 120.0


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
