"""Approval deadlines (issue 12, item 3) with the clock frozen by freezegun: every clock of the
bot (the store's, the use cases', the job runner's) reads ``datetime.now``, which the test moves
by hand, ticking the job runner and the outbox as the scheduler would. Nothing sleeps.

Reminders come once (or every N minutes), only while the plan waits for approval, in its thread,
naming exactly the approvers the policy names; a plan nobody approved expires after 2 h through
its life cycle, its message redrawn as expired without buttons, and a click on it afterwards is
refused and audited; a standby plan expires when a later deploy supersedes its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory

from bot.core.policy import Policy, PolicyConfig
from bot.core.usecases.deadlines import named_approvers
from bot.lifecycle import Click, Mode, PlanKind, PlanStatus, StepStatus
from bot.store import JobStatus
from fakes.slack import FakeSlack
from planners.model import Alert
from tests.bot.core.on_the_clock import (
    APPROVER,
    CHANNEL,
    DEPLOYS,
    GROUP,
    OWNER,
    TEAM_LEAD,
    OnTheClock,
    buttons,
    topology,
)
from tests.support.store import make_plan

START = "2026-11-27T10:00:00Z"


@pytest.fixture
def frozen():
    with freeze_time(START) as factory:
        yield factory


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def bot(tmp_path: Path, migrated: Path, slack: FakeSlack, **options: object) -> OnTheClock:
    return OnTheClock(
        workdir=tmp_path,
        migrated=migrated,
        slack=slack,
        clock=lambda: datetime.now(UTC),
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def world(tmp_path, migrated_sqlite_file, slack, frozen):
    running = bot(tmp_path, migrated_sqlite_file, slack)
    yield running
    running.close()


def at_minute(world: OnTheClock, frozen: FrozenDateTimeFactory, minute: float) -> None:
    """Move the frozen time to ``minute`` minutes after the start, and tick."""
    frozen.move_to(datetime.fromisoformat(START) + timedelta(minutes=minute))
    world.tick()


def reminders(world: OnTheClock, plan_id: str) -> list[str]:
    return [text for text in world.thread_replies(plan_id) if "waited" in text]


def test_one_reminder_after_15_minutes_in_the_plan_thread(world, frozen):
    """Once: nothing before 15 minutes, one reminder at 15, none after (remind_every 0)."""
    world.deploy()
    plan_id = world.alert()
    at_minute(world, frozen, 14.9)
    assert reminders(world, plan_id) == []

    at_minute(world, frozen, 15)
    (text,) = reminders(world, plan_id)
    assert "waited 15 min for approval of stage *partial*" in text
    assert "expires in 1 h 45 min" in text
    (entry,) = world.audit("plan.reminded", plan_id)
    assert entry.details["reminder"] == 1

    for minute in (30, 60, 90, 119):
        at_minute(world, frozen, minute)
    assert len(reminders(world, plan_id)) == 1


def test_reminders_every_10_minutes_stop_at_the_expiry(
    tmp_path, migrated_sqlite_file, slack, frozen
):
    """remind_every 10: at 15, 25, …, 115 minutes (11 reminders), none once the plan expired."""
    world = bot(tmp_path, migrated_sqlite_file, slack, remind_every_minutes=10)
    try:
        world.deploy()
        plan_id = world.alert()
        for minute in range(0, 181, 5):
            at_minute(world, frozen, minute)
        sent = reminders(world, plan_id)
        assert len(sent) == 11
        assert "waited 1 h 55 min" in sent[-1]
        assert [e.details["reminder"] for e in world.audit("plan.reminded", plan_id)] == list(
            range(1, 12)
        )
        assert world.store.plans.get(plan_id).status == PlanStatus.EXPIRED
    finally:
        world.close()


def test_no_reminder_and_no_expiry_once_the_plan_is_approved(world, frozen):
    """Approved at minute 10: at 15 nobody is reminded, at 120 the plan is not expired."""
    world.deploy()
    plan_id = world.alert()
    at_minute(world, frozen, 10)
    result = world.decisions.approve(plan_id, user=APPROVER, stage="partial")
    assert result.queued == ("s1",)

    at_minute(world, frozen, 15)
    at_minute(world, frozen, 120)
    at_minute(world, frozen, 180)
    assert reminders(world, plan_id) == []
    assert world.audit("plan.reminded", plan_id) == []
    assert world.store.plans.get(plan_id).status != PlanStatus.EXPIRED
    assert world.audit("plan.expired", plan_id) == []
    jobs = [
        world.store.jobs.get(f"plan.remind:{plan_id}:1"),
        world.store.jobs.get(f"plan.expire:{plan_id}"),
    ]
    assert [job.status for job in jobs if job] == [JobStatus.DONE, JobStatus.DONE]


def test_the_reminder_names_exactly_the_policy_approvers_and_nothing_from_the_alert(world, frozen):
    """The approvers the policy names for cartservice (listed user, listed group, the team's,
    the catalog owner) and nobody else; the alert's own mentions never reach the reminder."""
    world.deploy()
    plan_id = world.alert("HighErrorRate <!channel> <@U0EVIL> <!subteam^S0EVIL>")
    at_minute(world, frozen, 15)
    (text,) = reminders(world, plan_id)
    mentioned = {part.split(">")[0] for part in text.split("<")[1:]}
    assert mentioned == {f"@{APPROVER}", f"!subteam^{GROUP}", f"@{TEAM_LEAD}", f"@{OWNER}"}
    assert "EVIL" not in text and "channel" not in text


