"""One workspace: requests signed with the app's secret but from another team (or enterprise) are
refused, in one place, and nothing of them is processed or recorded."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.slack.workspace import REFUSAL, Workspace, WorkspaceError
from fakes import signing as slack
from fakes.signing import SignedRequest
from fakes.world import ONCALL, BotWorld

INCIDENT = "C0INCIDENT"
ELSEWHERE = "T0ELSEWHRE"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotWorld]:
    with BotWorld(Path(tmp_path_factory.mktemp("workspace"))) as running:
        yield running


def from_team(world: BotWorld, request: SignedRequest, team: str = ELSEWHERE) -> SignedRequest:
    """``request`` as if sent from ``team``: every mention of the bot's team replaced, re-signed."""
    body = request.body.replace(world.slack.team_id.encode(), team.encode())
    assert body != request.body
    return slack.sign(body, secret=world.secret, content_type=request.headers["Content-Type"])


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.slack.workspace"]


def test_the_workspace_is_the_bot_tokens(world):
    """The fake Slack's auth.test names the team the signed requests come from: the refusals
    below are about the team, not about a workspace the bot failed to learn."""
    assert world.slack.team_id == slack.TEAM


def test_a_command_from_another_workspace_gets_a_short_refusal_and_runs_nothing(world, caplog):
    """``/rollback plan`` from another team: 200 with the refusal (Slack shows it to the one who
    typed it), one log line, no plan; the same command from the bot's team drafts one."""
    caplog.set_level(logging.INFO)
    posted = len(world.slack.calls_to("chat.postMessage"))
    request = slack.slash_command(
        "plan cartservice", user=ONCALL, channel=INCIDENT, secret=world.secret
    )
    response = world.post(from_team(world, request))
    assert response.status_code == 200
    assert response.text == REFUSAL
    world.settle()
    assert world.services.store.plans.recent() == []
    assert len(world.slack.calls_to("chat.postMessage")) == posted
    [line] = refusals(caplog)
    assert "command /rollback" in line and ELSEWHERE in line and slack.TEAM in line

    ours = slack.slash_command(
        "plan cartservice", user=ONCALL, channel=INCIDENT, secret=world.secret
    )
    response = world.post(ours)
    assert response.status_code == 200 and response.text != REFUSAL
    world.wait_for(lambda: world.services.store.plans.recent())


def test_an_event_from_another_workspace_is_acknowledged_and_dropped(world, caplog):
    """An alert message from another team: an empty 200 (Slack must not retry), no incident, no
    plan, and its event id is not taken: the bot's own delivery of that id is still handled."""
    caplog.set_level(logging.INFO)
    before = {p.id for p in world.services.store.plans.recent()}
    event = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0ALERTMGR",
        "channel": world.alerts_channel,
        "ts": f"{time.time():.6f}",
        "text": "[FIRING:1] CartErrors service=cartservice",
    }
    request = slack.event_callback(event, secret=world.secret, event_id="Ev0ELSEWHR1")
    response = world.post(from_team(world, request))
    assert (response.status_code, response.text) == (200, "")
    world.settle()
    assert {p.id for p in world.services.store.plans.recent()} == before
    [line] = refusals(caplog)
    assert "event_callback" in line and ELSEWHERE in line

    assert world.post(request).status_code == 200
    world.wait_for(lambda: {p.id for p in world.services.store.plans.recent()} - before)


def test_a_click_from_another_workspace_is_acknowledged_and_dropped(world, caplog):
    """A button click from another team gets an empty 200 and no answer at all; the same click
    from the bot's team gets its ephemeral reply (the plan does not exist)."""
    caplog.set_level(logging.INFO)

    def answered() -> list[str]:
        calls = world.slack.calls_to("chat.postEphemeral")
        return [json.dumps(c.args) for c in calls if c.args.get("user") == ONCALL]

    already = len(answered())
    click = slack.block_action(
        "backout_approve_plan",
        "pl-deadbeef",
        user=ONCALL,
        channel=INCIDENT,
        message_ts=f"{time.time():.6f}",
        secret=world.secret,
    )
    response = world.post(from_team(world, click))
    assert (response.status_code, response.text) == (200, "")
    world.settle()
    assert len(answered()) == already
    [line] = refusals(caplog)
    assert "block_actions" in line and ELSEWHERE in line

    assert world.post(click).status_code == 200
    world.wait_for(lambda: len(answered()) > already)


def test_a_command_from_another_enterprise_is_refused(world, caplog):
    """The bot's team id with an enterprise it is not in is refused too."""
    caplog.set_level(logging.INFO)
    request = slack.slash_command("help", user=ONCALL, channel=INCIDENT, secret=world.secret)
    body = request.body + b"&enterprise_id=E0ELSEWHRE"
    response = world.post(
        slack.sign(body, secret=world.secret, content_type="application/x-www-form-urlencoded")
    )
    assert (response.status_code, response.text) == (200, REFUSAL)
    [line] = refusals(caplog)
    assert "in enterprise E0ELSEWHRE" in line


@pytest.mark.parametrize(
    ("team", "enterprise", "admitted"),
    [
        ("T0HOME", None, True),
        ("T0HOME", "E0HOME", True),
        ("T0OTHER", None, False),
        ("T0OTHER", "E0HOME", False),
        ("T0HOME", "E0OTHER", False),
        (None, None, False),
        ("", None, False),
    ],
)
def test_the_workspace_admits_only_its_team_and_enterprise(team, enterprise, admitted):
    """Only the bot's team, and only in its own enterprise (or naming none)."""
    home = Workspace(team_id="T0HOME", enterprise_id="E0HOME")
    assert home.admits(team, enterprise) is admitted


def test_outside_a_grid_any_enterprise_is_another_organisation():
    """A workspace in no enterprise admits no request that names one."""
    assert not Workspace(team_id="T0HOME").admits("T0HOME", "E0ANY")


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"ok": True, "user_id": "U0BOT"}, "no team_id"),
        ({"ok": True, "team_id": ""}, "no team_id"),
        ({"ok": True, "team_id": "T0X", "is_enterprise_install": True}, "organisation-wide"),
    ],
)
def test_a_token_of_no_single_workspace_stops_the_start(answer, problem):
    """auth.test naming no team, or an organisation-wide installation, cannot be served."""
    with pytest.raises(WorkspaceError, match=problem):
        Workspace.from_auth_test(answer)


def test_the_workspace_comes_from_auth_test():
    """team_id and enterprise_id are read from auth.test's answer."""
    answer = {"ok": True, "team_id": "T0X", "enterprise_id": "E0Y", "is_enterprise_install": False}
    assert Workspace.from_auth_test(answer) == Workspace(team_id="T0X", enterprise_id="E0Y")
