"""The inputs of a stored plan, read back from the store (:func:`inputs_for`): the planner drafts
the same plan from them, whether it was drafted for a stored incident's alerts or on request
(``/rollback plan <service>``), with the changes no longer live, the incident's name and a
target version a responder chose, and as it was even after its alerts resolved or its suspect
was rolled back."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.core.usecases.inputs import drafting, inputs_for, pinned, renamed
from bot.store import Store
from planners.model import Alert, AlertStatus, Change, ChangeKind
from planners.planner import PlanningOptions
from planners.refine import PlanningInputs
from tests.bot.core.on_the_clock import topology

NOW = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)
STARTED = NOW - timedelta(minutes=5)
OPTIONS = PlanningOptions()
CART = Change(id="chg-cart", service="cartservice", at=NOW - timedelta(minutes=20), to_version="v2")
REDIS = Change(id="chg-redis", service="redis-cart", at=NOW - timedelta(minutes=40))
FLAG = Change(
    id="chg-flag",
    service="frontend",
    kind=ChangeKind.FEATURE_FLAG,
    flag="new-cart",
    at=NOW - timedelta(minutes=30),
)


def alert(fingerprint: str, service: str, *, at: datetime = STARTED) -> Alert:
    return Alert(
        fingerprint=fingerprint,
        service=service,
        name="HighErrorRate",
        started_at=at,
        source="alertmanager",
    )


def record(store: Store, *changes: Change) -> None:
    for change in changes:
        assert store.incidents.record_change(change)


def drafted(store: Store, alerts: list[Alert]) -> str:
    """A plan drafted for ``alerts`` as the bot drafts one, stored for a stored incident."""
    plan = drafting(store, topology=topology(), options=OPTIONS, alerts=alerts, now=NOW).draft()
    plan = renamed(plan, "inc-stored")
    store.incidents.open_incident(
        "inc-stored",
        services=sorted({a.service for a in alerts if a.service}),
        started_at=STARTED,
        channel="C0INCIDENT",
        thread_ts=None,
        alerts=alerts,
    )
    return store.plans.save(plan)


def again(store: Store, plan_id: str, options: PlanningOptions = OPTIONS) -> PlanningInputs:
    stored = store.plans.get(plan_id)
    return inputs_for(stored, store=store, topology=topology(), options=options)


def test_a_stored_incidents_plan_is_drafted_again_the_same(store):
    """The incident's alerts, the window's changes and the culprit history give back the very
    plan, under the incident's stored name, with a retired change still excluded as no longer
    live (and not among the inputs' changes)."""
    record(store, CART, REDIS, FLAG)
    store.incidents.retire_change(FLAG.id, why="rolled back by pl-earlier")
    plan_id = drafted(store, [alert("a1", "cartservice"), alert("a2", "frontend")])
    stored = store.plans.get(plan_id).plan
    assert any(e.why == "no longer live: rolled back by pl-earlier" for e in stored.excluded)

    inputs = again(store, plan_id)
    assert inputs.now == NOW
    assert sorted(c.id for c in inputs.changes) == [CART.id, REDIS.id]
    assert inputs.draft() == stored


def test_a_plan_drafted_on_request_is_drafted_again_from_the_commands_alert(store):
    """No stored incident (``/rollback plan cartservice``): the command's alert is made again
    from the plan's incident, and the plan comes out the same, its pinned version included."""
    record(store, CART, REDIS)
    command = Alert(
        fingerprint=f"slash:cartservice:{STARTED.timestamp():.0f}",
        service="cartservice",
        name="/rollback plan cartservice",
        started_at=STARTED,
        source="slack:command",
    )
    plan = drafting(store, topology=topology(), options=OPTIONS, alerts=[command], now=NOW).draft()
    plan = pinned(plan, service="cartservice", version="v0.9", requester="U0ONCALL1")
    plan_id = store.plans.save(plan)

    inputs = again(store, plan_id)
    assert [a.fingerprint for a in inputs.alerts] == [command.fingerprint]
    assert inputs.draft() == plan
    step = next(s for s in inputs.draft().steps if s.service == "cartservice")
    assert step.target_version == "v0.9"
    assert step.why.endswith("; target version v0.9 set by U0ONCALL1")


def test_the_inputs_are_as_they_were_after_the_suspect_was_rolled_back_and_alerts_resolved(
    store,
):
    """Later events do not change what the plan was drafted from: the suspect rolled back since
    is still live in the inputs, resolved alerts count as firing, and an alert that started
    after the plan was drafted is left out."""
    record(store, CART, REDIS)
    plan_id = drafted(store, [alert("a1", "cartservice")])
    store.incidents.retire_change(CART.id, why=f"rolled back by {plan_id}")
    store.incidents.open_incident(
        "inc-stored",
        services=["cartservice"],
        started_at=STARTED,
        channel="C0INCIDENT",
        thread_ts=None,
        alerts=[alert("late", "frontend", at=NOW + timedelta(minutes=1))],
    )
    store.incidents.resolve_alerts(
        channel="C0INCIDENT",
        alerts=[
            alert("a1", "cartservice").model_copy(update={"status": AlertStatus.RESOLVED}),
        ],
        by_name=False,
    )

    inputs = again(store, plan_id)
    assert CART.id in {c.id for c in inputs.changes}
    assert [(a.fingerprint, a.status) for a in inputs.alerts] == [("a1", AlertStatus.FIRING)]
    assert inputs.draft() == store.plans.get(plan_id).plan


def test_a_considered_change_is_re_planned_under_the_same_incident(store):
    """Re-planned with a change to consider (a refinement the guard accepted), the plan keeps
    its incident and its exclusions and rolls the considered change back too."""
    record(store, CART, REDIS, FLAG)
    store.incidents.retire_change(REDIS.id, why="replaced by a later deploy")
    plan_id = drafted(store, [alert("a1", "cartservice")])
    original = store.plans.get(plan_id).plan
    assert FLAG.id not in {s.change_id for s in original.steps}

    inputs = again(store, plan_id)
    considered = inputs.draft(replace(OPTIONS, consider=frozenset({FLAG.id})))
    assert considered.incident == original.incident
    assert FLAG.id in {s.change_id for s in considered.steps}
    assert "no longer live: replaced by a later deploy" in {e.why for e in considered.excluded}
