"""Expiring a plan nobody acted on: one compare-and-set on both databases that refuses a plan
anyone approved, one with a step queued or running, a standby plan and a finished one."""

from __future__ import annotations

import pytest

from bot.lifecycle import PlanKind, PlanStatus, StepStatus
from bot.store import PlanNotFoundError, Store
from bot.store.expiries import Expiries
from tests.support.store import make_plan, path_to


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
