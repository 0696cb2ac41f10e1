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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol

from bot.slack import messages
from bot.slack.views.blocks import Block, actions, button, context, message, section, short
from bot.slack.views.escape import code, escape, truncate

__all__ = [
    "ACTION_EXPLAIN",
    "ExplanationView",
    "Kept",
    "explain_row",
    "explanation_blocks",
    "explanation_reply",
    "explanation_view",
]

ACTION_EXPLAIN: Final = "backout_explain"
"""Explain the plan with the model (a read, checked like ``status``); value ``plan_id``."""

_TEXT_LIMIT = 1500
_MAX_DROPPED_SHOWN = 3


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
