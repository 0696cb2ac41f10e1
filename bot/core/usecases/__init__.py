"""Backout's use cases, split by concern: :class:`Planning` (drafting plans for requests, alerts,
incidents and deploys), :class:`Decisions` (what responders click), :class:`Execution`
(carrying out what was approved) and :class:`Queries` (reading). No Slack, HTTP or CLI types:
the Slack handlers parse payloads into plain arguments, call these, and the
:class:`~bot.core.ports.Notifier` port shows the results."""

from __future__ import annotations

from bot.core.usecases.actions import plan_actions
from bot.core.usecases.decisions import Approval, Decisions
from bot.core.usecases.execution import Execution
from bot.core.usecases.planning import Planning
from bot.core.usecases.queries import Queries

__all__ = ["Approval", "Decisions", "Execution", "Planning", "Queries", "plan_actions"]
