"""The use cases without Slack: on a SQLite store, with a recording notifier and a runner that
only records what it was handed. For every plan state and mode, the clicks the use cases accept
are exactly the ones the plan offers (the buttons the plan message draws come from the same
:func:`~bot.core.usecases.plan_actions`)."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.engine import Engine
from bot.core.policy import Policy, PolicyConfig
from bot.core.recheck import ApprovalRecheck
from bot.core.usecases import Decisions, Execution, plan_actions
from bot.core.usecases.deadlines import Deadlines
from bot.lifecycle import Click, Mode, PlanKind, PlanStatus, StepStatus
from bot.store import Store
from integrations.executors.simulated import SimulatedExecutor
from planners.topology import build_topology
from tests.support.store import make_plan, path_to

USER = "U0ONCALL1"


@dataclass
class RecordingNotifier:
    """Remembers every plan it was asked to show."""

    posted: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)

    def post_plan(
        self, plan_id: str, *, channel: str, thread_ts: str | None, requester: str | None = None
    ) -> None:
        self.posted.append(plan_id)

    def refresh_plan(self, plan_id: str) -> None:
        self.refreshed.append(plan_id)

    def post_summary(self, plan_id: str) -> None:
        self.summaries.append(plan_id)


@dataclass
class RecordingRunner:
    """Records submitted runs instead of running them."""

    submitted: list[str] = field(default_factory=list)

    def submit(self, work: Callable[[str], None], plan_id: str, /) -> None:
        self.submitted.append(plan_id)

    def shutdown(self, wait: bool = True) -> None:
        pass


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, migrated_sqlite_file: Path) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("decisions") / "backout.db"
    shutil.copyfile(migrated_sqlite_file, path)
    with Store.from_url(f"sqlite:///{path}", upgrade=False) as opened:
        yield opened


def decisions(
    store: Store, mode: Mode, config: PolicyConfig | None = None
) -> tuple[Decisions, RecordingNotifier, RecordingRunner]:
    notifier, runner = RecordingNotifier(), RecordingRunner()
    topology, _ = build_topology([])
    config = config or PolicyConfig(approvers=[USER])
    policy = Policy(config, topology=topology, groups=NoGroups(), mode=mode)
    engine = Engine(store=store, executors={})
    execution = Execution(
        store=store, engine=engine, executors={}, notifier=notifier, runner=runner
    )
    return (
        Decisions(store=store, policy=policy, execution=execution, notifier=notifier),
        notifier,
        runner,
    )


class NoGroups:
    """A workspace without user groups."""

    def members(self, group_id: str) -> frozenset[str]:
        raise LookupError(f"no user group {group_id}")


MIXES: dict[str, dict[str, StepStatus]] = {
    "all pending": {},
    "one done": {"s1": StepStatus.DONE},
    "one failed": {"s1": StepStatus.FAILED},
    "all done": {"s1": StepStatus.DONE, "s2": StepStatus.DONE, "s3": StepStatus.DONE},
}
_STEP_PATHS = {
    StepStatus.DONE: [StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.DONE],
    StepStatus.FAILED: [StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.FAILED],
}


def stored_plan(store: Store, *, status: PlanStatus, kind: PlanKind, mode: Mode, mix: str) -> str:
    """A fresh plan in ``status`` with its steps as ``MIXES[mix]`` says."""
    plan_id = store.plans.save(make_plan(3), mode=mode, kind=kind)
    for step_id, final in MIXES[mix].items():
        current = StepStatus.PENDING
        for to in _STEP_PATHS[final]:
            worker = "w1" if to == StepStatus.RUNNING else None
            assert store.steps.transition(
                plan_id, step_id, from_statuses=[current], to=to, actor="test", worker=worker
            )
            current = to
    for moved in path_to(status):
        assert store.plans.move(plan_id, moved, actor="test")
    return plan_id


def click(decided: Decisions, plan_id: str, which: Click) -> bool:
    """Whether the use case accepted ``which`` on the plan."""
    stored = decided.store.plans.get(plan_id)
    if which in (Click.APPROVE_STAGE, Click.APPROVE_ALL):
        stage = plan_actions(stored).next_stage or "partial"
        result = decided.approve(
            plan_id, user=USER, stage=stage if which == Click.APPROVE_STAGE else None
        )
        return bool(result.approved)
    if which == Click.REJECT:
        return decided.reject(plan_id, user=USER)
    if which == Click.ABORT:
        return decided.abort(plan_id, user=USER)
    failed = [r.step_id for r in stored.steps if r.status == StepStatus.FAILED] or ["s1"]
    act = decided.retry if which == Click.RETRY else decided.skip
    return act(plan_id, failed[0], user=USER)


CASES = list(itertools.product(PlanStatus, PlanKind, Mode, MIXES))


@pytest.mark.parametrize(("status", "kind", "mode", "mix"), CASES, ids=lambda v: str(v))
def test_the_clicks_accepted_are_the_clicks_offered(store, status, kind, mode, mix):
    """Every click (but Simulate, a read) is accepted on a fresh copy of the plan if and only if
    the plan offers it; a refused click changes neither the plan nor its steps."""
    decided, _, _ = decisions(store, mode)
    probe = stored_plan(store, status=status, kind=kind, mode=mode, mix=mix)
    offered = plan_actions(store.plans.get(probe)).clicks
    for which in sorted(set(Click) - {Click.SIMULATE}):
        plan_id = stored_plan(store, status=status, kind=kind, mode=mode, mix=mix)
        before = store.plans.get(plan_id)
        accepted = click(decided, plan_id, which)
        assert accepted == (which in offered), which
        if not accepted:
            after = store.plans.get(plan_id)
            assert (after.status, after.steps) == (before.status, before.steps)


def test_an_approve_stage_naming_no_stage_approves_nothing(store):
    """A stage value that is not the plan's next stage is refused, not taken as *Approve all*."""
    decided, _, runner = decisions(store, Mode.APPROVE)
    plan_id = stored_plan(
        store, status=PlanStatus.PROPOSED, kind=PlanKind.LIVE, mode=Mode.APPROVE, mix="all pending"
    )
    result = decided.approve(plan_id, user=USER, stage="everything")
    assert result.approved == () and result.refused
    assert store.approvals.of(plan_id) == {}
    assert runner.submitted == []


