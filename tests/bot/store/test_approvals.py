"""Approvals: a user approves a step once, however often and from however many replicas; a
finished plan takes no decision, and a plan nobody approved takes no approval once its window
has closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.lifecycle import FINISHED, PlanStatus
from bot.store import StepNotFoundError
from bot.store.approvals import ApprovalClosedError
from tests.support.store import make_plan, path_to, race


def test_approvals_are_recorded_per_step_and_user(store):
    """Each new approval is returned, listed per step, and audited with the user as actor."""
    plan_id = store.plans.save(make_plan(3))
    assert store.approvals.add(plan_id, user="U1", step_ids=["s1", "s2"]) == ["s1", "s2"]
    assert store.approvals.add(plan_id, user="U2", step_ids=["s2"]) == ["s2"]
    assert store.approvals.of(plan_id) == {"s1": {"U1"}, "s2": {"U1", "U2"}}
    entries = [e for e in store.audit.entries(subject_prefix=plan_id) if e.actor != "backout"]
    assert [(e.actor, e.action, e.subject) for e in entries] == [
        ("U1", "approval.approve", f"{plan_id}/s1"),
        ("U1", "approval.approve", f"{plan_id}/s2"),
        ("U2", "approval.approve", f"{plan_id}/s2"),
    ]


def test_a_double_click_counts_once(store):
    """Approving the same steps again adds nothing and audits nothing."""
    plan_id = store.plans.save(make_plan(2))
    assert store.approvals.add(plan_id, user="U1", step_ids=["s1", "s2"]) == ["s1", "s2"]
    before = len(store.audit.entries())
    assert store.approvals.add(plan_id, user="U1", step_ids=["s2", "s1", "s1"]) == []
    assert store.approvals.of(plan_id) == {"s1": {"U1"}, "s2": {"U1"}}
    assert len(store.audit.entries()) == before


def test_racing_double_clicks_count_once(store):
    """Eight simultaneous approvals of one stage by one user record each step exactly once."""
    plan_id = store.plans.save(make_plan(4))
    steps = ["s1", "s2", "s3", "s4"]
    results = race(8, lambda _: store.approvals.add(plan_id, user="U1", step_ids=steps))
    newly = sorted(step for added in results for step in added)
    assert newly == steps
    assert store.approvals.of(plan_id) == {step: {"U1"} for step in steps}
    approvals = [e for e in store.audit.entries() if e.action == "approval.approve"]
    assert sorted(e.subject for e in approvals) == sorted(f"{plan_id}/{s}" for s in steps)
    assert store.audit.verify().ok


def test_a_rejection_is_a_decision_of_its_own(store):
    """A user's rejection is kept apart from approvals and still counts as their one decision."""
    plan_id = store.plans.save(make_plan(1))
    assert store.approvals.add(plan_id, user="U1", step_ids=["s1"], decision="reject") == ["s1"]
    assert store.approvals.add(plan_id, user="U1", step_ids=["s1"]) == []
    assert store.approvals.of(plan_id) == {}
    assert store.approvals.of(plan_id, decision="reject") == {"s1": {"U1"}}


def test_approving_an_unknown_step_records_nothing(store):
    """A step id the plan lacks raises ``StepNotFoundError`` before anything is recorded."""
    plan_id = store.plans.save(make_plan(2))
    with pytest.raises(StepNotFoundError, match="'s3'"):
        store.approvals.add(plan_id, user="U1", step_ids=["s1", "s3"])
    assert store.approvals.of(plan_id) == {}


@pytest.mark.parametrize("status", sorted(FINISHED))
def test_a_finished_plan_takes_no_decision(store, status):
    """Approving a step of a plan that is done, aborted, rejected or expired records nothing."""
    plan_id = store.plans.save(make_plan(2))
    for moved in path_to(status):
        assert store.plans.move(plan_id, moved, actor="test")
    before = len(store.audit.entries())
    with pytest.raises(ApprovalClosedError) as refused:
        store.approvals.add(plan_id, user="U1", step_ids=["s1"])
    assert (refused.value.status, refused.value.closed_at) == (status, None)
    assert store.approvals.of(plan_id) == {}
    assert len(store.audit.entries()) == before


def test_no_approval_once_the_window_closed_on_a_plan_nobody_approved(store):
    """The window closed a second ago (by the store's clock): nothing is recorded, whether or
    not the plan was expired yet; a window still open takes the approval."""
    plan_id = store.plans.save(make_plan(2))
    closed = store.clock() - timedelta(seconds=1)
    with pytest.raises(ApprovalClosedError) as refused:
        store.approvals.add(plan_id, user="U1", step_ids=["s1", "s2"], closes_at=closed)
    assert (refused.value.status, refused.value.closed_at) == (PlanStatus.PROPOSED, closed)
    assert store.approvals.of(plan_id) == {}

    open_until = store.clock() + timedelta(hours=1)
    assert store.approvals.add(plan_id, user="U1", step_ids=["s1"], closes_at=open_until) == ["s1"]


def test_a_plan_approved_in_time_takes_later_approvals(store):
    """Somebody approved before the window closed: the plan was taken up, and a second
    approver's approval after the deadline counts."""
    plan_id = store.plans.save(make_plan(2))
    assert store.approvals.add(plan_id, user="U1", step_ids=["s1"]) == ["s1"]
    closed = store.clock() - timedelta(minutes=5)
    assert store.approvals.add(plan_id, user="U2", step_ids=["s1"], closes_at=closed) == ["s1"]
    assert store.approvals.of(plan_id) == {"s1": {"U1", "U2"}}


def test_a_naive_window_end_is_refused(store):
    plan_id = store.plans.save(make_plan(1))
    naive = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    with pytest.raises(ValueError, match="naive"):
        store.approvals.add(plan_id, user="U1", step_ids=["s1"], closes_at=naive)
    assert store.approvals.of(plan_id) == {}
