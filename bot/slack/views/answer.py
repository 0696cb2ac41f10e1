"""A reply to a question asked of the bot in an incident thread (issue 9 item 5). Pure, like the
rest of :mod:`bot.slack.views`.

The answer is untrusted like an explanation: escaped (no mention, broadcast or link survives),
cut to fit, and drawn without a single button, so an answer can never approve or run anything.
It says who answered: the model (checked by the graph, with the ids it rests on), or the graph
itself and why (no model configured, the model failed, or the graph rejected its answer).
"""

from __future__ import annotations

from typing import Any, Protocol

from bot.slack import messages
from bot.slack.views.blocks import context, message, section, short
from bot.slack.views.escape import code, escape, truncate

__all__ = ["Answer", "answer_reply"]

_TEXT_LIMIT = 2000
_MAX_CITED = 12


class Answer(Protocol):
    """A checked answer, as :class:`planners.questions.CheckedAnswer` holds it."""

    @property
    def text(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def model(self) -> str | None: ...
    @property
    def cited(self) -> tuple[str, ...]: ...
    @property
    def detail(self) -> str: ...


def answer_reply(answer: Answer) -> dict[str, Any]:
    """The reply in the thread: the answer's text and who answered; no buttons."""
    prose = escape(answer.text, multiline=True).replace("**", "*")
    body = truncate(prose, limit=_TEXT_LIMIT) if prose.strip() else messages.EMPTY
    if answer.source == "model":
        notes = [messages.ANSWER_BY_MODEL.format(model=code(answer.model or "?", limit=80))]
        if answer.cited:
            ids = ", ".join(code(i, limit=20) for i in answer.cited[:_MAX_CITED])
            notes.append(messages.ANSWER_CITES.format(ids=ids))
    else:
        notes = [messages.ANSWER_BY_GRAPH.format(why=escape(short(answer.detail, 200)))]
    drawn = [b for b in (section(body), context(notes)) if b is not None]
    return message(short(escape(answer.text), 150) or messages.EMPTY, drawn)