def test_a_user_who_approved_is_left_out_of_the_reminder_of_a_step_needing_two(
    tmp_path, migrated_sqlite_file, slack, frozen
):
    """cartservice is critical: its step needs two approvers. After one approved, the reminder
    names the others the policy names, not the one who approved."""
    config = PolicyConfig(approvers=[APPROVER, TEAM_LEAD])
    world = bot(
        tmp_path, migrated_sqlite_file, slack, policy=config, topo=topology(tier="critical")
    )
    try:
        world.deploy()
        plan_id = world.alert()
        assert world.store.plans.get(plan_id).plan.steps[0].approvals_required == 2
        at_minute(world, frozen, 5)
        assert world.decisions.approve(plan_id, user=APPROVER, stage="partial").waiting
        at_minute(world, frozen, 15)
        (text,) = reminders(world, plan_id)
        assert f"<@{TEAM_LEAD}>" in text and f"<@{OWNER}>" in text
        assert APPROVER not in text
    finally:
        world.close()


def test_a_plan_nobody_approved_expires_after_two_hours(world, frozen):
    """Through the life cycle (audited ``plan.expired`` with why), its message redrawn in place
    as expired with no buttons."""
    world.deploy()
    plan_id = world.alert()
    (posted,) = world.plan_posts()
    assert buttons(posted)
    at_minute(world, frozen, 119.9)
    assert world.store.plans.get(plan_id).status == PlanStatus.PROPOSED

    at_minute(world, frozen, 120)
    assert world.store.plans.get(plan_id).status == PlanStatus.EXPIRED
    (entry,) = world.audit("plan.expired", plan_id)
    assert entry.details == {"status": "expired", "reason": "not approved within 2 h"}
    update = world.updates(plan_id)[-1]
    assert buttons(update) == []
    assert "Status: expired" in update["text"]
    assert "This plan is expired" in str(update["blocks"])


WINDOW_CLOSED = (
    "this plan's approval window closed at 12:00 UTC; ask for a fresh one with /rollback plan"
)


