"""Alert storms on the running bot (issue 10, build 2): 2,000 alerts in one payload, or hundreds of
payloads, make one incident, one plan and one Slack message, updated in place at most once per
interval with the last state always shown; a plan nothing of which has started is redrafted
under the same message (and a click on the old drawing approves nothing); a started plan keeps
its steps; the incident resolves, and the summary comes, only when all its alerts resolved."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.lifecycle import PlanStatus
from fakes import signing
from fakes.world import ONCALL, BotWorld
from tests.bot.core.alert_storm import (
    INCIDENT,
    INTERVAL,
    body,
    flush,
    incident_plan,
    live_plans,
    message_ts,
    posts,
    record_bad_deploy,
    send,
    storm_world,
    updates,
)

SERVICES = ("cartservice", "checkoutservice", "frontend")


def summaries(world: BotWorld) -> list[dict[str, Any]]:
    return [p for p in posts(world) if str(p.get("text", "")).startswith("Post-incident summary")]


def click_approve(world: BotWorld, value: str, ts: str) -> None:
    request = signing.block_action(
        "backout_approve_stage",
        value,
        user=ONCALL,
        channel=INCIDENT,
        message_ts=ts,
        secret=world.secret,
    )
    assert world.post(request).status_code == 200


def test_two_thousand_alerts_in_one_payload_make_one_incident_one_plan_one_message(
    tmp_path: Path,
) -> None:
    """One payload of 2,000 alerts on related services: one incident holding all of them, one
    plan, one message saying how many alerts it stands for; the payload sent again changes
    nothing and posts nothing."""
    with storm_world(tmp_path) as (world, clock):
        storm = body([(f"s{n:04d}", SERVICES[n % 3]) for n in range(2000)], at=clock.now)
        plan_id = send(world, storm)
        assert plan_id is not None
        assert send(world, storm) is None
        flush(world, clock)
        (plan,) = live_plans(world)
        tally = world.services.store.incidents.tally(plan.plan.incident.id)
        assert tally == (2000, 2000, 2000)
        (posted,) = posts(world)
        assert "this incident groups 2,000 alerts" in json.dumps(posted)
        assert updates(world, message_ts(world, plan_id)) == []


def test_a_joining_alert_redrafts_a_proposed_plan_in_its_message(tmp_path: Path) -> None:
    """A checkoutservice alert joins the cartservice incident whose plan nobody has touched: at
    the end of the interval the plan is redrafted from both alerts as a new plan shown in the
    same message (one post, then one update whose buttons name the new plan). The old plan is
    retired, so a click on a button drawn before the update is refused and approves nothing."""
    with storm_world(tmp_path) as (world, clock):
        record_bad_deploy(world, clock)
        old = send(world, body([("c1", "cartservice")], at=clock.now))
        assert old is not None
        ts = message_ts(world, old)
        assert send(world, body([("k1", "checkoutservice")], at=clock.now)) is None
        world.settle()
        assert updates(world, ts) == []  # within the interval: nothing yet

        flush(world, clock)
        new = incident_plan(world, old)
        assert new.id != old
        assert new.status == PlanStatus.PROPOSED
        assert set(new.plan.incident.services) == {"cartservice", "checkoutservice"}
        assert world.services.store.plans.get(old).status == PlanStatus.EXPIRED
        assert world.services.store.conversations.plan_at(INCIDENT, ts) == new.id
        assert len(posts(world)) == 1
        (update,) = updates(world, ts)
        drawn = json.dumps(update["blocks"])
        assert f'"{new.id}:partial"' in drawn
        assert old not in drawn

        click_approve(world, f"{old}:partial", ts)
        world.settle()
        store = world.services.store
        assert store.approvals.of(old) == {}
        assert store.approvals.of(new.id) == {}
        refusals = [e for e in store.audit.entries() if e.action == "approval.refused"]
        assert [e.subject for e in refusals] == [old]


def test_a_burst_is_coalesced_into_one_post_and_few_updates(tmp_path: Path) -> None:
    """300 payloads of new alerts while the clock runs two intervals on: one post, then one
    update when the first interval ends (after 200 payloads) and one when the last ends,
    showing the final state: a plan drafted from all 600 alerts, in the same message."""
    with storm_world(tmp_path) as (world, clock):
        record_bad_deploy(world, clock)
        start = clock.now
        first = send(world, body([("b000-0", "cartservice"), ("b000-1", "frontend")], at=start))
        assert first is not None
        ts = message_ts(world, first)
        for n in range(1, 300):
            alerts = [(f"b{n:03d}-{k}", SERVICES[(n + k) % 3]) for k in range(2)]
            assert send(world, body(alerts, at=start)) is None
            if n % 100 == 99:  # 40 s of the clock a hundred payloads: t+40, t+80, t+120
                clock.advance(INTERVAL * 2 / 3)
                world.services.use_cases.planning.flush_updates()
        world.settle()
        flush(world, clock)  # the end of the last interval: the last state lands

        assert len(posts(world)) == 1
        middle, last = (json.dumps(update["blocks"]) for update in updates(world, ts))
        shown = re.search(r"this incident groups (\d+) alerts", middle)
        assert shown is not None
        assert 400 <= int(shown[1]) < 600  # drawn while the last hundred payloads came in
        final = incident_plan(world, first)
        tally = world.services.store.incidents.tally(final.plan.incident.id)
        assert tally == (600, 600, 600)
        assert world.services.store.conversations.plan_at(INCIDENT, ts) == final.id
        assert "this incident groups 600 alerts" in last
        assert f'"{final.id}:partial"' in last
        flush(world, clock)
        assert len(updates(world, ts)) == 2  # nothing changed since: nothing more to show


def test_a_started_plan_keeps_its_steps_and_says_how_many_alerts_joined(tmp_path: Path) -> None:
    """Once a responder has approved part of the plan, joining alerts never change its steps:
    they are recorded, and the message (updated in place) says how many joined after it."""
    with storm_world(tmp_path) as (world, clock):
        record_bad_deploy(world, clock)
        plan_id = send(world, body([("c1", "cartservice")], at=clock.now))
        assert plan_id is not None
        ts = message_ts(world, plan_id)
        steps = world.services.store.plans.get(plan_id).plan.steps
        click_approve(world, f"{plan_id}:partial", ts)
        world.wait_for(lambda: world.services.store.approvals.of(plan_id))
        world.settle()

        send(world, body([("k1", "checkoutservice"), ("k2", "frontend")], at=clock.now))
        flush(world, clock)
        stored = incident_plan(world, plan_id)
        assert stored.id == plan_id
        assert stored.plan.steps == steps
        assert world.services.store.approvals.of(plan_id)
        last = json.dumps(updates(world, ts)[-1]["blocks"])
        assert "2 more joined after this plan was drafted" in last
        assert len(posts(world)) == 1


def test_the_incident_resolves_and_summarises_only_when_all_its_alerts_resolved(
    tmp_path: Path,
) -> None:
    """Two of three alerts resolving leave the incident open with no summary (the message says
    two resolved); the last one resolves it and the one summary follows in the plan's thread."""
    with storm_world(tmp_path) as (world, clock):
        record_bad_deploy(world, clock)
        alerts = [("c1", "cartservice"), ("c2", "cartservice"), ("k1", "checkoutservice")]
        plan_id = send(world, body(alerts, at=clock.now - timedelta(minutes=3)))
        assert plan_id is not None
        ts = message_ts(world, plan_id)
        incident_id = world.services.store.plans.get(plan_id).plan.incident.id
        incidents = world.services.store.incidents

        send(world, body(alerts[:2], at=clock.now - timedelta(minutes=3), status="resolved"))
        flush(world, clock)
        incident = incidents.incident(incident_id)
        assert incident is not None
        assert incident.status == "open"
        assert summaries(world) == []
        assert "2 resolved" in json.dumps(updates(world, ts)[-1]["blocks"])

        send(world, body(alerts[2:], at=clock.now - timedelta(minutes=3), status="resolved"))
        (summary,) = world.wait_for(lambda: summaries(world))
        assert summary["thread_ts"] == ts
        incident = incidents.incident(incident_id)
        assert incident is not None
        assert incident.status == "resolved"
        send(world, body(alerts, at=clock.now - timedelta(minutes=3), status="resolved"))
        flush(world, clock)
        assert len(summaries(world)) == 1
        assert "all resolved" in json.dumps(updates(world, ts)[-1]["blocks"])


