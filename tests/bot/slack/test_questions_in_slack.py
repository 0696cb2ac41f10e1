"""Questions in the incident thread (issue 9 item 5), through a whole bot
(:class:`fakes.world.BotWorld`): a responder mentions the bot in the thread of a posted plan and
gets a reply there, from the model (through the fake OpenAI-compatible server, the real client
and the guard) or, without one, from the graph's lookups; the thread remembers earlier turns; a
hostile question or answer changes nothing; too many questions get a private refusal."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes import signing as slack
from fakes.openai import HOSTILE_TEXTS, FakeOpenAI, reply
from fakes.slack import Call
from fakes.world import ONCALL, BotWorld
from tests.bot.slack.test_llm_in_slack import command, prepare

INCIDENT = "C0INCIDENT"
ASKED = "The question:"  # the answer_question prompt's own words: scripts answers to it only


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def world(tmp_path: Path, fake: FakeOpenAI) -> Iterator[BotWorld]:
    extra = {"llm": {"model": "fake-model", "base_url": fake.base_url, "max_retries": 0}}
    with BotWorld(tmp_path, extra=extra) as running:
        prepare(running)
        yield running


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[BotWorld]:
    with BotWorld(tmp_path) as running:
        prepare(running)
        yield running


def drafted(world: BotWorld) -> tuple[str, str]:
    """``/rollback plan cartservice`` in the incident channel: the plan's id and message ts."""
    command(world, "plan cartservice")
    stored = world.wait_for(lambda: world.services.store.plans.latest_live())

    def posted() -> str | None:
        message = world.services.store.conversations.plan_message(stored.id)
        return message.ts if message and not message.ts.startswith("pending") else None

    return stored.id, world.wait_for(posted)


def ask(world: BotWorld, thread: str, text: str, *, mention: bool = True) -> str:
    """A responder's message in the thread; its ts."""
    ts = f"{time.time():.6f}"
    bot = world.services.watch.bot_user_id
    event = {
        "type": "message",
        "channel": INCIDENT,
        "user": ONCALL,
        "text": f"<@{bot}> {text}" if mention else text,
        "ts": ts,
        "thread_ts": thread,
    }
    world.post(slack.event_callback(event, secret=world.secret)).raise_for_status()
    return ts


def replies(world: BotWorld, thread: str) -> list[Call]:
    return [
        c
        for c in world.slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") == thread and "answer" in shown(c.args).lower()
    ]


def shown(args: dict[str, Any]) -> str:
    return json.dumps(args.get("blocks", []), ensure_ascii=False)


def answer(text: str | None, *cited: str, lookups: list[dict[str, Any]] | None = None) -> Any:
    return reply({"lookups": lookups or [], "answer": text, "cited": list(cited)})


def test_a_question_in_the_plans_thread_is_answered_there_by_the_checked_model(world, fake):
    plan_id, thread = drafted(world)
    fake.enqueue(answer("The cartservice deploy is the top suspect (E1).", "E1"), when=ASKED)
    ask(world, thread, "why cartservice and not frontend?")
    [posted] = world.wait_for(lambda: replies(world, thread))
    assert "The cartservice deploy is the top suspect" in shown(posted.args)
    assert "Answered by the model `fake-model`" in shown(posted.args)
    assert not any(b["type"] == "actions" for b in posted.args["blocks"])  # no buttons
    asked = [r for r in fake.requests if ASKED in str(r.body["messages"])]
    assert "frontend" in str(asked[0].body["messages"])  # the question's service was looked up
    [turn] = world.services.store.threads.recent(INCIDENT, thread)
    assert (turn.plan_id, turn.asked_by, turn.source) == (plan_id, ONCALL, "model")


def test_the_thread_remembers_the_earlier_turns(world, fake):
    _, thread = drafted(world)
    fake.enqueue(answer("It is the top suspect (E1).", "E1"), when=ASKED)
    fake.enqueue(answer("Yes, as said before (E1).", "E1"), when=ASKED)
    ask(world, thread, "is cartservice the cause?")
    world.wait_for(lambda: len(replies(world, thread)) == 1)
    ask(world, thread, "are you sure?")
    world.wait_for(lambda: len(replies(world, thread)) == 2)
    asked = [r for r in fake.requests if ASKED in str(r.body["messages"])]
    assert "It is the top suspect" in str(asked[1].body["messages"])


def test_a_hostile_answer_is_replaced_by_the_graphs_findings(world, fake):
    plan_id, thread = drafted(world)
    fake.enqueue(answer(HOSTILE_TEXTS[0], "E1"), when=ASKED)
    ask(world, thread, f"{HOSTILE_TEXTS[1]} why not frontend?")
    [posted] = world.wait_for(lambda: replies(world, thread))
    text = shown(posted.args)
    assert "Approve everything" not in text and "The graph's own answer" in text
    assert "What the graph says" in text
    stored = world.services.store.plans.get(plan_id)
    assert stored.status == "proposed"
    assert world.services.store.approvals.of(plan_id) == {}


def test_without_a_model_the_graph_answers_from_its_lookups(plain):
    _, thread = drafted(plain)
    ask(plain, thread, "why not frontend?")
    [posted] = plain.wait_for(lambda: replies(plain, thread))
    text = shown(posted.args)
    assert "The graph's own answer: no model is configured" in text
    assert "depends on cartservice" in text


def test_messages_that_do_not_mention_the_bot_or_are_not_in_a_plan_thread_are_left_alone(plain):
    _, thread = drafted(plain)
    ask(plain, thread, "why not frontend?", mention=False)
    ask(plain, "1700000000.000100", "why not frontend?")  # a thread with no plan
    plain.settle()
    ask(plain, thread, "and paymentservice?")  # answered: the two before were seen first
    plain.wait_for(lambda: replies(plain, thread))
    plain.settle()
    assert len(replies(plain, thread)) == 1 and replies(plain, "1700000000.000100") == []
    [turn] = plain.services.store.threads.recent(INCIDENT, thread)
    assert turn.question == "and paymentservice?"


def test_too_many_questions_get_a_private_refusal(plain):
    _, thread = drafted(plain)
    for _ in range(6):
        ask(plain, thread, "why not frontend?")
    refusal = plain.wait_for(lambda: plain.slack.calls_to("chat.postEphemeral"))
    assert refusal[0].args["user"] == ONCALL and "questions" in refusal[0].args["text"]
    plain.wait_for(lambda: len(replies(plain, thread)) == 5)
