"""An incident told right from first alert to summary (issue 10), as Slack meets the bot: alerts
posted by Alertmanager's Slack receiver on its defaults, clicks, and what the bot answers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle import PlanKind, StepStatus
from fakes import signing as slack
from fakes.world import ONCALL, ONCALL_2, BotWorld

# Alertmanager's default Slack title with its default route (no group_by): no group label values,
# the alert's labels in brackets (sorted by name: alertname, service, severity).
TITLE = "  (CartHighErrorRate cartservice critical)"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[BotWorld]:
    # A step slow enough to be seen running, and health that recovers once it is rolled back.
    with BotWorld(tmp_path, step_seconds=0.5) as running:
        yield running


def now_ts(offset: float = 0) -> str:
    return f"{time.time() + offset:.6f}"


def alertmanager(world: BotWorld, status: str, ts: str) -> None:
    """Alertmanager's Slack receiver posts ``[FIRING:1]`` or ``[RESOLVED]`` for the alert."""
    event = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0ALERTMGR",
        "username": "AlertManager",
        "channel": world.alerts_channel,
        "ts": ts,
        "text": "",
        "attachments": [
            {
                "color": "danger" if status.startswith("[FIRING") else "good",
                "title": f"{status}{TITLE}",
                "fallback": f"{status}{TITLE} | http://alertmanager.example.com:9093/#/alerts",
                "text": "",
            }
        ],
    }
    assert world.post(slack.event_callback(event, secret=world.secret)).status_code == 200


def record_bad_deploy(world: BotWorld) -> None:
    event = {
        "type": "message",
        "channel": world.deploys_channel,
        "bot_id": "B0CI",
        "username": "ci",
        "text": "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>",
        "ts": now_ts(-600),
    }
    world.post(slack.event_callback(event, secret=world.secret))
    world.wait_for(lambda: world.services.store.incidents.changes_of("cartservice"))


def live_plan_id(world: BotWorld) -> str | None:
    plans = [p for p in world.services.store.plans.recent() if p.kind == PlanKind.LIVE]
    return plans[0].id if plans else None


def plan_message(world: BotWorld, plan_id: str) -> Any:
    conversations = world.services.store.conversations
    return world.wait_for(
        lambda: (m := conversations.plan_message(plan_id)) and not m.ts.startswith("pending:") and m
    )


def summaries(world: BotWorld) -> list[dict[str, Any]]:
    return [
        c.args
        for c in world.slack.calls_to("chat.postMessage")
        if str(c.args.get("text", "")).startswith("Post-incident summary")
    ]


def click(world: BotWorld, action_id: str, value: str, user: str, ts: str) -> None:
    request = slack.block_action(
        action_id,
        value,
        user=user,
        channel=world.alerts_channel,
        message_ts=ts,
        secret=world.secret,
    )
    assert world.post(request).status_code == 200


def approve_both(world: BotWorld, plan_id: str, ts: str) -> None:
    """cartservice is critical: two on-call engineers approve the contain stage."""
    click(world, "backout_approve_stage", f"{plan_id}:partial", ONCALL, ts)
    world.wait_for(lambda: world.services.store.approvals.of(plan_id))
    click(world, "backout_approve_stage", f"{plan_id}:partial", ONCALL_2, ts)


def step_status(world: BotWorld, plan_id: str) -> set[StepStatus]:
    return {row.status for row in world.services.store.plans.get(plan_id).steps}


def test_default_route_resolution_closes_the_incident_and_brings_the_summary(world):
    """Defect 1: "[FIRING:1]  (…)" and "[RESOLVED]  (…)" of one alert are the same alert, so its
    resolution closes the incident and the summary follows in the alert's thread."""
    record_bad_deploy(world)
    fired = now_ts(-120)
    alertmanager(world, "[FIRING:1]", fired)
    plan_id = world.wait_for(lambda: live_plan_id(world))
    plan_message(world, plan_id)
    alertmanager(world, "[RESOLVED]", now_ts())
    (summary,) = world.wait_for(lambda: summaries(world))
    assert summary["thread_ts"] == fired
    incident = world.services.store.plans.get(plan_id).plan.incident.id
    assert world.services.store.incidents.incident(incident).status == "resolved"
    text = json.dumps(summary)
    assert "Time to resolve:* 2 min" in text


def test_the_same_alert_announced_again_gets_no_second_plan(world):
    """Alertmanager repeats a firing group (repeat_interval): the incident's plan stands."""
    record_bad_deploy(world)
    alertmanager(world, "[FIRING:1]", now_ts(-60))
    plan_id = world.wait_for(lambda: live_plan_id(world))
    alertmanager(world, "[FIRING:1]", now_ts())
    world.settle()
    live = [p for p in world.services.store.plans.recent() if p.kind == PlanKind.LIVE]
    assert [p.id for p in live] == [plan_id]


