"""Plans in the store: saved and read back exactly, listed newest first, their status audited."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from bot.lifecycle import TRANSITIONS, PlanKind, PlanStatus, StepStatus
from bot.store import PlanNotFoundError, Store
from tests.support.store import make_plan, path_to


class Ticking:
    """A clock that starts at ``start`` and moves one second on at every reading."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def test_a_saved_plan_reads_back_exactly(store):
    """The plan's ``backout.plan/v1`` JSON comes back unchanged, as a plan and as JSON."""
    plan = make_plan(3)
    plan_id = store.plans.save(plan, mode="autopilot", actor="U123")
    stored = store.plans.get(plan_id)
    assert re.fullmatch(r"pl-[0-9a-f]{8}", plan_id)
    assert stored.plan == plan
    assert json.dumps(stored.plan.to_json_dict(), sort_keys=True) == json.dumps(
        plan.to_json_dict(), sort_keys=True
    )
    assert (stored.id, stored.mode, stored.status, stored.version) == (
        plan_id,
        "autopilot",
        "proposed",
        1,
    )


def test_saving_creates_one_pending_step_per_plan_step_in_plan_order(store):
    """Twelve steps come back s1 … s12 (s10 after s9), all pending, none claimed."""
    plan_id = store.plans.save(make_plan(12))
    rows = store.steps.of(plan_id)
    assert [row.step_id for row in rows] == [f"s{n}" for n in range(1, 13)]
    assert {row.status for row in rows} == {StepStatus.PENDING}
    assert all(row.attempts == 0 and row.claimed_by is None for row in rows)
    assert [(row.stage, row.action, row.service) for row in rows[:2]] == [
        ("partial", "rollback_deploy", "service-1"),
        ("full", "rollback_deploy", "service-2"),
    ]
    assert store.plans.get(plan_id).steps == tuple(rows)


def test_saving_is_audited_as_plan_created(store):
    """Saving appends one ``plan.created`` entry naming the incident and the steps."""
    plan_id = store.plans.save(make_plan(2), actor="U1")
    [entry] = store.audit.entries(subject_prefix=plan_id)
    assert (entry.actor, entry.action, entry.subject) == ("U1", "plan.created", plan_id)
    assert entry.details["incident"] == "inc-1"
    assert entry.details["steps"] == ["s1", "s2"]


def test_timestamps_come_back_timezone_aware_in_utc(store):
    """Times written from a clock in UTC+2 read back as the same instants, in UTC."""
    start = datetime(2026, 11, 27, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    clocked = Store(store.engine, clock=Ticking(start))
    plan_id = clocked.plans.save(make_plan(1))
    clocked.steps.transition(
        plan_id,
        "s1",
        from_statuses={"pending"},
        to="running",
        actor="e",
        worker="w",
        lease_seconds=30,
    )
    stored = clocked.plans.get(plan_id)
    [step] = stored.steps
    [entry, _] = clocked.audit.entries(subject_prefix=plan_id)
    times = [stored.created_at, stored.updated_at, step.started_at, step.lease_until, entry.at]
    assert all(t is not None and t.tzinfo is UTC for t in times)
    assert stored.created_at == datetime(2026, 11, 27, 10, 0, 1, tzinfo=UTC)
    assert step.started_at == datetime(2026, 11, 27, 10, 0, 2, tzinfo=UTC)
    assert step.lease_until == step.started_at + timedelta(seconds=30)


def test_a_naive_datetime_is_refused(store):
    """Recording a naive time raises instead of guessing its zone; nothing is stored."""
    plan_id = store.plans.save(make_plan(1))
    naive = datetime(2026, 11, 27, 10, 0)  # noqa: DTZ001 (the point of the test)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        store.steps.record_executions(
            plan_id,
            "s1",
            [
                {
                    "attempt": 1,
                    "phase": "execute",
                    "outcome": "ok",
                    "detail": "",
                    "started_at": naive,
                    "finished_at": naive,
                }
            ],
        )
    assert store.steps.executions(plan_id) == []


def test_recent_plans_are_newest_first_with_steps(store):
    """``plans.recent`` returns the newest plans first, up to ``limit``, each with its steps."""
    clocked = Store(store.engine, clock=Ticking(datetime(2026, 11, 27, tzinfo=UTC)))
    ids = [clocked.plans.save(make_plan(n, incident=f"inc-{n}")) for n in (1, 2, 3)]
    listed = clocked.plans.recent(limit=2)
    assert [plan.id for plan in listed] == [ids[2], ids[1]]
    assert [len(plan.steps) for plan in listed] == [3, 2]
    assert [plan.plan.incident.id for plan in listed] == ["inc-3", "inc-2"]


def test_a_plan_move_bumps_the_version_and_is_audited(store):
    """A status change is stored with a new version and audited as ``plan.<status>``."""
    plan_id = store.plans.save(make_plan(1))
    assert store.plans.move(plan_id, PlanStatus.ABORTED, actor="U9", reason="wrong suspect")
    stored = store.plans.get(plan_id)
    assert (stored.status, stored.version) == (PlanStatus.ABORTED, 2)
    last = store.audit.entries(subject_prefix=plan_id)[-1]
    assert (last.actor, last.action) == ("U9", "plan.aborted")
    assert last.details == {"status": "aborted", "reason": "wrong suspect"}


