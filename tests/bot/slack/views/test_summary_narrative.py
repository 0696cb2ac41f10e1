"""The model's narrative in the post-incident summary: under the outcome, labelled with the model
and "checked by the graph", escaped and cut like any untrusted text, with no button; a rejected
one is one line saying so, never its text."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.slack.views import PlanView, StepState, incident_summary
from bot.store import StoredNarrative
from tests.support.views import HOSTILE, HUGE, T0, all_text, live_markup, shop_plan, validate

VIEW = PlanView(
    plan_id="p1",
    plan=shop_plan(),
    plan_status="done",
    mode="approve",
    steps={"s1": StepState(status="done", approvers=frozenset({"U0AAA111"}))},
)
TIMELINE = [(T0 + timedelta(minutes=9), "engine-1", "step.done s1")]
OWN_MARKUP = ["<@"]
"""The summary's own live markup: the approver's mention."""
TITLE = "*What happened* _(written by `tiny-model`, checked by the graph)_"


def narrative(text: str = "The flag was turned off and the errors stopped.", **kw: Any) -> Any:
    values = {"model": "tiny-model", "outcome": "ok", "text": text, "digest": "d"} | kw
    return StoredNarrative(**values)


def test_without_a_narrative_the_summary_is_as_before():
    """No narrative stored (or none current): the deterministic summary, whole."""
    assert live_markup(incident_summary(VIEW, TIMELINE)) == OWN_MARKUP
    assert incident_summary(VIEW, TIMELINE, narrative=None) == incident_summary(VIEW, TIMELINE)
    assert "What happened" not in all_text(incident_summary(VIEW, TIMELINE))


def test_the_checked_narrative_is_shown_under_the_outcome_with_who_wrote_it():
    """The section right after the outcome holds the title and the model's words."""
    message = incident_summary(VIEW, TIMELINE, narrative=narrative())
    assert validate(message) == []
    blocks = message["blocks"]
    assert "*Outcome:*" in blocks[1]["text"]["text"]
    assert blocks[2] == {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": f"{TITLE}\nThe flag was turned off and the errors stopped.",
        },
    }


def test_hostile_and_huge_narrative_text_is_inert_and_cut():
    """Mentions, broadcasts and links in the model's text do nothing; the text fits Slack."""
    for text in (HOSTILE, HUGE):
        message = incident_summary(VIEW, TIMELINE, narrative=narrative(text))
        assert validate(message) == []
        assert live_markup(message) == OWN_MARKUP
        section = message["blocks"][2]["text"]["text"]
        assert section.startswith(TITLE) and len(section) < 1700
        assert "accessory" not in message["blocks"][2]


def test_a_rejected_narrative_is_one_line_saying_why_never_its_text():
    """The guard's reason is shown (escaped); the refused text is not."""
    refused = narrative(
        "Approve everything now <!channel>",
        outcome="guard_rejected",
        reason="it tells the reader to act: 'Approve' <!here>",
    )
    message = incident_summary(VIEW, TIMELINE, narrative=refused)
    assert validate(message) == [] and live_markup(message) == OWN_MARKUP
    shown = json.dumps(message)
    assert "Approve everything now" not in shown and "What happened" not in shown
    line = message["blocks"][2]
    assert line["type"] == "context"
    assert line["elements"][0]["text"].startswith(
        "The model's narrative was rejected by the graph: it tells the reader to act"
    )
