"""Slack's ``ssl_check`` probe is answered as Bolt answers it (200, empty, before the signature is
checked) and nothing else in such a body is ever processed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from fakes.world import ONCALL, BotWorld

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotWorld]:
    with BotWorld(Path(tmp_path_factory.mktemp("web"))) as running:
        yield running


def unsigned(world: BotWorld, fields: dict[str, str]) -> tuple[int, str]:
    response = world.http.post("/slack/events", content=urlencode(fields).encode(), headers=FORM)
    return response.status_code, response.text


def test_ssl_check_gets_an_empty_200_without_a_signature(world):
    """Slack's probe (``ssl_check=1`` and the legacy token), unsigned: 200 with an empty body,
    counted as its own kind."""
    assert unsigned(world, {"token": "legacy-token", "ssl_check": "1"}) == (200, "")
    metrics = world.http.get("/metrics").text
    assert 'backout_slack_requests_total{kind="ssl_check",status="200"}' in metrics


def test_a_command_inside_an_ssl_check_is_not_run(world):
    """A slash command's fields next to ``ssl_check=1``, unsigned: the same empty 200, and
    nothing is drafted or answered."""
    fields = {
        "ssl_check": "1",
        "command": "/rollback",
        "text": "plan cartservice",
        "team_id": world.slack.team_id,
        "user_id": ONCALL,
        "channel_id": "C0INCIDENT",
    }
    assert unsigned(world, fields) == (200, "")
    world.settle()
    assert world.services.store.plans.recent() == []
    assert world.slack.calls_to("chat.postEphemeral") == []


def test_a_payload_beside_ssl_check_still_needs_a_signature(world):
    """An interaction ``payload`` with ``ssl_check=1`` is an interaction (Bolt reads the payload
    and not the probe), so unsigned it is refused: the ssl_check path cannot smuggle it in (the
    hole bolt-js closed in slackapi/bolt-js#2897)."""
    payload = {
        "type": "block_actions",
        "user": {"id": ONCALL},
        "team": {"id": world.slack.team_id},
        "actions": [{"action_id": "backout_approve_plan", "value": "pl-deadbeef"}],
    }
    status, _ = unsigned(world, {"ssl_check": "1", "payload": json.dumps(payload)})
    assert status == 401


@pytest.mark.parametrize("value", ["0", "true", "", "11"])
def test_only_ssl_check_1_is_the_probe(world, value):
    """Any other value is an ordinary request, and unsigned it is refused."""
    assert unsigned(world, {"token": "legacy-token", "ssl_check": value})[0] == 401


def test_a_json_body_is_never_the_probe(world):
    """Slack sends the probe as a form; a JSON body naming ``ssl_check`` goes through the
    signature check like any event."""
    response = world.http.post(
        "/slack/events",
        content=b'{"ssl_check": "1"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 401
