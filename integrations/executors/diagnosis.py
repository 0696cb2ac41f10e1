"""Read-only checks an executor can run on one of its targets, for ``backout doctor``.

Part of ``integrations/executors/``. An executor may offer ``diagnose(operation) -> list[Check]``
(:class:`Diagnosable`): reachability, credentials and permissions for the target the operation
names, changing nothing (a Kubernetes ``SelfSubjectAccessReview``, Argo CD's ``account/can-i``,
``helm status``). :func:`check_call` turns one read into a :class:`Check`, with the way to fix a
failure chosen by the error's type. The doctor in ``bot/runtime/doctor.py`` runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from integrations.base import Operation
from integrations.errors import (
    ConfigError,
    ForbiddenError,
    IntegrationError,
    NotFoundError,
    TemporaryIntegrationError,
    UnauthorizedError,
)

__all__ = ["Check", "Diagnosable", "check_call", "fix_for"]


@dataclass(frozen=True, kw_only=True)
class Check:
    """One check's result: what was checked, whether it passed, and how to fix it if not."""

    check: str
    ok: bool
    detail: str = ""
    fix: str = ""


@runtime_checkable
class Diagnosable(Protocol):
    """An executor that can check a target without changing it."""

    def diagnose(self, operation: Operation) -> list[Check]:
        """Read-only checks of the target ``operation`` names."""
        ...


def fix_for(error: IntegrationError) -> str:
    """How to fix what ``error`` says, by its type."""
    if isinstance(error, ForbiddenError):
        return "grant the permission named (README: Executors, permissions)"
    if isinstance(error, UnauthorizedError):
        return "check the executor's credentials (token, kubeconfig user) in backout.yaml"
    if isinstance(error, NotFoundError):
        return "check the service's catalog rollback entry (names, namespace, project)"
    if isinstance(error, ConfigError):
        return "fix the executor's or the service's configuration as the message says"
    if isinstance(error, TemporaryIntegrationError):
        return "check the URL, the network path and that the service is up"
    return "see the message"


def check_call(name: str, read: Callable[[], str]) -> Check:
    """Run ``read`` (returning a detail); an ``IntegrationError`` becomes a failed check."""
    try:
        return Check(check=name, ok=True, detail=read())
    except IntegrationError as exc:
        return Check(check=name, ok=False, detail=str(exc), fix=fix_for(exc))
