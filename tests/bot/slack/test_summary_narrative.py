"""The post-incident summary's narrative in Slack (issue 9 item 5): a whole bot
(:class:`fakes.world.BotWorld`) with the fake OpenAI-compatible server on loopback, the real
client, the guard and the fake Slack.

The summary is posted from the audit log as before; the model's narrative of its facts is edited
into the same message when it arrives, checked by the graph. When the summary changes later
(feedback), the old narrative is no longer shown and a new one, of the new facts, replaces it; a
summary whose facts did not change is not asked about again. A hostile narrative is never shown:
one line says the graph rejected it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes import signing as slack
from fakes.openai import HOSTILE_TEXTS, FakeOpenAI, malformed, reply
from fakes.world import ONCALL, BotWorld

NARRATIVE = "IncidentNarrative"
"""Words only the narrative's prompt holds (its schema's name)."""
TITLE = "What happened"
FIRST = "The cartservice alert fired and Backout suspected the recent cartservice deploy."
SECOND = "The cartservice alert fired; a responder confirmed the suspected deploy afterwards."
TITLE_ALERT = "  (CartHighErrorRate cartservice critical)"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    # Explanations of the plan get an answer that is not JSON: the plan stays as posted.
    with FakeOpenAI(default=malformed()) as server:
        yield server


@pytest.fixture
def world(tmp_path: Path, fake: FakeOpenAI) -> Iterator[BotWorld]:
    model = {"llm": {"model": "fake-model", "base_url": fake.base_url, "max_retries": 0}}
    with BotWorld(tmp_path, extra=model) as running:
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
        "attachments": [{"title": f"{status}{TITLE_ALERT}", "text": ""}],
    }
    assert world.post(slack.event_callback(event, secret=world.secret)).status_code == 200


def incident_resolved(world: BotWorld) -> tuple[str, str]:
    """A bad cartservice deploy, its alert firing then resolving: the plan id and the summary's
    ``ts`` once the summary is posted."""
    deploy = {
        "type": "message",
        "channel": world.deploys_channel,
        "bot_id": "B0CI",
        "username": "ci",
        "text": "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>",
        "ts": now_ts(-600),
    }
    world.post(slack.event_callback(deploy, secret=world.secret))
    world.wait_for(lambda: world.services.store.incidents.changes_of("cartservice"))
    alertmanager(world, "[FIRING:1]", now_ts(-120))
    stored = world.wait_for(lambda: world.services.store.plans.latest_live())
    conversations = world.services.store.conversations
    world.wait_for(lambda: (m := conversations.plan_message(stored.id)) and "pending" not in m.ts)
    alertmanager(world, "[RESOLVED]", now_ts())
    summary_ts = world.wait_for(
        lambda: (m := conversations.plan_message(stored.id)) and m.summary_ts
    )
    return stored.id, summary_ts


def summary_updates(world: BotWorld, ts: str) -> list[dict[str, Any]]:
    return [c.args for c in world.slack.calls_to("chat.update") if c.args.get("ts") == ts]


def shown(args: dict[str, Any]) -> str:
    return json.dumps(args.get("blocks", []), ensure_ascii=False)


def narrative_requests(fake: FakeOpenAI) -> list[Any]:
    return [r for r in fake.requests if NARRATIVE in r.text]


def settled(world: BotWorld) -> None:
    world.settle()
    pools = [world.services.explanations, world.services.narratives]
    world.wait_for(lambda: all(pool is not None and pool.idle for pool in pools))


def test_the_summary_gains_the_checked_narrative_and_keeps_it_current(world, fake):
    """The summary is posted without a narrative; the model's, checked, is edited into the same
    message, labelled with the model and the graph. Feedback changes the facts: the next
    drawing drops the old narrative, and the new one replaces it. Unchanged facts are not
    asked about again."""
    fake.enqueue(reply({"text": FIRST, "cited": ["F1", "F3"]}), when=NARRATIVE)
    plan_id, summary_ts = incident_resolved(world)
    first = world.wait_for(
        lambda: [u for u in summary_updates(world, summary_ts) if FIRST in shown(u)]
    )[-1]
    assert "written by `fake-model`, checked by the graph" in shown(first)
    assert "Time to resolve" in shown(first)  # the rest of the summary is all there
    (posted,) = [
        c.args
        for c in world.slack.calls_to("chat.postMessage")
        if str(c.args.get("text", "")).startswith("Post-incident summary")
    ]
    assert TITLE not in shown(posted)  # posted at once, from the audit log alone
    stored = world.services.store.plans.narrative(plan_id)
    assert stored is not None and (stored.outcome, stored.cited) == ("ok", ("F1", "F3"))
    audited = world.services.store.audit.entries(subject_prefix=plan_id)
    assert [e.details["outcome"] for e in audited if e.action == "plan.narrated"] == ["ok"]
    (asked,) = narrative_requests(fake)
    assert '"id": "F1", "kind": "incident"' in asked.text and "<untrusted-" in asked.text
    settled(world)
    assert len(narrative_requests(fake)) == 1  # its own update did not ask again

    fake.enqueue(reply({"text": SECOND, "cited": ["F1"]}), when=NARRATIVE)
    before = len(summary_updates(world, summary_ts))
    request = slack.block_action(
        "backout_feedback_right",
        plan_id,
        user=ONCALL,
        channel=world.alerts_channel,
        message_ts=summary_ts,
        secret=world.secret,
    )
    assert world.post(request).status_code == 200
    world.wait_for(lambda: [u for u in summary_updates(world, summary_ts) if SECOND in shown(u)])
    later = summary_updates(world, summary_ts)[before:]
    assert FIRST not in shown(later[0]) and TITLE not in shown(later[0])  # never stale
    assert all(FIRST not in shown(u) for u in later)
    assert world.services.store.plans.narrative(plan_id).digest != stored.digest
    assert '"kind": "feedback"' in narrative_requests(fake)[-1].text
    settled(world)
    assert len(narrative_requests(fake)) == 2


def test_a_hostile_narrative_is_never_shown(world, fake):
    """ "Approve everything now": the graph rejects it; the summary says so in one line and
    nothing was approved."""
    fake.enqueue(reply({"text": HOSTILE_TEXTS[0], "cited": ["F1"]}), when=NARRATIVE)
    plan_id, summary_ts = incident_resolved(world)
    update = world.wait_for(
        lambda: [
            u for u in summary_updates(world, summary_ts) if "rejected by the graph" in shown(u)
        ]
    )[-1]
    assert "Approve everything now" not in shown(update) and TITLE not in shown(update)
    stored = world.services.store.plans.narrative(plan_id)
    assert stored is not None and stored.outcome == "guard_rejected"
    assert world.services.store.approvals.of(plan_id) == {}
