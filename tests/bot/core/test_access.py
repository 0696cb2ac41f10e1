"""Who may read a plan (issue 11, item 1), without Slack: the rule of :mod:`bot.core.access` on
its own, and the :class:`~bot.core.usecases.Queries` that apply it to stored plans and audit
every read and refusal."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.access import Access
from bot.core.policy import PolicyConfig
from bot.core.usecases import Queries
from bot.store import PlanNotFoundError, Store
from planners import Fragment, Service, build_topology
from planners.model import Plan
from tests.support.store import make_plan

APPROVER = "U0APPROVER"
MEMBER = "U0MEMBER"
STRANGER = "U0STRANGER"
OWNER = "U0OWNER"
INCIDENT = "C0INCIDENT"
ELSEWHERE = "C0ELSEWHERE"


class Channels:
    """Channel members as Slack would list them; counts the lookups."""

    def __init__(self, members: dict[str, set[str]] | None = None) -> None:
        self._members = members if members is not None else {INCIDENT: {MEMBER}}
        self.asked: list[str] = []

    def members(self, channel_id: str) -> frozenset[str]:
        self.asked.append(channel_id)
        if channel_id not in self._members:
            raise LookupError(f"channel {channel_id}: channel_not_found")
        return frozenset(self._members[channel_id])


class NoGroups:
    def members(self, group_id: str) -> frozenset[str]:
        raise LookupError(f"no user group {group_id}")


def access(channels: Channels | None = None, **config: object) -> Access:
    services = [Service(name="frontend", team="web", owners=(OWNER,))]
    topology, problems = build_topology([Fragment(origin="t", services=services)])
    assert problems == []
    policy = PolicyConfig.model_validate({"approvers": [APPROVER], **config})
    return Access.from_policy(
        policy, topology=topology, groups=NoGroups(), channels=channels or Channels()
    )


PLAN = make_plan(2)


class TestTheRule:
    def test_a_member_of_the_plans_channel_may_read_it_from_anywhere(self):
        """Membership comes from the channel's member list (asked in another channel)."""
        channels = Channels()
        decision = access(channels).may_read(MEMBER, PLAN, posted_in=INCIDENT, asked_in=ELSEWHERE)
        assert decision.allowed
        assert channels.asked == [INCIDENT]

    def test_a_stranger_elsewhere_may_not_and_is_told_why(self):
        """Neither in the plan's channel nor an approver: refused, naming the channel."""
        decision = access().may_read(STRANGER, PLAN, posted_in=INCIDENT, asked_in=ELSEWHERE)
        assert not decision.allowed
        assert f"not a member of {INCIDENT}" in decision.reason
        assert "may approve none of its steps" in decision.reason

    def test_asking_in_the_plans_own_channel_needs_no_lookup(self):
        """Slack lets only a channel's members use it, so asking there is enough."""
        channels = Channels({})
        decision = access(channels).may_read(STRANGER, PLAN, posted_in=INCIDENT, asked_in=INCIDENT)
        assert decision.allowed
        assert channels.asked == []

    def test_an_approver_may_read_a_plan_of_a_channel_they_are_not_in(self):
        """Approvers read every plan they could approve, without a channel lookup."""
        channels = Channels()
        decision = access(channels).may_read(APPROVER, PLAN, posted_in=INCIDENT, asked_in=ELSEWHERE)
        assert decision.allowed
        assert "approver" in decision.reason
        assert channels.asked == []

    def test_approvers_still_read_in_suggest_mode(self):
        """In learning mode nobody may approve, but the approvers may still read plans."""
        # Access.from_policy judges approvers in approve mode whatever mode Backout runs in.
        decision = access().may_read(APPROVER, PLAN, posted_in=None, asked_in=ELSEWHERE)
        assert decision.allowed

    def test_a_service_owner_may_read_a_plan_without_steps_on_their_service(self):
        """An abstained plan (no steps) is readable by the owners of its incident's services."""
        abstained = Plan.model_validate(
            PLAN.model_dump(by_alias=True) | {"steps": [], "abstained": True}
        )
        decision = access().may_read(OWNER, abstained, posted_in=INCIDENT, asked_in=ELSEWHERE)
        assert decision.allowed
        assert "owner of frontend" in decision.reason

    def test_a_plan_posted_nowhere_is_for_its_approvers_only(self):
        """A plan saved from the command line has no channel: only approvers read it."""
        assert access().may_read(APPROVER, PLAN, posted_in=None, asked_in=ELSEWHERE).allowed
        refused = access().may_read(MEMBER, PLAN, posted_in=None, asked_in=ELSEWHERE)
        assert not refused.allowed
        assert "posted in no channel" in refused.reason

    def test_an_unreadable_member_list_refuses_and_says_so(self):
        """When Slack cannot list the channel's members, nobody outside it but approvers reads
        the plan, and the reason says the list could not be read."""
        decision = access(Channels({})).may_read(
            MEMBER, PLAN, posted_in=INCIDENT, asked_in=ELSEWHERE
        )
        assert not decision.allowed
        assert "could not be read" in decision.reason


