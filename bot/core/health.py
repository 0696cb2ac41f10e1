"""Health gates: how the engine verifies services after a step and after each stage. The catalog
gate reads each service's ``health`` checks (Prometheus expressions, HTTP probes) through
:mod:`integrations.health`; with none configured, :func:`always_healthy` says so and passes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["HealthGate", "HealthResult", "always_healthy"]


@dataclass(frozen=True, kw_only=True)
class HealthResult:
    """Whether the services verified healthy, and what was seen."""

    healthy: bool
    reason: str


class HealthGate(Protocol):
    """Verifies a set of services (readings until enough good ones in a row, or a timeout)."""

    def __call__(self, services: Sequence[str]) -> HealthResult: ...


def always_healthy(services: Sequence[str]) -> HealthResult:
    """The health gate when no health checks are configured: says so, and passes."""
    return HealthResult(
        healthy=True, reason=f"no health checks configured for {', '.join(services)}"
    )
