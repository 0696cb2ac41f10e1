"""The catalog's health gate: verifies services with the checks their catalog ``health`` entries
describe (Prometheus expressions, HTTP probes, through :mod:`integrations.health`), says which
services no check can judge (unchecked, never healthy by assumption), and, before a step runs,
whether its services' checks can be built at all (:meth:`CatalogHealthGate.cannot_verify`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from bot.core.health import HealthResult
from integrations.errors import IntegrationError
from integrations.health import ServiceHealth, checks_from_catalog
from planners.topology import Topology

__all__ = ["CatalogHealthGate"]


class CatalogHealthGate:
    """Verifies services with the checks their catalog ``health`` entries describe.

    Services are verified one after the other; all must be healthy. A service with no ``health``
    entry is reported as unchecked, not as healthy by assumption. Checks are built on first use
    and kept.
    """

    def __init__(
        self,
        topology: Topology,
        *,
        prometheus_url: str | None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._topology = topology
        self._prometheus_url = prometheus_url
        self._sleep = sleep
        self._built: dict[str, ServiceHealth] = {}
        self._lock = threading.Lock()

    def __call__(self, services: Sequence[str]) -> HealthResult:
        healthy, parts, unchecked = True, [], []
        for name in services:
            try:
                health = self._health(name)
                if health is None:
                    parts.append(f"{name}: no health check configured (unchecked)")
                    unchecked.append(name)
                    continue
                verdict = health.verify(sleep=self._sleep)
            except IntegrationError as exc:
                healthy = False
                parts.append(f"{name}: cannot check: {exc}")
                continue
            healthy = healthy and verdict.healthy
            parts.append(f"{name}: {verdict.reason}")
        return HealthResult(
            healthy=healthy,
            reason="; ".join(parts) or "no services to verify",
            unchecked=tuple(unchecked),
        )

    def cannot_verify(self, services: Sequence[str]) -> str | None:
        """Why these services' health checks cannot run (a check that cannot be built, such as
        bare PromQL without ``prometheus_url``), or None when they can (or have none)."""
        problems = []
        for name in services:
            try:
                self._health(name)
            except IntegrationError as exc:
                problems.append(f"{name}: {exc}")
        return "; ".join(problems) or None

    def _health(self, name: str) -> ServiceHealth | None:
        service = self._topology.services.get(name)
        if service is None or service.health is None:
            return None
        with self._lock:
            if name not in self._built:
                self._built[name] = checks_from_catalog(
                    service.health, prometheus_url=self._prometheus_url
                )
            return self._built[name]

    def close(self) -> None:
        """Close every check's HTTP client."""
        for health in self._built.values():
            health.close()
