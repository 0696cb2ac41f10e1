"""Health gates: how the engine verifies services after a step and after each stage. The catalog
gate reads each service's ``health`` checks (Prometheus expressions, HTTP probes) through
:mod:`integrations.health`; with none configured, :func:`always_healthy` says so and passes.

A service with no check is *unchecked*, never healthy by assumption: a step may still finish
(nothing contradicts it, and the reason says it was not verified), but a stage gate needs
evidence from every service it judges before it calls later stages not needed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["HealthGate", "HealthResult", "always_healthy"]


@dataclass(frozen=True, kw_only=True)
class HealthResult:
    """Whether the services verified healthy, and what was seen.

    Attributes:
        healthy: no checked service was unhealthy (and at least the checks that exist passed).
        reason: what was seen, per service.
        unchecked: the services no check could judge (none configured): no evidence either way.
    """

    healthy: bool
    reason: str
    unchecked: tuple[str, ...] = ()

    @property
    def evidenced(self) -> bool:
        """Healthy with evidence from every service: what a stage gate needs."""
        return self.healthy and not self.unchecked


class HealthGate(Protocol):
    """Verifies a set of services (readings until enough good ones in a row, or a timeout)."""

    def __call__(self, services: Sequence[str]) -> HealthResult: ...


def always_healthy(services: Sequence[str]) -> HealthResult:
    """The health gate when no health checks are configured: says so, and passes, with every
    service unchecked."""
    return HealthResult(
        healthy=True,
        reason=f"no health checks configured for {', '.join(services)}",
        unchecked=tuple(services),
    )
