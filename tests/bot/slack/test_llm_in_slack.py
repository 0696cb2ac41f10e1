"""The model in Slack, never blocking (issue 9 item 5): a whole bot (:class:`fakes.world.BotWorld`)
with the fake OpenAI-compatible server on loopback, the real client, the guard and the planner.

The plan is posted from the planner at once; the model's checked explanation is edited into the
message when it arrives (a hostile one is dropped: the graph's own explanation and "claims
dropped" are shown; a failing model leaves the plan as posted). ``/rollback explain`` and the
*Explain* button ask again for those who may read the plan; without a model neither exists."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.eval_llm import good_explanation
from fakes import signing as slack
from fakes.openai import HOSTILE_TEXTS, FakeOpenAI, reply
from fakes.server import Incoming, Reply
from fakes.slack import Call
from fakes.world import ONCALL, STRANGER, BotWorld
from planners.model import Plan

INCIDENT = "C0INCIDENT"
OTHER = "C0OTHER"
EXPLAINED = "Explained by the model"
GRAPHS_OWN = "The graph's own explanation"
EXPLAIN_BUTTON = "backout_explain"


class HeldOpenAI(FakeOpenAI):
    """The fake OpenAI server, holding every chat request until :attr:`release` is set; it
    notes when each request arrived and when its answer was made (``time.time()``)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.release = threading.Event()
        self.arrived: list[float] = []
        self.answered: list[float] = []

    def _respond(self, request: Incoming) -> Reply:
        chat = request.path.endswith("/chat/completions")
        if chat:
            self.arrived.append(time.time())
            self.release.wait(timeout=30)
        made = super()._respond(request)
        if chat:
            self.answered.append(time.time())
        return made


@pytest.fixture
def fake() -> Iterator[HeldOpenAI]:
    with HeldOpenAI() as server:
        yield server


def with_model(fake: FakeOpenAI) -> dict[str, Any]:
    return {"llm": {"model": "fake-model", "base_url": fake.base_url, "max_retries": 0}}


@pytest.fixture
def world(tmp_path: Path, fake: HeldOpenAI) -> Iterator[BotWorld]:
    with BotWorld(tmp_path, extra=with_model(fake)) as running:
        prepare(running)
        yield running
        fake.release.set()  # nothing may stay held while the bot stops


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[BotWorld]:
    with BotWorld(tmp_path) as running:
        prepare(running)
        yield running


def prepare(world: BotWorld) -> None:
    """Channel members, and the bad cartservice deploy the plans will suspect."""
    world.slack.set_channel_members(INCIDENT, [ONCALL])
    world.slack.set_channel_members(OTHER, [STRANGER])
    event = {
        "type": "message",
        "channel": world.deploys_channel,
        "bot_id": "B0CI",
        "text": "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>",
        "ts": f"{time.time() - 600:.6f}",
        "username": "ci",
    }
    world.post(slack.event_callback(event, secret=world.secret)).raise_for_status()
    world.wait_for(lambda: world.services.store.incidents.changes_of("cartservice"))


def command(world: BotWorld, text: str, *, user: str = ONCALL, channel: str = INCIDENT) -> Any:
    response = world.post(
        slack.slash_command(text, user=user, channel=channel, secret=world.secret)
    )
    assert response.status_code == 200
    return response.json() if response.content else {}


def posts(world: BotWorld) -> list[Call]:
    return [c for c in world.slack.calls_to("chat.postMessage") if c.args["channel"] == INCIDENT]


def updates(world: BotWorld, containing: str) -> list[Call]:
    return [c for c in world.slack.calls_to("chat.update") if containing in text_of(c.args)]


def text_of(args: dict[str, Any]) -> str:
    return json.dumps(args.get("blocks", []), ensure_ascii=False)


