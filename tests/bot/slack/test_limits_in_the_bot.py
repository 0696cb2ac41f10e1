"""One person cannot deny service (issue 11, item 10), as Slack meets the bot: signed requests
to the real HTTP server. Plans and dry runs are counted per person at the ack; dry runs run on
their own small pool, so an executor that never answers holds neither approvals nor alerts."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle import PlanKind
from fakes import signing as slack
from fakes.world import ONCALL, ONCALL_2, BotWorld
from integrations.base import Operation, Preview

INCIDENT = "C0INCIDENT"
LIMITED = "One person may ask for"
BUSY = "Too many dry runs"
RESULT = "Dry run of plan"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[BotWorld]:
    with BotWorld(tmp_path) as running:
        yield running


def now_ts(offset: float = 0) -> str:
    return f"{time.time() + offset:.6f}"


def command(world: BotWorld, text: str, user: str = ONCALL) -> Any:
    request = slack.slash_command(text, user=user, channel=INCIDENT, secret=world.secret)
    response = world.post(request)
    assert response.status_code == 200
    return response.json()


def click(world: BotWorld, action_id: str, value: str, user: str, ts: str) -> None:
    request = slack.block_action(
        action_id, value, user=user, channel=INCIDENT, message_ts=ts, secret=world.secret
    )
    assert world.post(request).status_code == 200


def ephemerals(world: BotWorld, containing: str, user: str | None = None) -> list[dict[str, Any]]:
    return [
        c.args
        for c in world.slack.calls_to("chat.postEphemeral")
        if containing in json.dumps(c.args, ensure_ascii=False)
        and (user is None or c.args.get("user") == user)
    ]


def live_plans(world: BotWorld) -> list[Any]:
    return [p for p in world.services.store.plans.recent() if p.kind == PlanKind.LIVE]


def record_bad_deploy(world: BotWorld) -> None:
    event = {
        "type": "message",
        "channel": world.deploys_channel,
        "bot_id": "B0CI",
        "username": "ci",
        "text": "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>",
        "ts": now_ts(-600),
    }
    assert world.post(slack.event_callback(event, secret=world.secret)).status_code == 200
    world.wait_for(lambda: world.services.store.incidents.changes_of("cartservice"))


def drafted(world: BotWorld, user: str = ONCALL) -> tuple[str, str]:
    """``/rollback plan cartservice``; the plan's id and its message's ts."""
    before = {p.id for p in live_plans(world)}
    command(world, "plan cartservice", user=user)
    plan = world.wait_for(lambda: [p for p in live_plans(world) if p.id not in before])[0]
    conversations = world.services.store.conversations
    message = world.wait_for(
        lambda: (m := conversations.plan_message(plan.id)) and not m.ts.startswith("pending:") and m
    )
    return plan.id, message.ts


class StuckPreviews:
    """An executor's preview that never returns until the test says so (a Kubernetes API that
    accepts the connection and never answers); counts the previews under way."""

    def __init__(self, preview: Any) -> None:
        self._preview = preview
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.waiting = 0

    def __call__(self, operation: Operation) -> Preview:
        with self._lock:
            self.waiting += 1
        assert self.release.wait(60), "the test never released the previews"
        with self._lock:
            self.waiting -= 1
        result: Preview = self._preview(operation)
        return result


def test_seven_plans_from_one_person_draft_five_and_refuse_two(world, caplog):
    """Seven ``/rollback plan`` in a burst: five drafted, two answered at once with the limit
    and the wait, and logged; another person is unaffected, and the limited person can still
    approve and abort."""
    record_bad_deploy(world)
    with caplog.at_level(logging.WARNING, logger="bot.slack.limits"):
        answers = [command(world, "plan cartservice") for _ in range(7)]
    drafting = [a for a in answers if "Drafting" in a["text"]]
    refused = [a for a in answers if LIMITED in a["text"]]
    assert (len(drafting), len(refused)) == (5, 2)
    assert all(a["response_type"] == "ephemeral" for a in refused)
    assert "5 plans a minute" in refused[0]["text"]
    assert "Try again in" in refused[0]["text"]
    refusals = [r for r in caplog.records if r.message.startswith("rate limit: plan by U0ONCALL1")]
    assert len(refusals) == 2
    world.settle()
    assert len(live_plans(world)) == 5

    plan_id, ts = drafted(world, user=ONCALL_2)
    assert len(live_plans(world)) == 6

    click(world, "backout_approve_stage", f"{plan_id}:partial", ONCALL, ts)
    world.wait_for(lambda: world.services.store.approvals.of(plan_id))
    assert command(world, f"abort {plan_id}")["text"].startswith("🛑")
    # Not started yet (one of two approvals), so aborting it rejects it.
    world.wait_for(lambda: world.services.store.plans.get(plan_id).status == "rejected")


def test_dry_runs_are_counted_per_person_for_the_command_and_the_button_alike(world):
    """Five dry runs a minute each: the sixth (a click) and the seventh (the command) of one
    person are refused ephemerally; the five allowed ones are answered with their result."""
    record_bad_deploy(world)
    plan_id, ts = drafted(world)
    for _ in range(3):
        assert "Simulating" in command(world, f"simulate {plan_id}")["text"]
    for _ in range(3):
        click(world, "backout_simulate", plan_id, ONCALL, ts)
    refusal = world.wait_for(lambda: ephemerals(world, LIMITED, ONCALL))
    assert "5 dry runs a minute" in json.dumps(refusal, ensure_ascii=False)
    assert LIMITED in command(world, f"simulate {plan_id}")["text"]
    results = world.wait_for(lambda: len(ephemerals(world, RESULT, ONCALL)) >= 5 or None)
    assert results is True
    world.settle()
    assert len(ephemerals(world, RESULT, ONCALL)) == 5


def test_stuck_dry_runs_never_hold_up_an_approval_or_an_alert(world, monkeypatch):
    """Twenty dry runs against a Kubernetes API that never answers (four people, five each,
    half by command, half by button): two run and hang, eight wait, ten are told to try again
    shortly. Meanwhile an approval click and a new alert are handled as usual; once the API
    answers, the ten queued dry runs all report."""
    record_bad_deploy(world)
    plan_id, ts = drafted(world)
    stuck = StuckPreviews(world.executor.preview)
    monkeypatch.setattr(world.executor, "preview", stuck)
    try:
        busy_answers = 0
        for n in range(20):
            user = f"U0SIM{n % 4}"
            if n % 2:
                click(world, "backout_simulate", plan_id, user, ts)
            else:
                text = command(world, f"simulate {plan_id}", user=user)["text"]
                busy_answers += BUSY in text
        world.wait_for(lambda: stuck.waiting == 2)
        world.wait_for(lambda: busy_answers + len(ephemerals(world, BUSY)) == 10)
        assert ephemerals(world, LIMITED) == []

        click(world, "backout_approve_stage", f"{plan_id}:partial", ONCALL, ts)
        world.wait_for(lambda: ONCALL in world.services.store.approvals.of(plan_id).get("s1", ()))
        world.wait_for(lambda: ephemerals(world, "You approved", ONCALL))

        fired = now_ts()
        alert = {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": "B0ALERTMGR",
            "channel": world.alerts_channel,
            "ts": fired,
            "text": "[FIRING:1] HighErrorRate cartservice service=cartservice",
        }
        assert world.post(slack.event_callback(alert, secret=world.secret)).status_code == 200
        world.wait_for(
            lambda: [
                c
                for c in world.slack.calls_to("chat.postMessage")
                if c.args.get("thread_ts") == fired
            ]
        )

        assert stuck.waiting == 2, "the dry runs were still stuck all along"
        assert ephemerals(world, RESULT) == []
    finally:
        stuck.release.set()
    world.wait_for(lambda: len(ephemerals(world, RESULT)) == 10)
    world.settle()
    assert len(ephemerals(world, RESULT)) == 10
