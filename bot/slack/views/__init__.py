"""Slack views: pure functions from plans and their state to Block Kit messages.

The handlers in ``bot/slack/handlers/`` and the notifier call these and send what they return;
nothing here talks to Slack or a database (the one exception, :func:`render_png`, runs Graphviz
locally). Untrusted text is escaped by :mod:`bot.slack.views.escape`, words come from
:mod:`bot.slack.messages`, and every message stays within Slack's limits (blocks, text lengths,
button labels and values). The modules, bottom up::

    escape      safe text and Slack's limits
    blocks      Block Kit primitives (section, context, button, confirm…) and word helpers
    progress    PlanView and StepState in the lifecycle's terms; one step in words; progress reply
    buttons     the plan's buttons: exactly what bot.lifecycle.available_actions offers
    plan        the plan message            simulation  the dry run's reply
    summary     the post-incident summary   replies     short replies to the person who asked
    graph       the plan as a Graphviz picture
"""

from __future__ import annotations

from bot.slack.views.buttons import (
    ACTION_ABORT,
    ACTION_APPROVE_PLAN,
    ACTION_APPROVE_STAGE,
    ACTION_REJECT,
    ACTION_RETRY,
    ACTION_SIMULATE,
    ACTION_SKIP,
)
from bot.slack.views.escape import code, escape, safe_link, truncate
from bot.slack.views.graph import GraphRenderError, plan_graph_dot, render_png
from bot.slack.views.plan import plan_message
from bot.slack.views.progress import PlanView, StepState, progress_reply
from bot.slack.views.replies import (
    internal_error,
    not_authorized,
    plan_not_found,
    unknown_service,
    usage,
)
from bot.slack.views.simulation import simulation_message
from bot.slack.views.summary import ACTION_FEEDBACK_RIGHT, ACTION_FEEDBACK_WRONG, incident_summary

__all__ = [
    "ACTION_ABORT",
    "ACTION_APPROVE_PLAN",
    "ACTION_APPROVE_STAGE",
    "ACTION_FEEDBACK_RIGHT",
    "ACTION_FEEDBACK_WRONG",
    "ACTION_REJECT",
    "ACTION_RETRY",
    "ACTION_SIMULATE",
    "ACTION_SKIP",
    "GraphRenderError",
    "PlanView",
    "StepState",
    "code",
    "escape",
    "incident_summary",
    "internal_error",
    "not_authorized",
    "plan_graph_dot",
    "plan_message",
    "plan_not_found",
    "progress_reply",
    "render_png",
    "safe_link",
    "simulation_message",
    "truncate",
    "unknown_service",
    "usage",
]