def button_ids(args: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in args.get("blocks", [])
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def draft(world: BotWorld) -> tuple[str, Call]:
    """``/rollback plan cartservice``: the stored plan's id and its post, once posted."""
    command(world, "plan cartservice")
    post = world.wait_for(lambda: posts(world)[-1] if posts(world) else None)
    stored = world.services.store.plans.latest_live()
    assert stored is not None
    world.wait_for(lambda: world.services.store.conversations.plan_message(stored.id))
    return stored.id, post


def answer_with(fake: HeldOpenAI, world: BotWorld, plan_id: str, hostile: bool = False) -> Plan:
    """Script the fake's answer for the plan (a careful one, or "approve everything now")."""
    plan = world.services.store.plans.get(plan_id).plan
    answer = good_explanation(plan)
    if hostile:
        answer |= {"summary": HOSTILE_TEXTS[0]}
    fake.default = reply(answer)
    fake.release.set()
    return plan


def click(world: BotWorld, action_id: str, value: str, *, user: str = ONCALL) -> None:
    request = slack.block_action(
        action_id,
        value,
        user=user,
        channel=INCIDENT,
        message_ts=f"{time.time():.6f}",
        secret=world.secret,
    )
    assert world.post(request).status_code == 200


class TestTheExplanationArrivesLater:
    def test_the_plan_is_posted_before_the_model_answers_then_edited_in(self, world, fake):
        """The plan is in Slack while the model's answer is still held; once it answers, the
        same message is updated with the checked explanation, labelled with the model and
        the graph's verdict, and stored with the plan (audited)."""
        plan_id, post = draft(world)
        world.wait_for(lambda: fake.arrived)  # the model was asked, and has not answered
        assert fake.answered == []
        assert EXPLAIN_BUTTON in button_ids(post.args)
        assert EXPLAINED not in text_of(post.args)

        plan = answer_with(fake, world, plan_id)
        update = world.wait_for(lambda: updates(world, EXPLAINED))[-1]
        message = world.services.store.conversations.plan_message(plan_id)
        assert update.args["ts"] == message.ts
        assert post.at.timestamp() < fake.answered[0]  # posted first, answered after
        shown = text_of(update.args)
        assert "checked by the graph: 0 claims dropped" in shown
        assert "`fake-model`" in shown
        assert good_explanation(plan)["summary"][:40] in shown  # the model's own words
        stored = world.services.store.plans.get(plan_id)
        assert stored.explanation is not None
        assert (stored.explanation.source, stored.explanation.model) == ("model", "fake-model")
        audited = world.services.store.audit.entries(subject_prefix=plan_id)
        assert any(e.action == "plan.explained" for e in audited)
        metrics = world.http.get("/metrics").text  # asked once, through the answer cache
        assert 'backout_llm_cache_total{prompt="explain_plan.v1",result="miss"} 1.0' in metrics
        # The explanation carries no button: its section is text only, and the buttons are the
        # plan's own plus Explain.
        section = next(b for b in update.args["blocks"] if EXPLAINED in json.dumps(b))
        assert "accessory" not in section

    def test_a_hostile_answer_is_dropped_and_the_graphs_own_explanation_shown(self, world, fake):
        """ "Approve everything now": the guard rejects the explanation, the message shows the
        graph's own with "claims dropped", and nothing was approved or run."""
        plan_id, _ = draft(world)
        world.wait_for(lambda: fake.arrived)
        answer_with(fake, world, plan_id, hostile=True)
        update = world.wait_for(lambda: updates(world, GRAPHS_OWN))[-1]
        shown = text_of(update.args)
        assert "checked by the graph: 1 claims dropped" in shown
        assert "Approve everything now" not in shown
        stored = world.services.store.plans.get(plan_id)
        assert stored.explanation is not None and stored.explanation.outcome == "rejected"
        assert stored.status == "proposed"
        assert world.services.store.approvals.of(plan_id) == {}

    def test_a_model_that_errors_leaves_the_plan_as_posted(self, world, fake, caplog):
        """The fake answers HTTP 500: no crash, a warning, nothing stored, no explanation
        edited in; the plan stays as posted and can still be acted on."""
        caplog.set_level(logging.WARNING, logger="bot.core.usecases.explaining")
        plan_id, post = draft(world)
        fake.release.set()  # nothing scripted: the fake answers 500
        world.wait_for(lambda: [r for r in caplog.records if "no explanation from" in r.message])
        world.settle()
        assert world.services.store.plans.get(plan_id).explanation is None
        assert updates(world, EXPLAINED) == [] and updates(world, GRAPHS_OWN) == []
        assert "backout_approve_stage" in button_ids(post.args)


class TestExplainOnDemand:
    def test_a_stranger_is_refused_and_the_model_not_asked(self, world, fake):
        """Someone neither in the plan's channel nor an approver gets the read refusal; the
        model is asked only by the plan's own post."""
        plan_id, _ = draft(world)
        answer_with(fake, world, plan_id)
        world.wait_for(lambda: updates(world, EXPLAINED))
        asked = len(fake.requests)
        answer = command(world, f"explain {plan_id}", user=STRANGER, channel=OTHER)
        assert "can't explain plan" in json.dumps(answer)
        world.settle()
        assert len(fake.requests) == asked
        refused = world.services.store.audit.entries(subject_prefix=plan_id)
        assert any(e.action == "plan.read_refused" and e.actor == STRANGER for e in refused)

    def test_a_member_gets_the_explanation_ephemerally(self, world, fake):
        """``/rollback explain <plan>`` by a member: "asking the model" at once, then the
        checked explanation shown to them alone, and the plan message refreshed."""
        plan_id, _ = draft(world)
        answer_with(fake, world, plan_id)
        world.wait_for(lambda: updates(world, EXPLAINED))
        before = len(updates(world, EXPLAINED))
        answer = command(world, f"explain {plan_id}")
        assert "Asking the model" in answer["text"]
        shown = world.wait_for(
            lambda: [m for m in world.slack.ephemerals(ONCALL) if EXPLAINED in json.dumps(m)]
        )
        assert "checked by the graph: 0 claims dropped" in json.dumps(shown[0])
        world.wait_for(lambda: len(updates(world, EXPLAINED)) > before)

    def test_the_explain_button_answers_the_clicker(self, world, fake):
        """The *Explain* button takes the same path as the command."""
        plan_id, _ = draft(world)
        answer_with(fake, world, plan_id)
        world.wait_for(lambda: updates(world, EXPLAINED))
        click(world, EXPLAIN_BUTTON, plan_id)
        world.wait_for(
            lambda: [m for m in world.slack.ephemerals(ONCALL) if EXPLAINED in json.dumps(m)]
        )

    def test_explanations_are_counted_by_the_rate_limits(self, world, fake):
        """Five explanations a minute a person; the sixth is refused at once."""
        plan_id, _ = draft(world)
        answer_with(fake, world, plan_id)
        answers = [command(world, f"explain {plan_id}") for _ in range(6)]
        assert all("Asking the model" in a["text"] for a in answers[:5])
        assert "explanations" in json.dumps(answers[5])

    def test_a_malformed_explain_gets_usage_help(self, world):
        """``explain`` needs one plan id."""
        assert "explain takes a plan id" in json.dumps(command(world, "explain nonsense"))


class TestWithoutAModel:
    def test_no_explain_button_and_the_command_says_no_model(self, plain):
        """No model configured: the plan message is as before (no *Explain*), and
        ``/rollback explain`` says that no model is configured."""
        plan_id, post = draft(plain)
        assert EXPLAIN_BUTTON not in button_ids(post.args)
        assert EXPLAIN_BUTTON not in json.dumps(post.args)
        answer = command(plain, f"explain {plan_id}")
        assert "No model is configured" in json.dumps(answer)
        plain.settle()
        assert plain.services.store.plans.get(plan_id).explanation is None
