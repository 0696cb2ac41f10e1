"""One reading of a service's health, for a deploy watch: not the verify loop, one look.

:func:`~integrations.health.verify.verify` reads a check until it is healthy several times in a
row, which is what a rollback needs before it calls a stage enough. A deploy watch asks another
question every interval: *is the service breaching its health check right now?* One reading of
every check answers it (one Prometheus query, one probe), as a :class:`Snapshot` in one of three
states:

* ``healthy``: every check read and passed;
* ``breached``: a check read and failed: its condition does not hold (an error ratio above its
  threshold, a probe answering 500, a comparison that returns no series);
* ``unreadable``: no check failed, but one could not be read (Prometheus down, a timeout). That
  is no evidence against the deploy, so a watch must not call it a breach.

A check Prometheus rejects (a :class:`~integrations.errors.PermanentIntegrationError`) raises:
it is a configuration problem, and reading again will not help.

:class:`CatalogReadings` builds each service's checks from its catalog ``health`` entry once and
keeps them, like the engine's health gate does.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from integrations.base import HealthCheck, HealthReading
from integrations.errors import TemporaryIntegrationError
from integrations.health._config import ClientFactory
from integrations.health.catalog import ServiceHealth, checks_from_catalog
from integrations.http import make_client
from planners.topology import Topology

__all__ = ["CatalogReadings", "Snapshot", "SnapshotState", "check_label", "read_once"]

_MAX_LABEL = 200


class SnapshotState(StrEnum):
    """What one reading of a service's checks says."""

    HEALTHY = "healthy"
    BREACHED = "breached"
    UNREADABLE = "unreadable"


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """One reading of every check of a service.

    Attributes:
        state: healthy, breached or unreadable (see the module docstring).
        detail: what each check read, joined, for humans.
        check: the first breached check, by its name (a Prometheus check's ``name`` or query,
            a probe's URL); None unless breached.
        value: the breached check's reading, when it has a number.
        readings: every check's reading, in the checks' order.
    """

    state: SnapshotState
    detail: str
    check: str | None = None
    value: float | None = None
    readings: tuple[HealthReading, ...] = ()

    @property
    def breached(self) -> bool:
        """Whether a check read and failed."""
        return self.state == SnapshotState.BREACHED


def check_label(check: HealthCheck) -> str:
    """How a check is named to humans: its ``name`` (a Prometheus check's is its query unless
    set), else its ``url``, else its kind."""
    for attribute in ("name", "url"):
        value = getattr(check, attribute, None)
        if isinstance(value, str) and value.strip():
            return value.strip()[:_MAX_LABEL]
    return check.kind


def read_once(checks: Sequence[HealthCheck]) -> Snapshot:
    """Read every check once; breached if any read and failed, else unreadable if any could not
    be read, else healthy.

    Raises:
        ValueError: no checks.
        PermanentIntegrationError: a check can never be read (a query Prometheus rejects).
    """
    if not checks:
        raise ValueError("read_once needs at least one check")
    readings: list[HealthReading] = []
    breached: tuple[HealthCheck, HealthReading] | None = None
    unreadable = False
    for check in checks:
        try:
            reading = check.read()
        except TemporaryIntegrationError as exc:
            unreadable = True
            reading = HealthReading(
                healthy=False, detail=f"{check_label(check)} could not be read: {exc}"
            )
        else:
            if not reading.healthy and breached is None:
                breached = (check, reading)
        readings.append(reading)
    detail = "; ".join(reading.detail for reading in readings)
    if breached is not None:
        check, reading = breached
        return Snapshot(
            state=SnapshotState.BREACHED,
            detail=detail,
            check=check_label(check),
            value=reading.value,
            readings=tuple(readings),
        )
    state = SnapshotState.UNREADABLE if unreadable else SnapshotState.HEALTHY
    return Snapshot(state=state, detail=detail, readings=tuple(readings))


class CatalogReadings:
    """One reading of a service's catalog health checks, by service name.

    Thread-safe; each service's checks are built on first use and kept (close them with
    :meth:`close`).

    Args:
        topology: the services and their ``health`` entries.
        prometheus_url: where checks written as bare PromQL run.
        client_factory: builds each check's HTTP client.
    """

    def __init__(
        self,
        topology: Topology,
        *,
        prometheus_url: str | None,
        client_factory: ClientFactory = make_client,
    ) -> None:
        self._topology = topology
        self._prometheus_url = prometheus_url
        self._client_factory = client_factory
        self._built: dict[str, ServiceHealth] = {}
        self._lock = threading.Lock()

    def has_checks(self, service: str) -> bool:
        """Whether the catalog gives ``service`` a health check."""
        found = self._topology.services.get(service)
        return found is not None and found.health is not None

    def __call__(self, service: str) -> Snapshot | None:
        """One reading of ``service``'s checks; None when it has none.

        Raises:
            ConfigError: its checks cannot be built (bare PromQL without ``prometheus_url``).
            PermanentIntegrationError: a check can never be read.
        """
        health = self._health(service)
        return None if health is None else read_once(health.checks)

    def close(self) -> None:
        """Close every built check's HTTP client."""
        with self._lock:
            built, self._built = list(self._built.values()), {}
        for health in built:
            health.close()

    def _health(self, service: str) -> ServiceHealth | None:
        found = self._topology.services.get(service)
        if found is None or found.health is None:
            return None
        with self._lock:
            if service not in self._built:
                self._built[service] = checks_from_catalog(
                    found.health,
                    prometheus_url=self._prometheus_url,
                    client_factory=self._client_factory,
                )
            return self._built[service]
