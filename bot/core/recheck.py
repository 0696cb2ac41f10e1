"""Whether a step's approvals suffice, in one place: asked when a responder approves (to queue
the steps that now have enough) and again when the engine claims a queued step, so someone
removed from the on-call group (or the policy) since approving no longer counts; a step whose
approvals no longer suffice goes back to waiting instead of running. Steps that autopilot queued
carry no approvals and are not re-checked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.policy import Policy
from bot.store import Store
from planners.model import Step

__all__ = ["ApprovalRecheck"]


@dataclass(frozen=True, kw_only=True)
class ApprovalRecheck:
    """The approvals check of the decisions and of the engine (``Engine(recheck=…)``).

    Args:
        store: the steps' approvals and the plan's requester.
        policy: who may approve now (user groups read afresh once their cache lapses or Slack
            reports a change).
    """

    store: Store
    policy: Policy

    def requester(self, plan_id: str) -> str | None:
        """Who asked for the plan (``/rollback plan``), if anyone."""
        message = self.store.conversations.plan_message(plan_id)
        return message.requester if message else None

    def lacking(self, plan_id: str, steps: Sequence[Step]) -> dict[str, str]:
        """Step id → what it still needs, for each of ``steps`` whose approvals do not suffice."""
        approvals = self.store.approvals.of(plan_id)
        requester = self.requester(plan_id)
        lacking = {}
        for step in steps:
            who = approvals.get(step.id, frozenset())
            if not self.policy.approved(step, who, requester=requester):
                lacking[step.id] = self.policy.missing(step, who, requester=requester)
        return lacking

    def __call__(self, plan_id: str, step: Step) -> str | None:
        """None when the queued ``step`` may still run; else why its approvals no longer hold."""
        if not self.store.approvals.of(plan_id).get(step.id):
            return None  # queued by autopilot: nobody approved, nothing to re-check
        missing = self.lacking(plan_id, [step]).get(step.id)
        return None if missing is None else f"approvals no longer hold: {missing}"