def test_an_approval_queues_the_step_and_hands_the_plan_to_the_runner(store):
    """Enough approvals queue the stage's steps and submit the plan; the message is refreshed."""
    decided, notifier, runner = decisions(store, Mode.APPROVE)
    plan_id = stored_plan(
        store, status=PlanStatus.PROPOSED, kind=PlanKind.LIVE, mode=Mode.APPROVE, mix="all pending"
    )
    result = decided.approve(plan_id, user=USER, stage="partial")
    assert result.queued == ("s1", "s3")
    assert runner.submitted == [plan_id]
    assert notifier.refreshed == [plan_id]
    assert {r.step_id: r.status for r in store.steps.of(plan_id)} == {
        "s1": StepStatus.QUEUED,
        "s2": StepStatus.PENDING,
        "s3": StepStatus.QUEUED,
    }


def test_rejecting_ends_the_plan_and_aborts_its_steps(store):
    """A reject moves the plan to rejected and every step to aborted, audited as the user's."""
    decided, notifier, _ = decisions(store, Mode.APPROVE)
    plan_id = stored_plan(
        store, status=PlanStatus.PROPOSED, kind=PlanKind.LIVE, mode=Mode.APPROVE, mix="all pending"
    )
    assert decided.reject(plan_id, user=USER)
    stored = store.plans.get(plan_id)
    assert stored.status == PlanStatus.REJECTED
    assert {r.status for r in stored.steps} == {StepStatus.ABORTED}
    assert store.audit.entries(subject_prefix=plan_id)[-1].actor == USER
    assert notifier.refreshed == [plan_id]


ONE_STEP = "U0PAYMENTS"
STRANGER = "U0STRANGER"
REQUESTER = "U0ASKED"


def partial_rights(store: Store) -> Decisions:
    """``USER`` approves everything; ``ONE_STEP`` only steps on service-1."""
    config = PolicyConfig(approvers=[USER], services={"service-1": [ONE_STEP]})
    return decisions(store, Mode.APPROVE, config)[0]


def fresh_plan(store: Store) -> str:
    plan_id = stored_plan(
        store, status=PlanStatus.PROPOSED, kind=PlanKind.LIVE, mode=Mode.APPROVE, mix="all pending"
    )
    store.conversations.set_plan_message(plan_id, channel="C1", ts=plan_id, requester=REQUESTER)
    return plan_id


