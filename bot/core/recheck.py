"""Approvals are checked again when a step is claimed, not only when they are given: someone
removed from the on-call group (or the policy) since approving no longer counts, and a step whose
approvals no longer suffice goes back to waiting for approval instead of running. Steps that
autopilot queued carry no approvals and are not re-checked."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.policy import Policy
from bot.store import Store
from planners.model import Step

__all__ = ["ApprovalRecheck"]


@dataclass(frozen=True, kw_only=True)
class ApprovalRecheck:
    """The engine's check before it claims a queued step (``Engine(recheck=…)``).

    Args:
        store: the step's approvals and the plan's requester.
        policy: who may approve now (user groups read afresh once their cache lapses or Slack
            reports a change).
    """

    store: Store
    policy: Policy

    def __call__(self, plan_id: str, step: Step) -> str | None:
        """None when ``step`` may still run; else why its approvals no longer hold."""
        approvers = self.store.approvals.of(plan_id).get(step.id, frozenset())
        if not approvers:
            return None  # queued by autopilot: nobody approved, nothing to re-check
        message = self.store.conversations.plan_message(plan_id)
        requester = message.requester if message else None
        if self.policy.approved(step, approvers, requester=requester):
            return None
        missing = self.policy.missing(step, approvers, requester=requester)
        return f"approvals no longer hold: {missing}"
