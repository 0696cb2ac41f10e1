"""Deploy watches (issue 12, item 2) on an injected clock moved by hand, with a scripted health
reader: the job runner is ticked every 30 s of the test's time, as the scheduler would.

A period that passes healthy ends quietly; a breach opens the incident with the breach as its
evidence and posts one plan, once, however often the watch ticks afterwards; in autopilot the
contain stage is queued at once; an unreadable reading is no breach; a deploy that is not a
production deploy of a watched service is not watched; a superseded deploy's watch ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.core.usecases.watches import WATCH, WATCH_SOURCE
from bot.lifecycle import Mode, PlanKind, StepStatus
from bot.store import JobStatus
from fakes.slack import FakeSlack
from integrations.health.once import SnapshotState
from planners.model import Action, Change, ChangeKind, Stage
from tests.bot.core.on_the_clock import CHANNEL, OnTheClock, Readings, topology
from tests.support.store import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def make(tmp_path, migrated_sqlite_file, slack, clock):
    built: list[OnTheClock] = []

    def build(**options: object) -> OnTheClock:
        world = OnTheClock(
            workdir=tmp_path,
            migrated=migrated_sqlite_file,
            slack=slack,
            clock=clock,
            **options,  # type: ignore[arg-type]
        )
        built.append(world)
        return world

    yield build
    for world in built:
        world.close()


def every_30s(world: OnTheClock, clock: Clock, minutes: float) -> None:
    """Tick the job runner every 30 s for ``minutes``."""
    for _ in range(round(minutes * 2)):
        clock.advance(30)
        world.tick()


def live_plans(world: OnTheClock) -> list[str]:
    return [p.id for p in world.store.plans.recent() if p.kind == PlanKind.LIVE]


def watch_jobs(world: OnTheClock) -> list[JobStatus]:
    return [job.status for job in world.store.jobs.listing(limit=500) if job.kind == WATCH]


def test_a_period_that_passes_healthy_ends_quietly(make, clock):
    """60 readings over 30 minutes, then the watch ends: nothing posted, no incident, no plan;
    the end is audited and no job is left queued."""
    world = make()
    world.deploy(minutes_ago=0)
    every_30s(world, clock, 40)

    assert world.readings.read == ["cartservice"] * 60
    assert world.posts() == []
    assert live_plans(world) == []
    (ended,) = world.audit("watch.ended", "chg-1")
    assert ended.details == {
        "service": "cartservice",
        "why": "the period passed healthy",
        "readings": 60,
        "healthy": True,
    }
    assert set(watch_jobs(world)) == {JobStatus.DONE}


def test_a_breach_posts_one_plan_with_the_breach_as_its_evidence_once(make, clock):
    """Healthy for two minutes, then the error ratio breaches: at the next reading the incident
    opens on the breach alert and its plan is posted in the incident channel, naming the
    deploy; the reading is audited on the plan and said in its thread. Later ticks, and the
    breach's own job run again (a crash before it was marked done), post nothing more."""
    world = make()
    world.deploy(minutes_ago=0)
    every_30s(world, clock, 2)
    assert world.posts() == []

    world.readings.breach(0.31)
    clock.advance(30)
    world.tick()

    (posted,) = world.plan_posts()
    assert posted["channel"] == CHANNEL
    (plan_id,) = live_plans(world)
    stored = world.store.plans.get(plan_id)
    assert stored.plan.suspects[0].change_id == "chg-1"
    assert [(s.service, s.stage) for s in stored.plan.steps] == [("cartservice", Stage.PARTIAL)]
    assert {row.status for row in stored.steps} == {StepStatus.PENDING}  # approvals as usual
    incident = world.store.incidents.incident(stored.plan.incident.id)
    assert incident is not None and incident.channel == CHANNEL
    (alert,) = incident.alerts
    assert alert.name == "deploy watch: error ratio breached after chg-1"
    assert (alert.source, alert.fingerprint) == (WATCH_SOURCE, "watch:chg-1")
    (breached,) = world.audit("watch.breached", plan_id)
    assert breached.details["reading"] == "error ratio 0.31 (needs < 0.05)"
    (note,) = world.thread_replies(plan_id)
    assert "Reading: error ratio 0.31 (needs &lt; 0.05)" in note and "`chg-1`" in note

    reads = len(world.readings.read)
    every_30s(world, clock, 10)
    (job,) = [j for j in world.store.jobs.listing(limit=500) if j.key == "watch:chg-1:5"]
    world.watches.check(job.payload)  # the same reading, run again
    world.notifier.flush_outbox()

    assert len(world.plan_posts()) == 1
    assert live_plans(world) == [plan_id]
    assert len(world.readings.read) == reads + 1  # only the re-run read again
    assert JobStatus.QUEUED not in watch_jobs(world)