def test_a_move_the_table_refuses_changes_nothing(store):
    """A finished plan cannot move: the store refuses, keeps the version and audits nothing."""
    plan_id = store.plans.save(make_plan(1))
    assert store.plans.move(plan_id, PlanStatus.REJECTED, actor="U1")
    assert not store.plans.move(plan_id, PlanStatus.RUNNING, actor="U2")
    stored = store.plans.get(plan_id)
    assert (stored.status, stored.version) == (PlanStatus.REJECTED, 2)
    actions = [entry.action for entry in store.audit.entries(subject_prefix=plan_id)]
    assert actions == ["plan.created", "plan.rejected"]


@pytest.mark.parametrize(
    ("start", "to"),
    [(start, to) for start in PlanStatus for to in PlanStatus],
    ids=lambda status: str(status),
)
def test_every_move_is_allowed_exactly_when_the_table_has_it(store, start, to):
    """For every pair of statuses, the store moves a plan if and only if TRANSITIONS allows it."""
    plan_id = store.plans.save(make_plan(1))
    path = path_to(start)
    for step in path:
        assert store.plans.move(plan_id, step, actor="U1")
    assert store.plans.get(plan_id).status == start
    assert store.plans.move(plan_id, to, actor="U1") == (to in TRANSITIONS[start])
    assert store.plans.get(plan_id).status == (to if to in TRANSITIONS[start] else start)


def test_queries_find_the_latest_live_plan_and_an_incidents_plan(store):
    """Standby plans are skipped; an incident's newest live plan is found however old it is."""
    clocked = Store(store.engine, clock=Ticking(datetime(2026, 11, 27, tzinfo=UTC)))
    first = clocked.plans.save(make_plan(1, incident="inc-old"))
    for n in range(60):
        clocked.plans.save(make_plan(1, incident=f"inc-{n}"))
    live = clocked.plans.save(make_plan(2, incident="inc-new"))
    clocked.plans.save(make_plan(1, incident="inc-standby"), kind=PlanKind.STANDBY)
    assert (latest := clocked.plans.latest_live()) is not None and latest.id == live
    assert (old := clocked.plans.for_incident("inc-old")) is not None and old.id == first
    assert clocked.plans.for_incident("inc-standby") is None
    assert clocked.plans.for_incident("inc-unknown") is None


def test_an_unknown_plan_id_raises_plan_not_found(store):
    """Every read or write of a missing plan raises ``PlanNotFoundError`` naming the id."""
    calls: list[Callable[[], object]] = [
        lambda: store.plans.get("pl-00000000"),
        lambda: store.steps.of("pl-00000000"),
        lambda: store.plans.move("pl-00000000", "aborted", actor="U1"),
        lambda: store.approvals.add("pl-00000000", user="U1", step_ids=["s1"]),
    ]
    for call in calls:
        with pytest.raises(PlanNotFoundError, match="pl-00000000") as caught:
            call()
        assert isinstance(caught.value, LookupError)
    assert store.audit.entries() == []


def test_a_plan_without_steps_is_stored(store):
    """An abstaining plan has no steps; it is stored and read back with none."""
    plan = make_plan(0).model_copy(update={"abstained": True, "abstain_reasons": ("no suspect",)})
    plan_id = store.plans.save(plan)
    assert store.steps.of(plan_id) == []
    assert store.plans.get(plan_id).plan.abstained


def test_an_untouched_plan_is_retired_once_for_its_refinement(store):
    """A proposed live plan with no stored incident (drafted on request), nobody's approval
    and no step moved is retired for the plan that replaces it: expired, audited with the
    reason, once."""
    plan_id = store.plans.save(make_plan(2, incident="inc-on-request"))
    assert store.plans.retire(plan_id, reason="refined at the proposal of m1", actor="backout")
    assert not store.plans.retire(plan_id, reason="twice", actor="backout")
    assert store.plans.get(plan_id).status == PlanStatus.EXPIRED
    (entry,) = [e for e in store.audit.entries() if e.action == "plan.expired"]
    assert (entry.subject, entry.details["reason"]) == (plan_id, "refined at the proposal of m1")


def test_a_touched_plan_or_one_of_a_resolved_incident_is_not_retired(store):
    """An approval, a step that moved, a resolved incident or a standby plan: not retired."""
    approved = store.plans.save(make_plan(2))
    store.approvals.add(approved, user="U1", step_ids=["s1"])
    moved = store.plans.save(make_plan(2))
    assert store.steps.transition(moved, "s1", from_statuses=["pending"], to="queued", actor="U1")
    store.incidents.open_incident(
        "inc-over", services=["frontend"], started_at=None, channel=None, thread_ts=None, alerts=[]
    )
    assert store.incidents.resolve_incident("inc-over")
    resolved = store.plans.save(make_plan(2, incident="inc-over"))
    standby = store.plans.save(make_plan(2), kind=PlanKind.STANDBY)
    for plan_id in (approved, moved, resolved, standby):
        assert not store.plans.retire(plan_id, reason="refined", actor="backout")
        assert store.plans.get(plan_id).status == PlanStatus.PROPOSED


def test_an_explanation_stored_as_rejected_reads_as_the_guards_refusal(store):
    """Explanations stored before the guard's outcome was named ``guard_rejected`` said
    ``rejected`` (also an endpoint's HTTP 4xx): they read back as the guard's refusal."""
    plan_id = store.plans.save(make_plan(1))
    old = {"model": "m1", "source": "graph", "outcome": "rejected", "text": "graph's own"}
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE plans SET explanation = :e"), {"e": json.dumps(old)})
    explanation = store.plans.get(plan_id).explanation
    assert explanation is not None
    assert (explanation.source, explanation.outcome) == ("graph", "guard_rejected")
