"""The bot answers where it is not a member (issue 11, item 14): ``/rollback plan`` in a channel
the bot was not invited to still answers the person who asked, through the command's
``response_url`` (which needs no membership), with the plan, its id and how to invite the bot;
in a channel with the bot, the plan is posted there as before and nothing goes to the
``response_url``."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle import PlanKind
from fakes import signing as slack
from fakes.world import ONCALL, BotWorld

INCIDENT = "C0INCIDENT"
NO_BOT = "C0NOBOT"
INVITE = "/invite @backout"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[BotWorld]:
    with BotWorld(tmp_path) as running:
        deploy = {
            "type": "message",
            "channel": running.deploys_channel,
            "bot_id": "B0CI",
            "username": "ci",
            "text": "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>",
            "ts": f"{time.time() - 600:.6f}",
        }
        assert running.post(slack.event_callback(deploy, secret=running.secret)).status_code == 200
        running.wait_for(lambda: running.services.store.incidents.changes_of("cartservice"))
        yield running


def command(world: BotWorld, text: str, *, channel: str, user: str = ONCALL) -> tuple[Any, str]:
    """``/rollback <text>`` with a response_url of its own; the ack's JSON and that URL."""
    url = world.slack.response_url()
    request = slack.slash_command(
        text, user=user, channel=channel, secret=world.secret, response_url=url
    )
    response = world.post(request)
    assert response.status_code == 200
    return response.json(), url


def live_plans(world: BotWorld) -> list[Any]:
    return [p for p in world.services.store.plans.recent() if p.kind == PlanKind.LIVE]


@pytest.mark.parametrize("private", [False, True], ids=["public", "private"])
def test_a_plan_asked_for_where_the_bot_is_not_reaches_the_user(world, private, caplog):
    """The plan is drafted and stored; Slack refuses the post into the channel; the user gets,
    through the response_url, the plan's id with how to invite the bot, then the plan itself,
    both ephemeral."""
    world.slack.remove_bot(NO_BOT, private=private)
    caplog.set_level(logging.WARNING, logger="bot.slack.notifier")

    ack, url = command(world, "plan cartservice", channel=NO_BOT)
    assert "Drafting" in ack["text"]
    said = world.wait_for(
        lambda: len(world.slack.responses(url)) == 2 and world.slack.responses(url)
    )
    world.settle()

    (plan,) = live_plans(world)
    note, shown = said
    assert {note["response_type"], shown["response_type"]} == {"ephemeral"}
    assert plan.id in note["text"] and INVITE in json.dumps(note["blocks"])
    assert plan.id in json.dumps(shown["blocks"])
    assert "backout_approve" in json.dumps(shown["blocks"])
    refused = "channel_not_found" if private else "not_in_channel"
    posts = world.slack.calls_to("chat.postMessage")
    assert [c.args["channel"] for c in posts] == [NO_BOT]
    assert world.slack.messages(NO_BOT) == []
    assert f"slack chat.postMessage failed: {refused}" in caplog.messages


def test_other_answers_there_go_through_the_response_url_too(world):
    """``/rollback status`` in the bot-less channel: the ephemeral is refused, so the answer
    (the plan drafted there) comes through the response_url."""
    world.slack.remove_bot(NO_BOT)
    _, first = command(world, "plan cartservice", channel=NO_BOT)
    world.wait_for(lambda: len(world.slack.responses(first)) == 2)
    (plan,) = live_plans(world)

    _, url = command(world, "status", channel=NO_BOT)
    said = world.wait_for(lambda: world.slack.responses(url))
    world.settle()

    assert plan.id in json.dumps(said[0]["blocks"])
    assert said[0]["response_type"] == "ephemeral"


def test_a_plan_asked_for_where_the_bot_is_is_posted_there(world):
    """With the bot in the channel, the plan is posted in it and the response_url is unused."""
    _, url = command(world, "plan cartservice", channel=INCIDENT)
    posted = world.wait_for(lambda: world.slack.messages(INCIDENT))
    world.settle()

    (plan,) = live_plans(world)
    assert plan.id in json.dumps(posted[0]["blocks"])
    assert world.slack.responses(url) == []
    assert world.slack.responses() == []
