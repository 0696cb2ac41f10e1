"""A question's answer in the thread: untrusted text escaped and cut to fit, labelled with who
answered (the model, checked, with what it cites; or the graph and why), and never a button."""

from __future__ import annotations

import json

from bot.slack.views.answer import answer_reply
from planners.questions import CheckedAnswer
from tests.support.views import HOSTILE, HUGE, buttons, live_markup, validate


def test_a_hostile_answer_is_escaped_cut_and_has_no_button():
    drawn = answer_reply(
        CheckedAnswer(text=HUGE, source="model", outcome="ok", model=HOSTILE, cited=("E1",) * 40)
    )
    assert live_markup(drawn) == [] and validate(drawn) == []
    assert buttons(drawn) == []
    assert "<!channel>" not in drawn["text"]


def test_the_reply_says_who_answered():
    model = answer_reply(
        CheckedAnswer(
            text="C3 is second (L2).", source="model", outcome="ok", model="gpt-x", cited=("L2",)
        )
    )
    shown = json.dumps(model["blocks"])
    assert "Answered by the model `gpt-x`" in shown and "Rests on `L2`" in shown
    graph = answer_reply(
        CheckedAnswer(
            text="What the graph says:\n- C3 is suspect 2 of 4",
            source="graph",
            outcome="no_model",
            detail="no model is configured",
        )
    )
    assert "The graph's own answer: no model is configured" in json.dumps(graph["blocks"])