def test_summary_waits_for_execution_to_settle_and_is_then_updated_in_place(world):
    """Defect 3: the alert resolves while the rollback is running; the summary comes only once
    the step has settled (never saying "running"), reports time to mitigate and to resolve, and
    feedback afterwards updates that same message instead of posting another. Defect 6: the
    step's progress reply is in the alert's thread, the parent of the plan message."""
    record_bad_deploy(world)
    fired = now_ts(-60)
    alertmanager(world, "[FIRING:1]", fired)
    plan_id = world.wait_for(lambda: live_plan_id(world))
    message = plan_message(world, plan_id)
    assert message.thread_ts == fired
    approve_both(world, plan_id, message.ts)
    world.wait_for(lambda: StepStatus.RUNNING in step_status(world, plan_id))
    alertmanager(world, "[RESOLVED]", now_ts())
    (summary,) = world.wait_for(lambda: summaries(world), timeout=15)
    assert not step_status(world, plan_id) & {StepStatus.QUEUED, StepStatus.RUNNING}
    text = json.dumps(summary)
    assert "is *done*" in text
    assert "· running" not in text
    assert "Time to mitigate:* 1 min" in text
    assert "Time to resolve:*" in text
    world.settle()

    progress = [
        c.args
        for c in world.slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") and "s1" in json.dumps(c.args) and c.args not in summaries(world)
    ]
    assert progress
    assert {p["thread_ts"] for p in progress} == {fired}

    summary_ts = world.services.store.conversations.plan_message(plan_id).summary_ts
    assert summary_ts
    click(world, "backout_feedback_right", plan_id, ONCALL, summary_ts)
    world.wait_for(
        lambda: any(
            c.args.get("ts") == summary_ts and "feedback" in json.dumps(c.args)
            for c in world.slack.calls_to("chat.update")
        )
    )
    world.settle()
    assert len(summaries(world)) == 1


def test_a_change_backout_rolled_back_is_no_longer_a_suspect(world):
    """Defect 5: once the rollback of the bad deploy completed, the next incident on the service
    does not suspect that deploy again: the plan excludes it, saying it was rolled back."""
    record_bad_deploy(world)
    alertmanager(world, "[FIRING:1]", now_ts(-60))
    plan_id = world.wait_for(lambda: live_plan_id(world))
    first = world.services.store.plans.get(plan_id).plan
    culprit = first.suspects[0].change_id
    approve_both(world, plan_id, plan_message(world, plan_id).ts)
    world.wait_for(lambda: step_status(world, plan_id) == {StepStatus.DONE}, timeout=15)
    world.settle()

    event = {
        "type": "message",
        "bot_id": "B0ALERTMGR",
        "channel": world.alerts_channel,
        "ts": now_ts(),
        "text": "[FIRING:1]  (CartLatencyHigh cartservice warning)",
    }
    world.post(slack.event_callback(event, secret=world.secret))
    second = world.wait_for(lambda: live_plan_id(world) != plan_id and live_plan_id(world))
    plan = world.services.store.plans.get(second).plan
    assert culprit not in {s.change_id for s in plan.suspects}
    (excluded,) = [e for e in plan.excluded if e.change_id == culprit]
    assert excluded.why == f"no longer live: rolled back by plan {plan_id} (step s1)"


def test_a_message_standing_for_many_alerts_says_how_many(world):
    """Defect 8: "[FIRING:2000]" gets one plan, and the plan says it stands for 2,000 alerts."""
    record_bad_deploy(world)
    alertmanager(world, "[FIRING:2000]", now_ts())
    plan_id = world.wait_for(lambda: live_plan_id(world))
    message = plan_message(world, plan_id)
    shown = json.dumps(world.slack.message(message.channel, message.ts), ensure_ascii=False)
    assert "2,000 firing alerts" in shown
    world.settle()
    live = [p for p in world.services.store.plans.recent() if p.kind == PlanKind.LIVE]
    assert len(live) == 1


def test_a_standby_plan_says_what_it_is_and_how_to_use_it(world):
    """Defect 7: the standby plan shown in a deploy's thread reads as a ready plan for that
    deploy (no "first alert", no "0/2 approvals", no unknown mode) and says how to use it."""
    ts = now_ts(-60)
    deploy = {
        "type": "message",
        "channel": world.deploys_channel,
        "bot_id": "B0CI",
        "username": "ci",
        "text": "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>",
        "ts": ts,
    }
    world.post(slack.event_callback(deploy, secret=world.secret))
    planning = world.services.use_cases.planning
    world.wait_for(lambda: planning.standby_for(channel=world.deploys_channel, thread_ts=ts))
    ask = {
        "type": "message",
        "channel": world.deploys_channel,
        "user": ONCALL,
        "text": "show me the rollback plan",
        "ts": now_ts(),
        "thread_ts": ts,
    }
    world.post(slack.event_callback(ask, secret=world.secret))
    posted = world.wait_for(
        lambda: [
            c.args
            for c in world.slack.calls_to("chat.postMessage")
            if c.args.get("channel") == world.deploys_channel
        ]
    )
    text = json.dumps(posted[0], ensure_ascii=False)
    assert "Standby rollback plan for cartservice" in text
    assert "Kept ready to undo:* deploy of *cartservice*" in text
    assert "nothing has fired" in text
    assert "/rollback plan cartservice" in text
    for wrong in ("first alert", "0/2 approvals", "is not known", "Most likely cause"):
        assert wrong not in text
