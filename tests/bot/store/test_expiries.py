"""Expiring a plan nobody acted on: one compare-and-set on both databases that refuses a plan
anyone approved, one with a step queued or running, a standby plan and a finished one; and of
an approval and the expiry racing, exactly one wins."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest

from bot.lifecycle import PlanKind, PlanStatus, StepStatus
from bot.store import PlanNotFoundError, Store
from bot.store.approvals import ApprovalClosedError
from bot.store.expiries import Expiries
from tests.support.store import make_plan, path_to, race


def expiries(store: Store) -> Expiries:
    return Expiries(store.engine, clock=store.clock)


@pytest.mark.parametrize("status", [PlanStatus.PROPOSED, PlanStatus.WAITING, PlanStatus.HALTED])
def test_a_plan_nobody_approved_expires_once_and_is_audited(store, status):
    plan_id = store.plans.save(make_plan(2))
    for moved in path_to(status):
        assert store.plans.move(plan_id, moved, actor="test")
    assert expiries(store).expire_unattended(plan_id, reason="not approved within 2 h")
    assert not expiries(store).expire_unattended(plan_id, reason="again")
    assert store.plans.get(plan_id).status == PlanStatus.EXPIRED
    (entry,) = [
        e for e in store.audit.entries(subject_prefix=plan_id) if e.action == "plan.expired"
    ]
    assert (entry.actor, entry.details["reason"]) == ("backout", "not approved within 2 h")


def test_an_approved_plan_does_not_expire(store):
    plan_id = store.plans.save(make_plan(2))
    store.approvals.add(plan_id, user="U0ONCALL1", step_ids=["s2"])
    assert not expiries(store).expire_unattended(plan_id, reason="late")
    assert store.plans.get(plan_id).status == PlanStatus.PROPOSED


@pytest.mark.parametrize("step_status", [StepStatus.QUEUED, StepStatus.RUNNING])
def test_a_plan_with_a_step_under_way_does_not_expire(store, step_status):
    plan_id = store.plans.save(make_plan(2))
    assert store.steps.transition(
        plan_id, "s1", from_statuses=[StepStatus.PENDING], to=StepStatus.QUEUED, actor="autopilot"
    )
    if step_status == StepStatus.RUNNING:
        assert store.steps.transition(
            plan_id,
            "s1",
            from_statuses=[StepStatus.QUEUED],
            to=StepStatus.RUNNING,
            actor="w1",
            worker="w1",
        )
    assert not expiries(store).expire_unattended(plan_id, reason="late")
    assert store.plans.get(plan_id).status == PlanStatus.PROPOSED


def test_standby_finished_and_unknown_plans(store):
    standby = store.plans.save(make_plan(1), kind=PlanKind.STANDBY)
    done = store.plans.save(make_plan(1))
    for moved in path_to(PlanStatus.DONE):
        assert store.plans.move(done, moved, actor="test")
    assert not expiries(store).expire_unattended(standby, reason="late")
    assert not expiries(store).expire_unattended(done, reason="late")
    with pytest.raises(PlanNotFoundError):
        expiries(store).expire_unattended("pl-00000000", reason="late")


def test_an_approval_and_the_expiry_racing_end_with_exactly_one_outcome(store):
    """An approval (its window open by its own clock) and the expiry (a replica whose job came
    due) released together, on many plans: each plan is either approved and not expired, or
    expired with the approval refused and nothing recorded; never both, never neither."""
    plans = [store.plans.save(make_plan(1)) for _ in range(12)]
    open_until = store.clock() + timedelta(hours=1)

    def approve(plan_id: str) -> str:
        try:
            store.approvals.add(plan_id, user="U1", step_ids=["s1"], closes_at=open_until)
        except ApprovalClosedError:
            return "refused"
        return "approved"

    def expire(plan_id: str) -> str:
        return "expired" if expiries(store).expire_unattended(plan_id, reason="late") else "kept"

    def approve_or_expire(plan_id: str, racer: int) -> str:
        return approve(plan_id) if racer == 0 else expire(plan_id)

    for plan_id in plans:
        outcome = set(race(2, partial(approve_or_expire, plan_id)))
        assert outcome in ({"approved", "kept"}, {"refused", "expired"}), outcome
        expired = store.plans.get(plan_id).status == PlanStatus.EXPIRED
        assert expired is ("expired" in outcome)
        assert (store.approvals.of(plan_id) == {}) is expired
    assert store.audit.verify().ok