def test_approving_one_step_does_not_let_a_user_end_the_plan(store):
    """Someone who may approve only one of the steps can neither reject nor abort the plan."""
    decided = partial_rights(store)
    proposed = fresh_plan(store)
    started = stored_plan(
        store, status=PlanStatus.WAITING, kind=PlanKind.LIVE, mode=Mode.APPROVE, mix="one done"
    )
    assert not decided.reject(proposed, user=ONE_STEP)
    assert not decided.abort(started, user=ONE_STEP)
    assert store.plans.get(proposed).status == PlanStatus.PROPOSED
    assert store.plans.get(started).status == PlanStatus.WAITING
    refusals = store.audit.entries(subject_prefix=proposed)[-1]
    assert (refusals.actor, refusals.action) == (ONE_STEP, "approval.refused")


def test_the_requester_may_reject_a_plan_nothing_has_run_of(store):
    """Whoever asked for the plan may say no to it before anything ran, without approver rights."""
    decided = partial_rights(store)
    plan_id = fresh_plan(store)
    assert decided.reject(plan_id, user=REQUESTER)
    assert store.plans.get(plan_id).status == PlanStatus.REJECTED


def test_only_responders_and_approvers_vote_on_the_suspect(store):
    """A stranger's vote is refused and not counted; the requester's, a step approver's and an
    approver's are recorded."""
    decided = partial_rights(store)
    plan_id = fresh_plan(store)
    store.approvals.add(plan_id, user=ONE_STEP, step_ids=["s1"])
    assert not decided.feedback(plan_id, user=STRANGER, right=False)
    assert decided.feedback(plan_id, user=REQUESTER, right=True)
    assert decided.feedback(plan_id, user=ONE_STEP, right=True)
    assert decided.feedback(plan_id, user=USER, right=True)
    assert store.incidents.feedback(plan_id) == {REQUESTER: True, ONE_STEP: True, USER: True}


class OnCall:
    """A user group whose members change while the test runs."""

    def __init__(self, *members: str) -> None:
        self.people = set(members)

    def members(self, group_id: str) -> frozenset[str]:
        return frozenset(self.people)


def test_a_step_whose_approver_left_the_group_goes_back_to_waiting(store):
    """Approved, queued, then its approver leaves the on-call group: when the engine comes to
    claim the step it is not run but sent back to pending, saying why."""
    oncall = OnCall(USER)
    topology, _ = build_topology([])
    policy = Policy(
        PolicyConfig(approvers=["S0ONCALL"]), topology=topology, groups=oncall, mode=Mode.APPROVE
    )
    notifier, runner = RecordingNotifier(), RecordingRunner()
    executor = SimulatedExecutor(versions={f"service-{n}": "v9" for n in range(1, 4)})
    engine = Engine(
        store=store,
        executors={"kubernetes": executor},
        recheck=ApprovalRecheck(store=store, policy=policy),
    )
    execution = Execution(
        store=store, engine=engine, executors={}, notifier=notifier, runner=runner
    )
    decided = Decisions(store=store, policy=policy, execution=execution, notifier=notifier)
    plan_id = fresh_plan(store)
    assert decided.approve(plan_id, user=USER, stage="partial").queued == ("s1", "s3")
    oncall.people.clear()
    engine.run(plan_id)
    rows = {r.step_id: r for r in store.steps.of(plan_id)}
    assert rows["s1"].status == StepStatus.PENDING
    assert rows["s1"].reason.startswith("approvals no longer hold")
    assert executor.executed == []


# -- the approval window ---------------------------------------------------------------------------

WINDOW_CLOSED = (
    "this plan's approval window closed at {at} UTC; ask for a fresh one with /rollback plan"
)


class NoReminders:
    """Reminders are not what these tests look at."""

    def remind(self, plan_id: str, **_: object) -> bool:
        return True


def posted_for_approval(store: Store, plan_id: str, *, closed_minutes_ago: float) -> datetime:
    """Schedule the plan's deadlines as if it had been posted 2 h before its window closed,
    ``closed_minutes_ago`` minutes ago (negative: the window is still open); when it closes."""
    topology, _ = build_topology([])
    config = PolicyConfig(approvers=[USER])
    policy = Policy(config, topology=topology, groups=NoGroups(), mode=Mode.APPROVE)
    deadlines = Deadlines(
        store=store,
        policy=policy,
        rules=config,
        topology=topology,
        notifier=RecordingNotifier(),
        reminders=NoReminders(),
        clock=store.clock,
    )
    closes_at = store.clock() - timedelta(minutes=closed_minutes_ago)
    assert deadlines.schedule_for(plan_id, closes_at - timedelta(hours=2))
    return closes_at


