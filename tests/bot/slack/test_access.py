"""Plans are read only by their channel's members and their approvers (issue 11, item 1), as
Slack meets the bot: signed requests to the real HTTP server, the fake Slack listing who is in
which channel. A stranger in another channel gets no plan from ``status``, ``status <plan>``,
``history``, ``simulate`` or the *Simulate* button, and no preview runs for them; members and
approvers get what they asked for; reads and refusals are audited."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle import PlanKind
from fakes import signing as slack
from fakes.world import ONCALL, ONCALL_2, STRANGER, BotWorld
from integrations.base import Operation, Preview

INCIDENT = "C0INCIDENT"
OTHER = "C0OTHER"
MEMBER = "U0MEMBER1"
REFUSED = "Sorry, I can"
RESULT = "Dry run of plan"


class RecordedPreviews:
    """The executor's previews, counted (each dry run previews the plan's steps)."""

    def __init__(self, preview: Any) -> None:
        self._preview = preview
        self._lock = threading.Lock()
        self.operations: list[Operation] = []

    def __call__(self, operation: Operation) -> Preview:
        with self._lock:
            self.operations.append(operation)
        result: Preview = self._preview(operation)
        return result


@pytest.fixture
def world(tmp_path: Path) -> Iterator[BotWorld]:
    with BotWorld(tmp_path) as running:
        running.slack.set_channel_members(INCIDENT, [ONCALL, MEMBER])
        running.slack.set_channel_members(OTHER, [STRANGER, MEMBER, ONCALL_2])
        yield running


@pytest.fixture
def previews(world: BotWorld, monkeypatch: pytest.MonkeyPatch) -> RecordedPreviews:
    recorded = RecordedPreviews(world.executor.preview)
    monkeypatch.setattr(world.executor, "preview", recorded)
    return recorded


def command(world: BotWorld, text: str, *, user: str, channel: str = OTHER) -> Any:
    response = world.post(
        slack.slash_command(text, user=user, channel=channel, secret=world.secret)
    )
    assert response.status_code == 200
    return response.json()


def click_simulate(world: BotWorld, plan_id: str, *, user: str, channel: str = OTHER) -> None:
    request = slack.block_action(
        "backout_simulate",
        plan_id,
        user=user,
        channel=channel,
        message_ts=f"{time.time():.6f}",
        secret=world.secret,
    )
    assert world.post(request).status_code == 200


def answers(world: BotWorld, user: str, containing: str = "") -> list[str]:
    """The ephemeral messages shown to ``user``, as JSON text."""
    shown = [
        json.dumps(c.args, ensure_ascii=False)
        for c in world.slack.calls_to("chat.postEphemeral")
        if c.args.get("user") == user
    ]
    return [s for s in shown if containing in s]


def audited(world: BotWorld, action: str) -> list[tuple[str, str]]:
    entries = world.services.store.audit.entries()
    return [(e.actor, e.subject) for e in entries if e.action == action]


def drafted_plan(world: BotWorld) -> str:
    """A bad deploy, then ``/rollback plan cartservice`` by the on-call in the incident channel;
    the plan's id once its message is posted there."""
    deploy = {
        "type": "message",
        "channel": world.deploys_channel,
        "bot_id": "B0CI",
        "username": "ci",
        "text": "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>",
        "ts": f"{time.time() - 600:.6f}",
    }
    assert world.post(slack.event_callback(deploy, secret=world.secret)).status_code == 200
    world.wait_for(lambda: world.services.store.incidents.changes_of("cartservice"))
    command(world, "plan cartservice", user=ONCALL, channel=INCIDENT)
    plans = world.services.store.plans
    plan = world.wait_for(lambda: [p for p in plans.recent() if p.kind == PlanKind.LIVE])[0]
    conversations = world.services.store.conversations
    world.wait_for(
        lambda: (m := conversations.plan_message(plan.id)) and not m.ts.startswith("pending:")
    )
    return str(plan.id)


def test_a_stranger_in_another_channel_reads_nothing(world, previews):
    """``status``, ``status <plan>`` and ``history`` from another channel show a stranger no
    plan (no blocks, no id), and the refusal says why; each refusal is audited."""
    plan_id = drafted_plan(world)

    command(world, "status", user=STRANGER)
    latest = world.wait_for(lambda: answers(world, STRANGER, "No plan you can see"))
    command(world, f"status {plan_id}", user=STRANGER)
    refused = world.wait_for(lambda: answers(world, STRANGER, REFUSED))
    command(world, "history cartservice", user=STRANGER)
    history = world.wait_for(lambda: answers(world, STRANGER, "Plans that touched it"))
    world.settle()

    for shown in (latest, history):
        assert plan_id not in shown[0]
    assert "backout_approve" not in json.dumps(answers(world, STRANGER))
    assert "the channel it is posted in" in refused[0]
    assert audited(world, "plan.read_refused") == [(STRANGER, plan_id)]
    assert (STRANGER, plan_id) not in audited(world, "plan.read")


