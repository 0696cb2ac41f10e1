"""The model's explanation in the plan message: untrusted text escaped and cut to fit, labelled
with the model and the graph's verdict, never carrying a button; the *Explain* button only when
a model is configured, apart from the lifecycle's buttons."""

from __future__ import annotations

import json

from bot.lifecycle import Mode, PlanKind, PlanStatus
from bot.slack.views import PlanView, plan_message
from bot.slack.views.explanation import ExplanationView, explanation_reply
from tests.support.views import HOSTILE, HUGE, buttons, live_markup, shop_plan, validate

VIEW = PlanView(
    plan_id="pl-0a1b2c3d",
    plan=shop_plan(),
    plan_status=PlanStatus.PROPOSED,
    mode=Mode.APPROVE,
    kind=PlanKind.LIVE,
)


def test_hostile_model_text_is_escaped_and_cut_and_carries_no_button():
    """Mentions, broadcasts and links in the model's text and name do nothing; the message
    stays within Slack's limits; the buttons are the plan's own and *Explain*."""
    hostile = ExplanationView(
        model=HOSTILE, source="model", text=HUGE, dropped=((HOSTILE, HOSTILE),) * 5
    )
    drawn = plan_message(VIEW, explanation=hostile, explain=True)
    assert live_markup(drawn) == [] and validate(drawn) == []
    plain = plan_message(VIEW)
    ids = [b["action_id"] for b in buttons(drawn)]
    assert ids == [b["action_id"] for b in buttons(plain)] + ["backout_explain"]
    reply = explanation_reply("pl-0a1b2c3d", hostile)
    assert live_markup(reply) == [] and buttons(reply) == []


def test_the_label_names_the_model_and_the_graphs_verdict():
    """A checked explanation says who wrote it and how many claims the graph dropped; a
    rejected one says the graph's own is shown."""
    kept = ExplanationView(model="gpt-4o-mini", source="model", text="The deploy did it.")
    shown = json.dumps(plan_message(VIEW, explanation=kept))
    assert "Explained by the model `gpt-4o-mini`" in shown
    assert "checked by the graph: 0 claims dropped" in shown
    rejected = ExplanationView(
        model="gpt-4o-mini", source="graph", text="planner", dropped=(("the explanation", "no"),)
    )
    shown = json.dumps(plan_message(VIEW, explanation=rejected))
    assert "The graph's own explanation" in shown and "1 claims dropped" in shown


def test_without_a_model_the_message_is_as_before():
    """No explanation, no *Explain*: the same message as a plan view alone."""
    assert plan_message(VIEW, explanation=None, explain=False) == plan_message(VIEW)
