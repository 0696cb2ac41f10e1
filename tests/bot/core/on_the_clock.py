"""A bot on its own clock, without its web server or scheduler thread, for the tests of approval
deadlines and deploy watches: a SQLite store read through a given clock, the real notifier and
thread replies on the fake Slack, the real policy, planning and decisions, and the job runner
the tests tick by hand (nothing sleeps on a live scheduler thread).

The deadline and watch use cases are built here as the composition root will build them, with
the wiring ``Planning`` does not have yet done by the tests: :meth:`OnTheClock.alert` and
:meth:`OnTheClock.deploy` call :meth:`Deadlines.schedule_for`, :meth:`WatchSchedule.start` and
:meth:`Deadlines.expire_superseded` where ``Planning`` will.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from slack_sdk import WebClient

from bot.core.engine import Engine
from bot.core.policy import Policy, PolicyConfig
from bot.core.usecases import Decisions, Execution, Planning
from bot.core.usecases.deadlines import Deadlines
from bot.core.usecases.watches import DeployWatches, HealthReader, WatchSchedule
from bot.lifecycle import Mode
from bot.runtime.jobs import JobRunner
from bot.slack.notifier import SlackNotifier
from bot.slack.reminders import SlackReminders
from bot.store import Store, create_engine
from fakes.slack import FakeSlack
from integrations.executors.simulated import SimulatedExecutor
from integrations.health.once import Snapshot, SnapshotState
from planners.model import Alert, Change, ChangeKind, Service
from planners.topology import Fragment, Topology, build_topology

__all__ = [
    "APPROVER",
    "CHANNEL",
    "DEPLOYS",
    "GROUP",
    "OWNER",
    "TEAM_LEAD",
    "OnTheClock",
    "Readings",
    "Recorded",
    "buttons",
    "topology",
]

CHANNEL = "C0INCIDENT"
DEPLOYS = "C0DEPLOYS"
APPROVER = "U0ONCALL1"
"""Listed for cartservice in the policy."""
GROUP = "S0CARTTEAM"
"""A user group listed for cartservice."""
TEAM_LEAD = "U0TEAMLEAD"
"""Listed for cartservice's team."""
OWNER = "U0OWNER"
"""cartservice's owner in the catalog."""


def topology(*, health: dict[str, Any] | None = None, tier: str = "standard") -> Topology:
    """frontend -> cartservice -> redis-cart; cartservice (team checkout, owned by
    :data:`OWNER`, of ``tier``) has a health check unless ``health`` is ``{}``."""
    check = {"prometheus": "error_ratio < 0.05"} if health is None else health
    services = [
        Service.model_validate({"name": "frontend", "depends_on": ["cartservice"]}),
        Service.model_validate(
            {
                "name": "cartservice",
                "team": "checkout",
                "tier": tier,
                "owners": [OWNER],
                "depends_on": ["redis-cart"],
                "rollback": {"executor": "kubernetes", "namespace": "shop", "deployment": "cart"},
                **({"health": check} if check else {}),
            }
        ),
        Service.model_validate({"name": "redis-cart", "kind": "cache"}),
    ]
    built, problems = build_topology([Fragment(origin="test", services=services)])
    assert not [p for p in problems if p.severity == "error"]
    return built


@dataclass
class Readings:
    """A scripted health reader: the next reading of each service is ``state`` (with
    ``detail``); records which services were read."""

    state: SnapshotState = SnapshotState.HEALTHY
    detail: str = "error ratio 0.01 (needs < 0.05)"
    value: float | None = 0.01
    read: list[str] = field(default_factory=list)

    def __call__(self, service: str) -> Snapshot | None:
        self.read.append(service)
        breached = self.state == SnapshotState.BREACHED
        return Snapshot(
            state=self.state,
            detail=self.detail,
            check="error ratio" if breached else None,
            value=self.value if breached else None,
        )

    def breach(self, value: float = 0.31) -> None:
        self.state, self.value = SnapshotState.BREACHED, value
        self.detail = f"error ratio {value:g} (needs < 0.05)"


@dataclass
class Recorded:
    """Records the plans handed to the runner instead of running them."""

    submitted: list[str] = field(default_factory=list)

    def submit(self, work: Callable[[str], None], plan_id: str, /) -> None:
        self.submitted.append(plan_id)

    def shutdown(self, wait: bool = True) -> None:
        pass


