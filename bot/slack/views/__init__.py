"""Slack views: pure functions from plans and their state to Block Kit messages.

The handlers in ``bot/slack/handlers/`` call these and send what they return; nothing here talks to
Slack or a database (the one exception, :func:`render_png`, runs Graphviz locally). Untrusted
text is escaped by :mod:`bot.slack.views.escape`, words come from :mod:`bot.slack.messages`, and
every
message stays within Slack's limits (blocks, text lengths, button labels and values).
"""

from __future__ import annotations

from bot.slack.views.errors import (
    internal_error,
    not_authorized,
    plan_not_found,
    unknown_service,
    usage,
)
from bot.slack.views.escape import code, escape, safe_link, truncate
from bot.slack.views.graph import GraphRenderError, plan_graph_dot, render_png
from bot.slack.views.plan import (
    ACTION_ABORT,
    ACTION_APPROVE_PLAN,
    ACTION_APPROVE_STAGE,
    ACTION_REJECT,
    ACTION_RETRY,
    ACTION_SIMULATE,
    ACTION_SKIP,
    PlanView,
    StepState,
    plan_message,
    progress_reply,
    simulation_message,
)
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
