"""The Argo CD executor's tests share these: the fake's token and history, an executor that talks
to the fake without waiting, and a rollback operation on the ``cart`` application."""

from __future__ import annotations

from fakes.argocd import FakeArgoCD
from integrations.base import Operation
from integrations.executors.argocd import ArgoCDExecutor
from integrations.http import make_client
from planners.model import Action

__all__ = ["CREDENTIAL", "REVISIONS", "executor_for", "rollback"]

CREDENTIAL = "argo-t0ken"
REVISIONS = ["a" * 40, "b" * 40, "c" * 40]


def executor_for(fake: FakeArgoCD, **options: object) -> ArgoCDExecutor:
    """An executor on ``fake`` with the right token; it never sleeps."""
    client = make_client(fake.base_url, headers={"Authorization": f"Bearer {CREDENTIAL}"})
    return ArgoCDExecutor(client=client, sleep=lambda _: None, **options)  # type: ignore[arg-type]


def rollback(**fields: object) -> Operation:
    """Step ``s1`` of ``plan-1``: roll ``cart`` back (``fields`` add a target and more)."""
    return Operation(
        step_id="s1",
        action=Action.ROLLBACK_DEPLOY,
        service="cart",
        key="plan-1:s1",
        **fields,  # type: ignore[arg-type]
    )