class OnTheClock:
    """The bot's use cases and job runner on ``clock``, posting to ``slack``."""

    def __init__(
        self,
        *,
        workdir: Path,
        migrated: Path,
        slack: FakeSlack,
        clock: Callable[[], datetime],
        mode: Mode = Mode.APPROVE,
        read: HealthReader | None = None,
        topo: Topology | None = None,
        policy: PolicyConfig | None = None,
        remind_every_minutes: float = 0.0,
    ) -> None:
        path = workdir / "backout.db"
        shutil.copyfile(migrated, path)
        self.clock = clock
        self.slack = slack
        self._announced = 0
        self.store = Store(create_engine(f"sqlite:///{path}"), clock=clock)
        self.topology = topo or topology()
        client = WebClient(base_url=slack.api_url, token="xoxb-test")
        self.notifier = SlackNotifier(client=client, store=self.store, graphs=False)
        config = policy or PolicyConfig(
            services={"cartservice": [APPROVER, GROUP]}, teams={"checkout": [TEAM_LEAD]}
        )
        self.policy = Policy(config, topology=self.topology, groups=_NoGroups(), mode=mode)
        self.runner = Recorded()
        engine = Engine(store=self.store, executors={"kubernetes": SimulatedExecutor()})
        execution = Execution(
            store=self.store,
            engine=engine,
            executors={"kubernetes": SimulatedExecutor()},
            notifier=self.notifier,
            runner=self.runner,
        )
        self.planning = Planning(
            store=self.store,
            topology=self.topology,
            policy=self.policy,
            execution=execution,
            notifier=self.notifier,
            clock=clock,
        )
        self.decisions = Decisions(
            store=self.store, policy=self.policy, execution=execution, notifier=self.notifier
        )
        replies = SlackReminders(store=self.store)
        self.deadlines = Deadlines(
            store=self.store,
            policy=self.policy,
            rules=config,
            topology=self.topology,
            notifier=self.notifier,
            reminders=replies,
            clock=clock,
            remind_every_minutes=remind_every_minutes,
        )
        self.schedule = WatchSchedule(store=self.store, topology=self.topology, clock=clock)
        self.readings = read or Readings()
        self.watches = DeployWatches(
            store=self.store,
            incidents=self.planning,
            read=self.readings,
            channel=CHANNEL,
            clock=clock,
            notes=replies,
        )
        self.jobs = JobRunner(
            self.store,
            {**self.deadlines.handlers(), **self.watches.handlers()},
            worker="w1",
            clock=clock,
        )

    def close(self) -> None:
        self.store.close()

    # -- driving it -----------------------------------------------------------------------------

    def deploy(
        self,
        change_id: str = "chg-1",
        *,
        minutes_ago: float = 5,
        version: str = "v1.4.3",
        **more: Any,
    ) -> Change:
        """Record a deploy of cartservice announced in the deploy channel (keeping its standby
        plan), start its watch and expire superseded standby plans, as ``Planning`` will."""
        change = Change.model_validate(
            {
                "id": change_id,
                "service": "cartservice",
                "kind": ChangeKind.DEPLOY,
                "at": self.clock() - timedelta(minutes=minutes_ago),
                "from_version": "v1.4.2",
                "to_version": version,
                **more,
            }
        )
        self._announced += 1
        ts = f"{self.clock().timestamp():.0f}.{self._announced:06d}"
        if self.planning.deploy_announced(change, channel=DEPLOYS, ts=ts) is not None:
            self.schedule.start(change)
            self.deadlines.expire_superseded(change.service)
        return change

    def alert(self, name: str = "HighErrorRate", *, service: str = "cartservice") -> str:
        """An alert arriving by webhook: the plan is posted in the incident channel, and its
        deadlines scheduled as ``Planning._publish`` will."""
        alert = Alert(fingerprint=f"fp-{name}", service=service, name=name, started_at=self.clock())
        plan_id = self.planning.alerts_posted([alert], channel=CHANNEL, ts=None)
        assert plan_id is not None
        self.deadlines.schedule_for(plan_id, self.clock())
        return plan_id

    def tick(self) -> int:
        """The scheduler's tick: due jobs, then the outbox."""
        ran = self.jobs.tick()
        self.notifier.flush_outbox()
        return ran

    # -- what Slack saw --------------------------------------------------------------------------

    def posts(self) -> list[dict[str, Any]]:
        return [call.args for call in self.slack.calls_to("chat.postMessage")]

    def thread_replies(self, plan_id: str) -> list[str]:
        """The texts posted in the plan message's thread."""
        message = self.store.conversations.plan_message(plan_id)
        assert message is not None
        thread = message.thread_ts or message.ts
        return [str(p.get("text")) for p in self.posts() if p.get("thread_ts") == thread]

    def plan_posts(self) -> list[dict[str, Any]]:
        """The plan messages posted (not thread replies)."""
        return [p for p in self.posts() if p.get("blocks") and not p.get("thread_ts")]

    def updates(self, plan_id: str) -> list[dict[str, Any]]:
        message = self.store.conversations.plan_message(plan_id)
        assert message is not None
        return [
            call.args
            for call in self.slack.calls_to("chat.update")
            if call.args.get("ts") == message.ts
        ]

    def audit(self, action: str, subject: str | None = None) -> list[Any]:
        return [e for e in self.store.audit.entries(subject_prefix=subject) if e.action == action]


class _NoGroups:
    def members(self, group_id: str) -> frozenset[str]:
        raise LookupError(f"no user group {group_id}")


def buttons(message: dict[str, Any]) -> Sequence[str]:
    """The action ids of a message's buttons."""
    return [
        element.get("action_id", "")
        for block in message.get("blocks", [])
        if block.get("type") == "actions"
        for element in block.get("elements", [])
    ]
