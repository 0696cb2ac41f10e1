"""The model's explanation in the plan message, the *Explain* button, and the ephemeral answer
to ``/rollback explain`` (issue 9 item 5). Pure, like the rest of :mod:`bot.slack.views`.

The model's text is untrusted like an alert's: it goes through
:func:`~bot.slack.views.escape.escape` (no mention, broadcast or link survives), is cut to fit,
and its block carries no button: the explanation can never approve or run anything. It is
labelled with the model's name and the graph's verdict ("checked by the graph: N claims
dropped"); when the guard rejected the model's answer, the graph's own explanation is shown,
saying so. The *Explain* button is a read, like
``/rollback status``, not a lifecycle click: it is drawn whenever a model is configured, in its
own row, apart from the buttons :func:`bot.lifecycle.available_actions` decides.

A plan the model refined (``drafted_by: graph+llm:<model>``, :mod:`planners.refine`) says so in
:func:`refinement_blocks`: what the planner applied at the model's proposal and how many of its
proposals the graph rejected and why, from the notes the refinement starts the plan with
(escaped and cut like the explanation; they are not repeated among the plan's other notes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol

from bot.slack import messages
from bot.slack.views.blocks import Block, actions, button, context, message, section, short
from bot.slack.views.escape import code, escape, truncate
from planners.model import Plan
from planners.refine import APPLIED, REJECTED

__all__ = [
    "ACTION_EXPLAIN",
    "ExplanationView",
    "Kept",
    "explain_row",
    "explanation_blocks",
    "explanation_reply",
    "explanation_view",
    "other_notes",
    "refinement_blocks",
]

ACTION_EXPLAIN: Final = "backout_explain"
"""Explain the plan with the model (a read, checked like ``status``); value ``plan_id``."""

_TEXT_LIMIT = 1500
_MAX_DROPPED_SHOWN = 3
_MAX_REFINEMENTS_SHOWN = 6
_LLM_DRAFTER = "graph+llm:"

# The lines saying what the model refined (the message's other strings: bot.slack.messages).
_REFINED_BY_MODEL: Final = (
    "🤖 *Refined by the model {model}* · checked by the graph: {rejected} of {proposed} "
    "proposal(s) rejected"
)
_REFINEMENT_APPLIED: Final = "✅ applied: {what}"
_REFINEMENT_REJECTED: Final = "✖️ rejected by the graph: {what}"


class Kept(Protocol):
    """A stored explanation, as :class:`bot.store.StoredExplanation` holds it."""

    @property
    def model(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def dropped(self) -> tuple[tuple[str, str], ...]: ...


@dataclass(frozen=True, kw_only=True)
class ExplanationView:
    """A plan's stored explanation as the views show it.

    Attributes:
        model: the model that was asked.
        source: ``model`` (its checked explanation) or ``graph`` (the guard rejected it).
        text: Markdown from the model or the planner: untrusted, escaped here.
        dropped: ``(claim, reason)`` of each claim the graph dropped.
    """

    model: str
    source: str
    text: str
    dropped: tuple[tuple[str, str], ...] = ()


def explanation_blocks(explanation: ExplanationView) -> list[Block | None]:
    """The explanation's section (no buttons) and the note under it."""
    count = len(explanation.dropped)
    title = _title(explanation)
    prose = escape(explanation.text, multiline=True).replace("**", "*")
    notes = [messages.EXPLANATION_NOTE]
    if explanation.dropped:
        claims = "; ".join(
            f"{short(claim, 80)}: {short(reason, 160)}"
            for claim, reason in explanation.dropped[:_MAX_DROPPED_SHOWN]
        )
        if count > _MAX_DROPPED_SHOWN:
            claims += f"; {messages.AND_MORE.format(count=count - _MAX_DROPPED_SHOWN)}"
        notes.append(messages.EXPLANATION_DROPPED.format(claims=claims))
    body = truncate(prose, limit=_TEXT_LIMIT) if prose.strip() else messages.EMPTY
    return [section(f"{title}\n{body}"), context(notes)]


def refinement_blocks(plan: Plan) -> list[Block | None]:
    """What the model changed in a plan it refined and what the graph rejected (with why);
    nothing for a plan the model did not refine."""
    if not plan.drafted_by.startswith(_LLM_DRAFTER):
        return []
    applied = [n.removeprefix(APPLIED) for n in plan.notes if n.startswith(APPLIED)]
    rejected = [n.removeprefix(REJECTED) for n in plan.notes if n.startswith(REJECTED)]
    if not applied and not rejected:
        return []
    title = _REFINED_BY_MODEL.format(
        model=code(plan.drafted_by.removeprefix(_LLM_DRAFTER), limit=80),
        rejected=len(rejected),
        proposed=len(applied) + len(rejected),
    )
    lines = [_REFINEMENT_APPLIED.format(what=short(a, 200)) for a in applied]
    lines += [_REFINEMENT_REJECTED.format(what=short(r, 200)) for r in rejected]
    if len(lines) > _MAX_REFINEMENTS_SHOWN:
        more = messages.AND_MORE.format(count=len(lines) - _MAX_REFINEMENTS_SHOWN + 1)
        lines = [*lines[: _MAX_REFINEMENTS_SHOWN - 1], more]
    return [section(title), context(["\n".join(lines)])]


def other_notes(plan: Plan) -> list[str]:
    """The plan's notes but those :func:`refinement_blocks` shows."""
    if not plan.drafted_by.startswith(_LLM_DRAFTER):
        return list(plan.notes)
    return [n for n in plan.notes if not n.startswith((APPLIED, REJECTED))]


def explain_row(plan_id: str) -> Block | None:
    """The *Explain* button, in a row of its own."""
    return actions([button(messages.BUTTON_EXPLAIN, action_id=ACTION_EXPLAIN, value=plan_id)])


def explanation_reply(plan_id: str, explanation: ExplanationView) -> dict[str, Any]:
    """The ephemeral answer to ``/rollback explain`` and the *Explain* button."""
    drawn = [b for b in explanation_blocks(explanation) if b is not None]
    return message(f"{code(plan_id, limit=60)}: {_title(explanation)}", drawn)


def explanation_view(kept: Kept) -> ExplanationView:
    """What the views show of a stored explanation (:class:`bot.store.StoredExplanation`)."""
    return ExplanationView(
        model=kept.model, source=kept.source, text=kept.text, dropped=kept.dropped
    )


def _title(explanation: ExplanationView) -> str:
    """Who wrote what is shown, and the graph's verdict."""
    model, count = code(explanation.model, limit=80), len(explanation.dropped)
    if explanation.source == "model":
        return messages.EXPLANATION_BY_MODEL.format(model=model, dropped=count)
    return messages.EXPLANATION_BY_GRAPH.format(model=model, dropped=count)