def hh_mm(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%H:%M")


def test_autopilot_ran_its_contain_stage_and_the_next_stage_is_approved_too_late(store):
    """Autopilot ran the first stage without anybody's approval; the window closed a minute
    ago, its expiry job not run yet: approving the next stage is refused, and the plan expires
    with what autopilot ran left as it is."""
    decided, notifier, runner = decisions(store, Mode.AUTOPILOT)
    plan_id = stored_plan(
        store,
        status=PlanStatus.PROPOSED,
        kind=PlanKind.LIVE,
        mode=Mode.AUTOPILOT,
        mix="all pending",
    )
    closes_at = posted_for_approval(store, plan_id, closed_minutes_ago=1)
    for step_id in ("s1", "s3"):  # the stage autopilot may run
        for before, to in itertools.pairwise([StepStatus.PENDING, *_STEP_PATHS[StepStatus.DONE]]):
            worker = "w1" if to == StepStatus.RUNNING else None
            assert store.steps.transition(
                plan_id, step_id, from_statuses=[before], to=to, actor="autopilot", worker=worker
            )
    for moved in (PlanStatus.RUNNING, PlanStatus.WAITING):
        assert store.plans.move(plan_id, moved, actor="w1")
    assert plan_actions(store.plans.get(plan_id)).next_stage == "full"

    result = decided.approve(plan_id, user=USER, stage="full")

    assert result.refused == (WINDOW_CLOSED.format(at=hh_mm(closes_at)),)
    assert result.approved == () and result.queued == ()
    stored = store.plans.get(plan_id)
    assert stored.status == PlanStatus.EXPIRED
    assert {r.step_id: r.status for r in stored.steps} == {
        "s1": StepStatus.DONE,
        "s2": StepStatus.PENDING,
        "s3": StepStatus.DONE,
    }
    assert store.approvals.of(plan_id) == {}
    assert runner.submitted == [] and notifier.refreshed == [plan_id]


def test_an_approval_within_the_window_counts(store):
    """The window closes in a minute: the click counts, and the stage is queued."""
    decided, _, runner = decisions(store, Mode.APPROVE)
    plan_id = fresh_plan(store)
    posted_for_approval(store, plan_id, closed_minutes_ago=-1)
    result = decided.approve(plan_id, user=USER, stage="partial")
    assert result.queued == ("s1", "s3") and result.refused == ()
    assert runner.submitted == [plan_id]


class ExpiryMeanwhile:
    """The on-call group, whose lookup is slow: the plan's expiry job runs while the click waits
    for it (the click read the plan before the job ran, and records after)."""

    def __init__(self, deadlines: Deadlines, plan_id: str) -> None:
        self.deadlines, self.plan_id, self.ran = deadlines, plan_id, False

    def members(self, group_id: str) -> frozenset[str]:
        if not self.ran:
            self.ran = True
            self.deadlines.expire({"plan": self.plan_id})
        return frozenset({USER})


def test_a_click_that_read_the_plan_before_the_expiry_job_ran_is_refused(store):
    """The click finds the plan proposed, then the job expires it before the approval is
    recorded: the approval is refused (by the store, in the transaction that would record it),
    nothing is queued, and the plan expired once."""
    topology, _ = build_topology([])
    config = PolicyConfig(approvers=["S0ONCALL"])
    plan_id = fresh_plan(store)
    closes_at = posted_for_approval(store, plan_id, closed_minutes_ago=1)
    notifier, runner = RecordingNotifier(), RecordingRunner()
    groups = ExpiryMeanwhile(
        Deadlines(
            store=store,
            policy=Policy(config, topology=topology, groups=NoGroups(), mode=Mode.APPROVE),
            rules=config,
            topology=topology,
            notifier=notifier,
            reminders=NoReminders(),
            clock=store.clock,
        ),
        plan_id,
    )
    policy = Policy(config, topology=topology, groups=groups, mode=Mode.APPROVE)
    engine = Engine(store=store, executors={})
    execution = Execution(
        store=store, engine=engine, executors={}, notifier=notifier, runner=runner
    )
    decided = Decisions(store=store, policy=policy, execution=execution, notifier=notifier)

    result = decided.approve(plan_id, user=USER, stage="partial")

    assert groups.ran
    assert result.refused == (WINDOW_CLOSED.format(at=hh_mm(closes_at)),)
    assert result.approved == () and result.queued == ()
    assert store.approvals.of(plan_id) == {}
    assert {r.status for r in store.steps.of(plan_id)} == {StepStatus.PENDING}
    assert runner.submitted == []
    expired = [e for e in store.audit.entries(subject_prefix=plan_id) if e.action == "plan.expired"]
    assert len(expired) == 1 and store.plans.get(plan_id).status == PlanStatus.EXPIRED