@pytest.fixture
def store(tmp_path: Path, migrated_sqlite_file: Path) -> Iterator[Store]:
    path = tmp_path / "backout.db"
    shutil.copyfile(migrated_sqlite_file, path)
    ticks = itertools.count()
    start = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

    def clock() -> datetime:  # every plan strictly newer than the one before
        return start + timedelta(seconds=next(ticks))

    with Store.from_url(f"sqlite:///{path}", upgrade=False, clock=clock) as opened:
        yield opened


def posted(store: Store, channel: str | None, *, incident: str = "inc-1") -> str:
    plan_id = store.plans.save(make_plan(2, incident=incident))
    if channel is not None:
        store.conversations.set_plan_message(plan_id, channel=channel, ts=f"1.{plan_id[3:]}")
    return plan_id


def audited(store: Store, action: str) -> list[tuple[str, str, str]]:
    return [
        (e.actor, e.subject, str(e.details.get("via")))
        for e in store.audit.entries()
        if e.action == action
    ]


class TestQueries:
    def test_reads_and_refusals_are_audited(self, store):
        """A read is audited as ``plan.read``, a refusal as ``plan.read_refused``, each with
        the channel asked from and the reason."""
        queries = Queries(store=store, access=access())
        plan_id = posted(store, INCIDENT)
        assert queries.read(plan_id, user=MEMBER, channel=ELSEWHERE).allowed
        refused = queries.read(plan_id, user=STRANGER, channel=ELSEWHERE)
        assert not refused.allowed
        assert audited(store, "plan.read") == [(MEMBER, plan_id, "status")]
        assert audited(store, "plan.read_refused") == [(STRANGER, plan_id, "status")]
        entry = next(e for e in store.audit.entries() if e.action == "plan.read_refused")
        assert entry.details["channel"] == ELSEWHERE
        assert INCIDENT in entry.details["reason"]

    def test_an_unknown_plan_is_not_found(self, store):
        """Asking for a plan id nobody drafted raises, and audits nothing."""
        queries = Queries(store=store, access=access())
        with pytest.raises(PlanNotFoundError):
            queries.read("pl-deadbeef", user=MEMBER, channel=INCIDENT)
        assert audited(store, "plan.read") == audited(store, "plan.read_refused") == []

    def test_latest_prefers_this_channels_plan_then_the_newest_readable(self, store):
        """``/rollback status``: this channel's newest plan first, then the newest one the user
        may read elsewhere; a stranger elsewhere gets none."""
        queries = Queries(store=store, access=access())
        here = posted(store, ELSEWHERE)
        incident = posted(store, INCIDENT)  # newer, but in a channel the asker may not be in
        assert queries.latest(user=STRANGER, channel=ELSEWHERE) == here
        assert queries.latest(user=MEMBER, channel="C0THIRD") == incident
        assert queries.latest(user=STRANGER, channel="C0THIRD") is None
        assert audited(store, "plan.read") == [
            (STRANGER, here, "status"),
            (MEMBER, incident, "status"),
        ]

    def test_history_lists_only_the_plans_the_user_may_read(self, store):
        """A service's history shows the plans of the asker's channels and hides the others."""
        queries = Queries(store=store, access=access())
        private = posted(store, INCIDENT)
        public = posted(store, ELSEWHERE)
        _, for_stranger = queries.history("frontend", user=STRANGER, channel=ELSEWHERE)
        _, for_member = queries.history("frontend", user=MEMBER, channel=ELSEWHERE)
        assert [p.id for p in for_stranger] == [public]
        assert [p.id for p in for_member] == [public, private]
        assert (STRANGER, private, "history") not in audited(store, "plan.read")
        assert (MEMBER, private, "history") in audited(store, "plan.read")

    def test_a_dry_run_is_checked_and_audited(self, store):
        """A stranger's dry run is refused (audited); an allowed one is audited once started."""
        queries = Queries(store=store, access=access())
        plan_id = posted(store, INCIDENT)
        assert not queries.may_simulate(plan_id, user=STRANGER, channel=ELSEWHERE).allowed
        assert queries.may_simulate(plan_id, user=MEMBER, channel=ELSEWHERE).allowed
        queries.simulated(plan_id, user=MEMBER, channel=ELSEWHERE)
        assert audited(store, "plan.read_refused") == [(STRANGER, plan_id, "simulate")]
        assert [
            (e.actor, e.subject) for e in store.audit.entries() if e.action == "plan.simulated"
        ] == [(MEMBER, plan_id)]
