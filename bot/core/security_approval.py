"""Who counts as a security approver (``policy.security_approvers``), for :mod:`bot.core.policy`.

A step that undoes a security fix (``Step.security`` names what re-opens; see
``planners.security``) needs one approver from these users or groups when the policy names any,
on top of its usual count. Kept apart so the policy module stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from planners.model import Step

__all__ = ["autopilot_refusal", "missing", "reason"]


def missing(
    step: Step,
    counted: Collection[str],
    security_approvers: Sequence[str],
    members: Callable[[str], frozenset[str]],
) -> bool:
    """Whether ``step`` re-opens a security fix and none of ``counted`` is a security approver.

    Args:
        step: the step.
        counted: the approvals that count.
        security_approvers: the configured user (``U…``/``W…``) and group (``S…``) ids; empty:
            no requirement.
        members: resolves a group's members (an unknown group resolves to nobody).
    """
    if not step.security or not security_approvers:
        return False
    for grant in security_approvers:
        if grant in counted or (grant.startswith("S") and members(grant) & set(counted)):
            return False
    return True


def reason(step: Step, either: str) -> str:
    """What the step still needs, in words; ``either`` lists the security approvers."""
    return (
        f"the step re-opens {', '.join(step.security)}: one approver must be from {either} "
        "(policy.security_approvers)"
    )


def autopilot_refusal(step: Step) -> str:
    """Why autopilot never runs a step that re-opens a security fix."""
    return f"step {step.id} re-opens {', '.join(step.security)}: never automatic"