def test_a_redraft_made_while_slack_was_down_lands_in_the_first_post(tmp_path: Path) -> None:
    """Slack refuses the plan's post (it waits in the outbox) and alerts join meanwhile: the
    redraft takes over the waiting message, and when Slack takes the post it is recorded as the
    redraft's message and updated at once to show it. One message in the channel."""
    with storm_world(tmp_path) as (world, clock):
        record_bad_deploy(world, clock)
        # Three refusals for the first post (with the client's retries), three for the
        # outbox's first try; its second try, seconds later, goes through.
        world.slack.fail_next("chat.postMessage", status=500, times=6)
        old = send(world, body([("c1", "cartservice")], at=clock.now))
        assert old is not None
        send(world, body([("k1", "checkoutservice")], at=clock.now))
        clock.advance(INTERVAL)
        world.services.use_cases.planning.flush_updates()  # the redraft
        # The outbox tries again 5 s after its first try failed (and slack_sdk backs off
        # between its own retries): wait for that delivery longer than settle's default.
        world.settle(timeout=60)

        store = world.services.store
        new = incident_plan(world, old)
        assert new.id != old
        assert store.conversations.plan_message(old) is None
        ts = message_ts(world, new.id)
        assert [m["ts"] for m in world.slack.messages(INCIDENT)] == [ts]
        (update,) = updates(world, ts)
        assert f'"{new.id}:partial"' in json.dumps(update["blocks"])