def test_in_autopilot_the_breach_plan_runs_its_contain_stage_at_once(make, clock):
    """A flag turned on with the deploy: the breach's plan turns it off in its contain stage,
    which autopilot queues at once (audited); the deploy's rollback still waits for approval."""
    world = make(mode=Mode.AUTOPILOT)
    flag = Change(
        id="chg-flag",
        service="cartservice",
        kind=ChangeKind.FEATURE_FLAG,
        at=clock() - timedelta(minutes=3),
        flag="new-cart-path",
        summary="turned on new-cart-path",
    )
    assert world.store.incidents.record_change(flag)
    world.deploy(minutes_ago=2)
    world.readings.breach()
    every_30s(world, clock, 1)

    (plan_id,) = live_plans(world)
    stored = world.store.plans.get(plan_id)
    steps = {s.id: s for s in stored.plan.steps}
    status = {row.step_id: row.status for row in stored.steps}
    contain = [i for i, s in steps.items() if s.stage == Stage.CONTAIN]
    assert [steps[i].action for i in contain] == [Action.DISABLE_FLAG]
    assert {status[i] for i in contain} == {StepStatus.QUEUED}
    assert {status[i] for i in steps if i not in contain} == {StepStatus.PENDING}
    assert world.runner.submitted == [plan_id]
    (queued,) = world.audit("autopilot.queued", plan_id)
    assert queued.details["steps"] == contain


def test_an_unreadable_reading_is_no_breach(make, clock):
    """Prometheus cannot be reached: no incident, and the watch goes on reading."""
    world = make(read=Readings(state=SnapshotState.UNREADABLE, detail="could not be read"))
    world.deploy(minutes_ago=0)
    every_30s(world, clock, 3)
    assert world.posts() == []
    assert live_plans(world) == []
    assert len(world.readings.read) == 6
    assert JobStatus.QUEUED in watch_jobs(world)


@pytest.mark.parametrize(
    ("what", "fields"),
    [
        ("a failed deploy", {"failed": True}),
        ("a staging deploy", {"labels": ("env:staging",)}),
        ("a config change", {"kind": ChangeKind.CONFIG}),
        ("a deploy recorded after its period", {"minutes_ago": 45}),
    ],
)
def test_what_is_not_watched(make, clock, what, fields):
    world = make()
    minutes = fields.pop("minutes_ago", 0)
    change = Change.model_validate(
        {
            "id": "chg-x",
            "service": "cartservice",
            "at": clock() - timedelta(minutes=minutes),
            **fields,
        }
    )
    assert world.schedule.start(change) is False, what
    assert watch_jobs(world) == []


def test_a_service_without_a_health_check_is_not_watched(make, clock):
    world = make(topo=topology(health={}))
    world.deploy(minutes_ago=0)
    assert watch_jobs(world) == []
    assert world.audit("watch.started") == []


def test_a_superseded_deploy_stops_being_watched(make, clock):
    """chg-2 replaces chg-1 a minute later: chg-1's watch ends at its next reading; the breach
    after that is chg-2's, and makes one plan."""
    world = make()
    world.deploy("chg-1", minutes_ago=0)
    clock.advance(60)
    world.deploy("chg-2", minutes_ago=0, version="v1.4.4")
    every_30s(world, clock, 1)
    (ended,) = world.audit("watch.ended", "chg-1")
    assert ended.details["why"].startswith("the deploy is no longer live: replaced by")

    world.readings.breach()
    every_30s(world, clock, 2)
    (plan_id,) = live_plans(world)
    incident = world.store.incidents.incident(world.store.plans.get(plan_id).plan.incident.id)
    assert incident is not None
    assert [a.fingerprint for a in incident.alerts] == ["watch:chg-2"]
    assert world.store.plans.get(plan_id).plan.suspects[0].change_id == "chg-2"