def test_a_stranger_cannot_preview_a_plan_by_command_or_button(world, previews):
    """``/rollback simulate`` is refused in the ack and the *Simulate* button with an ephemeral
    answer; no preview runs for them (a member's dry run afterwards previews the plan once)."""
    plan_id = drafted_plan(world)

    answer = command(world, f"simulate {plan_id}", user=STRANGER)
    assert REFUSED in answer["text"] and "dry run" in answer["text"]
    click_simulate(world, plan_id, user=STRANGER)
    world.wait_for(lambda: answers(world, STRANGER, REFUSED))
    world.settle()
    assert previews.operations == []

    click_simulate(world, plan_id, user=MEMBER)
    world.wait_for(lambda: answers(world, MEMBER, RESULT))
    world.settle()
    steps = world.services.store.plans.get(plan_id).plan.steps
    assert len(previews.operations) == len([s for s in steps if s.executor])
    assert answers(world, STRANGER, RESULT) == []
    assert audited(world, "plan.read_refused") == [(STRANGER, plan_id), (STRANGER, plan_id)]
    assert audited(world, "plan.simulated") == [(MEMBER, plan_id)]


def test_a_channel_member_reads_and_previews_from_another_channel(world, previews):
    """A member of the plan's channel, asking elsewhere, gets the latest plan, the plan by id
    with its buttons, the history listing it, and a dry run; each read is audited."""
    plan_id = drafted_plan(world)

    command(world, "status", user=MEMBER)
    world.wait_for(lambda: answers(world, MEMBER, "backout_simulate"))
    command(world, f"status {plan_id}", user=MEMBER)
    world.wait_for(lambda: len(answers(world, MEMBER, "backout_simulate")) == 2)
    command(world, "history cartservice", user=MEMBER)
    history = world.wait_for(lambda: answers(world, MEMBER, "Plans that touched it"))
    assert plan_id in history[0]
    assert "Simulating" in command(world, f"simulate {plan_id}", user=MEMBER)["text"]
    world.wait_for(lambda: answers(world, MEMBER, RESULT))
    world.settle()

    assert previews.operations
    assert audited(world, "plan.read").count((MEMBER, plan_id)) == 3
    assert audited(world, "plan.simulated") == [(MEMBER, plan_id)]
    assert audited(world, "plan.read_refused") == []


def test_an_approver_outside_the_channel_reads_and_previews(world, previews):
    """An approver who is not in the plan's channel still reads it and may preview it."""
    plan_id = drafted_plan(world)

    command(world, f"status {plan_id}", user=ONCALL_2)
    world.wait_for(lambda: answers(world, ONCALL_2, "backout_approve"))
    click_simulate(world, plan_id, user=ONCALL_2)
    world.wait_for(lambda: answers(world, ONCALL_2, RESULT))
    world.settle()

    assert previews.operations
    assert (ONCALL_2, plan_id) in audited(world, "plan.read")
    assert audited(world, "plan.simulated") == [(ONCALL_2, plan_id)]


def test_asking_in_the_plans_own_channel_needs_no_member_list(world):
    """In the plan's channel, ``/rollback status`` shows its latest plan to whoever asks there
    (Slack lets only the channel's members use it: here someone who just joined, not yet on
    the member list), without asking Slack who is in the channel."""
    plan_id = drafted_plan(world)
    newcomer = "U0NEWCOMER"

    command(world, "status", user=newcomer, channel=INCIDENT)
    shown = world.wait_for(lambda: answers(world, newcomer, "backout_simulate"))
    world.settle()

    assert plan_id in shown[0]
    assert world.slack.calls_to("conversations.members") == []


def test_a_member_on_the_last_page_of_a_big_channel_is_found(world):
    """Membership is read page by page (``conversations.members`` gives at most 1,000 a
    page): a member listed last among 2,500 reads the plan; the list is then cached, so a
    second read asks Slack nothing more."""
    plan_id = drafted_plan(world)
    crowd = [f"U0CROWD{n:04d}" for n in range(2_499)]
    world.slack.set_channel_members(INCIDENT, [ONCALL, *crowd[:-1], MEMBER])

    for _ in range(2):
        command(world, f"status {plan_id}", user=MEMBER)
    world.wait_for(lambda: len(answers(world, MEMBER, "backout_simulate")) == 2)
    world.settle()

    pages = world.slack.calls_to("conversations.members")
    assert [c.args.get("cursor") for c in pages] == [None, "members:1000", "members:2000"]
    assert audited(world, "plan.read").count((MEMBER, plan_id)) == 2
