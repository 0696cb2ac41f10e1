"""The ports adapters implement: executors (change things) and health checks (read things).

Interfaces are ``typing.Protocol`` so that fakes need no inheritance; the value types that cross
them are frozen dataclasses. The engine (``bot/core/engine.py``) drives executors through
:class:`Executor` only: ``current_state`` before acting (idempotency, crash recovery), ``preview``
(dry run), ``execute``; then a :class:`HealthCheck` verifies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from planners.model import Action

__all__ = [
    "Executor",
    "HealthCheck",
    "HealthReading",
    "Operation",
    "Outcome",
    "Preview",
    "TargetState",
]


@dataclass(frozen=True, kw_only=True)
class Operation:
    """What one plan step asks an executor to do.

    Attributes:
        step_id: the plan step (for logs and idempotency keys).
        action: the step's action.
        service: the service acted on.
        params: the service's ``rollback`` settings from the catalog (namespace, deployment,
            application, release, flag service…), minus ``executor``.
        target_version: the version to return to, when known.
        bad_version: the version the change introduced, when known.
        flag: the flag to turn off, for ``disable_flag``.
        key: an idempotency key, stable across retries and restarts.
    """

    step_id: str
    action: Action
    service: str
    params: Mapping[str, Any] = field(default_factory=dict)
    target_version: str | None = None
    bad_version: str | None = None
    flag: str | None = None
    key: str = ""


@dataclass(frozen=True, kw_only=True)
class Preview:
    """A dry run: what ``execute`` would change, touching nothing."""

    summary: str
    changes: tuple[str, ...] = ()
    already_done: bool = False


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What ``execute`` did. ``notes`` are for the humans (e.g. "auto-sync is now off")."""

    summary: str
    notes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TargetState:
    """Where the target is now: at the wanted state, still moving there, or elsewhere."""

    at_target: bool
    in_progress: bool = False
    current: str | None = None
    detail: str = ""


class Executor(Protocol):
    """Changes one kind of target. Raises ``integrations.errors`` types, nothing else.

    ``current_state`` must say ``at_target`` only once the change has fully taken effect;
    ``in_progress`` means it is on its way there (a rollout still going). The engine's crash
    recovery relies on both. Executors holding connections may also offer ``close()``.
    """

    kind: ClassVar[str]

    def current_state(self, operation: Operation) -> TargetState:
        """Read the target: is it already where the operation would put it?"""
        ...

    def preview(self, operation: Operation) -> Preview:
        """Dry run: describe what ``execute`` would change, without changing anything."""
        ...

    def execute(self, operation: Operation) -> Outcome:
        """Do it, and wait until it has taken effect (or raise)."""
        ...


@dataclass(frozen=True, kw_only=True)
class HealthReading:
    """One reading of a health check."""

    healthy: bool
    detail: str
    value: float | None = None


class HealthCheck(Protocol):
    """Reads one service's health once. Raises ``integrations.errors`` types, nothing else."""

    kind: ClassVar[str]

    def read(self) -> HealthReading:
        """Take one reading."""
        ...