def test_a_click_on_an_expired_plan_is_refused_and_audited(world, frozen):
    """Approve, Approve all and Reject on the expired plan: each refused, each audited (an
    approval saying when the window closed), and nothing approved or queued."""
    world.deploy()
    plan_id = world.alert()
    at_minute(world, frozen, 120)
    assert world.store.plans.get(plan_id).status == PlanStatus.EXPIRED

    stage = world.decisions.approve(plan_id, user=APPROVER, stage="partial")
    every = world.decisions.approve(plan_id, user=APPROVER, stage=None)
    rejected = world.decisions.reject(plan_id, user=APPROVER)
    retried = world.decisions.retry(plan_id, "s1", user=APPROVER)

    assert stage.refused == (WINDOW_CLOSED,)
    assert every.approved == () and every.queued == ()
    assert rejected is False and retried is False
    refusals = [e.details["reason"] for e in world.audit("approval.refused", plan_id)]
    assert refusals == [
        WINDOW_CLOSED,
        WINDOW_CLOSED,
        f"cannot {Click.REJECT} a plan that is expired",
        "retry s1: this plan is expired",
    ]
    assert world.store.approvals.of(plan_id) == {}
    assert {row.status for row in world.store.plans.get(plan_id).steps} == {StepStatus.PENDING}


def test_a_click_after_the_deadline_is_refused_before_the_expiry_job_has_run(world, frozen):
    """The expiry job is due at 12:00 but has not run (the scheduler is slow or down): an
    approval at 12:05 is refused, saying when the window closed; nothing is approved or queued,
    and the plan expires there and then, its message redrawn without buttons. The job, when it
    runs, changes nothing more."""
    world.deploy()
    plan_id = world.alert()
    frozen.move_to(datetime.fromisoformat(START) + timedelta(minutes=125))  # no tick
    job = world.store.jobs.get(f"plan.expire:{plan_id}")
    assert job is not None and job.status == JobStatus.QUEUED

    result = world.decisions.approve(plan_id, user=APPROVER, stage="partial")

    assert result.refused == (WINDOW_CLOSED,)
    assert result.approved == () and result.queued == ()
    assert world.store.approvals.of(plan_id) == {}
    assert {row.status for row in world.store.plans.get(plan_id).steps} == {StepStatus.PENDING}
    assert world.runner.submitted == []
    assert world.store.plans.get(plan_id).status == PlanStatus.EXPIRED
    (refusal,) = world.audit("approval.refused", plan_id)
    assert (refusal.actor, refusal.details["reason"]) == (APPROVER, WINDOW_CLOSED)
    world.notifier.flush_outbox()
    update = world.updates(plan_id)[-1]
    assert buttons(update) == []
    assert "Status: expired" in update["text"]

    at_minute(world, frozen, 126)  # the job runs late: the plan is expired already
    (expired,) = world.audit("plan.expired", plan_id)
    assert expired.details["reason"] == "not approved within 2 h"
    assert world.store.jobs.get(f"plan.expire:{plan_id}").status == JobStatus.DONE


@pytest.mark.parametrize(("minute", "counts"), [(119.99, True), (120, False)])
def test_the_window_closes_at_the_deadline_itself(world, frozen, minute, counts):
    """With no tick at all: a click a moment before the deadline counts and runs the stage; a
    click at the deadline is refused."""
    world.deploy()
    plan_id = world.alert()
    frozen.move_to(datetime.fromisoformat(START) + timedelta(minutes=minute))

    result = world.decisions.approve(plan_id, user=APPROVER, stage="partial")

    assert (result.queued == ("s1",)) is counts
    assert (result.refused == (WINDOW_CLOSED,)) is not counts
    expected = PlanStatus.PROPOSED if counts else PlanStatus.EXPIRED
    assert world.store.plans.get(plan_id).status == expected
    at_minute(world, frozen, 121)
    assert world.store.plans.get(plan_id).status == expected


def test_a_plan_approved_in_time_is_not_affected_by_the_deadline(
    tmp_path, migrated_sqlite_file, slack, frozen
):
    """cartservice is critical: its step needs two approvers. One approved at 11:55, so the plan
    was taken up in time and does not expire; the second approval at 12:30 counts and runs the
    step."""
    config = PolicyConfig(approvers=[APPROVER, TEAM_LEAD])
    world = bot(
        tmp_path, migrated_sqlite_file, slack, policy=config, topo=topology(tier="critical")
    )
    try:
        world.deploy()
        plan_id = world.alert()
        frozen.move_to(datetime.fromisoformat(START) + timedelta(minutes=115))
        assert world.decisions.approve(plan_id, user=APPROVER, stage="partial").waiting
        at_minute(world, frozen, 150)
        assert world.store.plans.get(plan_id).status == PlanStatus.PROPOSED

        result = world.decisions.approve(plan_id, user=TEAM_LEAD, stage="partial")

        assert result.queued == ("s1",) and result.refused == ()
        assert world.store.approvals.of(plan_id) == {"s1": {APPROVER, TEAM_LEAD}}
        assert world.audit("plan.expired", plan_id) == []
    finally:
        world.close()


