"""The Kubernetes executor's tests share this: a rollback operation on ``cartservice`` in the
``shop`` namespace, the way the engine hands it over."""

from __future__ import annotations

from typing import Any

from integrations.base import Operation
from planners.model import Action

__all__ = ["rollback"]


def rollback(target_version: str | None = None, **params: Any) -> Operation:
    """Step ``s1`` of ``plan-7``: roll ``cartservice`` back (to ``target_version`` if given)."""
    return Operation(
        step_id="s1",
        action=Action.ROLLBACK_DEPLOY,
        service="cartservice",
        params={"namespace": "shop", **params},
        target_version=target_version,
        key="plan-7:s1",
    )
