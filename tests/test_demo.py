"""The README's promises hold: ``make demo``'s story ends well, and ``manifest.yml`` matches the
handlers the bot registers."""

from __future__ import annotations

import subprocess
import sys

import yaml

from bot.slack.handlers.actions import ACTION_IDS
from bot.slack.views import buttons as plan_buttons
from bot.slack.views import explanation as explanation_views
from bot.slack.views import summary as summary_views
from tests.support.paths import ROOT


def test_demo_tells_the_whole_story(tmp_path):
    """``python -m fakes.demo`` (what ``make demo`` runs) rolls back the bad deploy, refuses the
    stranger, needs two approvers, and posts the summary, with the fake model's checked
    explanation edited into the plan, a question in the thread answered and the summary's
    narrative edited in; its transcript says so."""
    transcript = tmp_path / "transcript.txt"
    result = subprocess.run(
        [sys.executable, "-m", "fakes.demo", "--transcript", str(transcript)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    text = transcript.read_text()
    assert "Rollback plan for checkoutservice, frontend" in text
    assert "U0STRANGER only: 🔒" in text
    assert "Waiting for another approver" in text
    assert "✅ Step `s1`: Roll back *cartservice* to `v1.4.2` · done" in text
    assert "Post-incident summary" in text
    # The model's part, played by the fake OpenAI-compatible server and labelled as a fake.
    assert "Explained by the model `fake-model (scripted, not a real model)`" in text
    assert "checked by the graph: 0 claims dropped" in text
    # A question in the thread, answered from the graph's lookups; the summary's narrative.
    assert "is suspect 2 of 3" in text and "Answered by the model `fake-model" in text
    assert "edited the model's narrative into the summary" in text
    assert "The plan ended done" in text
    assert text.rstrip().splitlines()[-1].endswith("cartservice now runs v1.4.2")


def test_manifest_matches_the_registered_handlers():
    """Every command and event in manifest.yml has a handler, and every handler is declared."""
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert commands == {"/rollback"}
    assert events == {"message.channels", "message.groups", "subteam_members_changed"}
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    urls = {c["url"] for c in manifest["features"]["slash_commands"]}
    urls |= {manifest["settings"]["event_subscriptions"]["request_url"]}
    urls |= {manifest["settings"]["interactivity"]["request_url"]}
    assert {u.rsplit("/", 2)[-2:] == ["slack", "events"] for u in urls} == {True}
    # The scopes are checked against the Slack methods the code calls in tests/test_manifest.py.


def test_every_button_the_views_draw_has_a_handler():
    """The action ids the views put on buttons are exactly those the handlers listen for."""
    drawn = {
        value
        for module in (plan_buttons, summary_views, explanation_views)
        for name, value in vars(module).items()
        if name.startswith("ACTION_") and isinstance(value, str)
    }
    assert drawn == set(ACTION_IDS)