def test_a_plan_waiting_after_autopilot_ran_its_contain_stage_expires(world, frozen):
    """Autopilot queued its contain stage (nobody approved anything): not expired while the
    step is queued; once it ran and the plan waits for a person, the expiry takes it."""
    world.deploy()
    plan_id = world.alert()
    store = world.store

    def step_to(status: StepStatus, *, worker: str | None = None) -> None:
        current = store.plans.get(plan_id).steps[0].status
        assert store.steps.transition(
            plan_id, "s1", from_statuses=[current], to=status, actor="autopilot", worker=worker
        )

    step_to(StepStatus.QUEUED)
    at_minute(world, frozen, 120)
    assert store.plans.get(plan_id).status == PlanStatus.PROPOSED  # a step is queued

    step_to(StepStatus.RUNNING, worker="w1")
    step_to(StepStatus.DONE, worker="w1")
    assert store.plans.move(plan_id, PlanStatus.RUNNING, actor="w1")
    assert store.plans.move(plan_id, PlanStatus.WAITING, actor="w1")
    world.deadlines.expire({"plan": plan_id, "posted_at": START})
    assert store.plans.get(plan_id).status == PlanStatus.EXPIRED
    assert store.plans.get(plan_id).steps[0].status == StepStatus.DONE


def test_a_standby_plan_expires_when_a_later_deploy_supersedes_its_deploy(world, frozen):
    """chg-1's standby plan, shown in its announcement's thread, expires when chg-2 of the same
    service is recorded (audited with why; its message redrawn); chg-2's own stays."""
    world.deploy("chg-1", minutes_ago=30, version="v1.4.3")
    (first,) = [p for p in world.store.plans.recent() if p.kind == PlanKind.STANDBY]
    message = world.store.conversations.plan_message(first.id)
    world.planning.show_plan(first.id, channel=DEPLOYS, thread_ts=message.thread_ts)

    frozen.tick(timedelta(minutes=10))
    world.deploy("chg-2", minutes_ago=1, version="v1.4.4")

    standby = {p.id: p for p in world.store.plans.recent() if p.kind == PlanKind.STANDBY}
    assert standby[first.id].status == PlanStatus.EXPIRED
    (second,) = [p for p in standby.values() if p.id != first.id]
    assert second.status == PlanStatus.PROPOSED
    (entry,) = world.audit("plan.expired", first.id)
    assert entry.details["reason"] == (
        "its deploy chg-1 is no longer live: replaced by the later deploy chg-2 (v1.4.4)"
    )
    assert buttons(world.updates(first.id)[-1]) == []


def test_a_standby_plan_never_shown_expires_without_touching_the_announcement(world, frozen):
    """Its only message is the CI bot's announcement, which is not ours to edit."""
    world.deploy("chg-1", minutes_ago=30)
    world.deploy("chg-2", minutes_ago=1, version="v1.4.4")
    expired = [p for p in world.store.plans.recent() if p.status == PlanStatus.EXPIRED]
    assert len(expired) == 1 and expired[0].kind == PlanKind.STANDBY
    assert world.slack.calls_to("chat.update") == []


def test_scheduling_twice_stores_the_deadlines_once(world, frozen):
    """The jobs are keyed by the plan: a second schedule (a retried post) stores nothing."""
    world.deploy()
    plan_id = world.alert()
    assert world.deadlines.schedule_for(plan_id, datetime.now(UTC)) is False
    keys = [job.key for job in world.store.jobs.listing() if plan_id in job.key]
    assert sorted(keys) == [f"plan.expire:{plan_id}", f"plan.remind:{plan_id}:1"]


