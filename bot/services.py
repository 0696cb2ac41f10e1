"""The composition root's builders: configured executors and the catalog's health gate.

Settings say which executors exist (``executors: {name: {kind: …, …}}``, ``kind`` defaulting to
the name); the catalog says how each service's health is checked (``health:``). Both are built
once, at startup, and handed to the engine. A configuration that cannot be used stops the start
with a :class:`bot.settings.SettingsError` naming the executor and the problem.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from bot.engine import HealthResult
from bot.settings import Settings, SettingsError
from integrations.base import Executor
from integrations.errors import ConfigError, IntegrationError
from integrations.executors import builtin_executors
from integrations.health import ServiceHealth, checks_from_catalog
from integrations.registry import Registry
from planners.topology import Topology

__all__ = ["CatalogHealthGate", "build_executors"]


def build_executors(
    settings: Settings, *, registry: Registry[Executor] | None = None
) -> dict[str, Executor]:
    """Every executor named in the settings, built from its configuration.

    Raises:
        SettingsError: an unknown kind or an unusable configuration (names which executor).
    """
    registry = registry or builtin_executors()
    built: dict[str, Executor] = {}
    for name, config in settings.executors.items():
        kind = str(config.get("kind", name))
        options = {k: v for k, v in config.items() if k != "kind"}
        try:
            built[name] = registry.create(kind, options)
        except (LookupError, ConfigError) as exc:
            raise SettingsError(f"executors.{name}: {exc}") from exc
    return built


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
        healthy, parts = True, []
        for name in services:
            try:
                health = self._health(name)
                if health is None:
                    parts.append(f"{name}: no health check configured")
                    continue
                verdict = health.verify(sleep=self._sleep)
            except IntegrationError as exc:
                healthy = False
                parts.append(f"{name}: cannot check: {exc}")
                continue
            healthy = healthy and verdict.healthy
            parts.append(f"{name}: {verdict.reason}")
        return HealthResult(healthy=healthy, reason="; ".join(parts) or "no services to verify")

    def _health(self, name: str) -> ServiceHealth | None:
        service = self._topology.services.get(name)
        if service is None or not service.health:
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