def test_a_reminder_waits_for_the_plan_message_to_reach_slack(world, frozen):
    """The plan's post failed and waits in the outbox: the reminder due meanwhile is retried
    (it has no thread to reply in yet) and comes once the plan is in Slack."""
    world.deploy()
    world.slack.fail_next("chat.postMessage", status=500)
    plan_id = world.alert()
    assert world.store.conversations.plan_message(plan_id).ts.startswith("pending:")

    at_minute(world, frozen, 15)  # the reminder is due first; the outbox then posts the plan
    job = world.store.jobs.get(f"plan.remind:{plan_id}:1")
    assert job is not None and job.status == JobStatus.QUEUED
    assert "has no message in Slack yet" in (job.last_error or "")
    assert not world.store.conversations.plan_message(plan_id).ts.startswith("pending:")
    assert reminders(world, plan_id) == []

    at_minute(world, frozen, 15 + 10 / 60)
    assert len(reminders(world, plan_id)) == 1


def test_a_redraft_keeps_the_deadlines_of_the_message_it_takes_over(world, frozen):
    """Scheduled without a time (as a redraft is), the deadlines count from when the plan's
    message was first posted, not from the redraft."""
    world.deploy()
    alert = Alert(
        fingerprint="fp", service="cartservice", name="Errors", started_at=datetime.now(UTC)
    )
    plan_id = world.planning.alerts_posted([alert], channel=CHANNEL, ts=None)
    assert plan_id is not None
    frozen.tick(timedelta(minutes=10))
    assert world.deadlines.schedule_for(plan_id)
    posted = datetime.fromisoformat(START)
    remind = world.store.jobs.get(f"plan.remind:{plan_id}:1")
    expire = world.store.jobs.get(f"plan.expire:{plan_id}")
    assert remind is not None and remind.due_at == posted + timedelta(minutes=15)
    assert expire is not None and expire.due_at == posted + timedelta(hours=2)


@pytest.mark.parametrize("security", [False, True])
@pytest.mark.parametrize("owners_may_approve", [True, False])
def test_the_named_approvers_are_exactly_whom_the_policy_lets_approve(security, owners_may_approve):
    """``named_approvers`` lists from the places the policy grants from: every user it names
    may approve, and of everyone the settings mention, nobody else may (groups through their
    members). If ``Policy`` grows another source of grants, this fails."""
    config = PolicyConfig(
        approvers=["U0GLOBAL", "S0GLOBAL"],
        services={"cartservice": [APPROVER, GROUP], "frontend": ["U0FRONT", "S0FRONT"]},
        teams={"checkout": [TEAM_LEAD], "web": ["U0WEB"]},
        owners_may_approve=owners_may_approve,
        security_approvers=["U0SEC"],
    )
    members = {"S0GLOBAL": {"U0INGLOBAL"}, GROUP: {"U0INCART"}, "S0FRONT": {"U0INFRONT"}}
    topo = topology()
    policy = Policy(config, topology=topo, groups=Groups(members), mode=Mode.APPROVE)
    step = (
        make_plan(1)
        .steps[0]
        .model_copy(update={"service": "cartservice", "security": ("CVE-1",) if security else ()})
    )
    named = named_approvers(config, topo, step)

    users = {"U0GLOBAL", APPROVER, "U0FRONT", TEAM_LEAD, "U0WEB", OWNER, "U0SEC", "U0NOBODY"}
    users |= {u for group in members.values() for u in group}
    allowed = {u for u in users if policy.may_approve(u, step).allowed}
    expected = {u for u in named if u.startswith("U")}
    expected |= {u for g in named if g.startswith("S") for u in members.get(g, ())}
    assert allowed == expected
    assert ("U0SEC" in named) is security and (OWNER in named) is owners_may_approve


class Groups:
    def __init__(self, members: dict[str, set[str]]) -> None:
        self._members = members

    def members(self, group_id: str) -> frozenset[str]:
        return frozenset(self._members.get(group_id, ()))
