"""Block Kit primitives shared by every view of :mod:`bot.slack.views`, and the few word helpers
that fill templates with untrusted values.

The bottom of the views package (above :mod:`bot.slack.views.escape` and the strings of
:mod:`bot.slack.messages`): each builder takes text that is already safe mrkdwn (a template
filled with escaped values) and enforces Slack's limits, so no view can produce an oversized or
empty text object, a button whose value would not survive the round trip, or a message without
fallback text. Nothing here knows about plans.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.slack import messages
from bot.slack.views.escape import (
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_CONFIRM_BUTTON,
    MAX_CONFIRM_TEXT,
    MAX_CONFIRM_TITLE,
    MAX_CONTEXT_ELEMENTS,
    MAX_CONTEXT_TEXT,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    clean,
    escape,
    text_length,
    truncate,
)

__all__ = [
    "Block",
    "actions",
    "at",
    "blocks",
    "button",
    "confirm",
    "context",
    "divider",
    "header",
    "message",
    "names",
    "pack",
    "section",
    "short",
]

Block = dict[str, Any]
"""One Block Kit block (or element) as the Slack API takes it."""

_MAX_NAMES = 20


def _nonblank(text: str) -> str:
    return text if text.strip() else messages.EMPTY


def _mrkdwn(text: str, *, limit: int) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _nonblank(truncate(text, limit=limit))}


def _plain(text: str, *, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _nonblank(truncate(text, limit=limit)), "emoji": True}


# -- blocks -------------------------------------------------------------------------------------


def section(text: str) -> Block:
    """A section of safe mrkdwn, cut to Slack's limit."""
    return {"type": "section", "text": _mrkdwn(text, limit=MAX_SECTION_TEXT)}


def header(text: str) -> Block:
    """A header of plain text, cut to Slack's limit."""
    return {"type": "header", "text": _plain(text, limit=MAX_HEADER_TEXT)}


def context(texts: Iterable[str]) -> Block | None:
    """A context block of the non-blank texts (at most ten), or None when all are blank."""
    elements = [_mrkdwn(t, limit=MAX_CONTEXT_TEXT) for t in texts if t.strip()]
    if not elements:
        return None
    return {"type": "context", "elements": elements[:MAX_CONTEXT_ELEMENTS]}


def divider() -> Block:
    """A divider."""
    return {"type": "divider"}


def confirm(*, title: str, text: str, yes: str) -> dict[str, Any]:
    """A "danger" confirmation dialog for a button; its deny label is ``Cancel``."""
    return {
        "title": _plain(title, limit=MAX_CONFIRM_TITLE),
        "text": _plain(text, limit=MAX_CONFIRM_TEXT),
        "confirm": _plain(yes, limit=MAX_CONFIRM_BUTTON),
        "deny": _plain(messages.CONFIRM_NO, limit=MAX_CONFIRM_BUTTON),
        "style": "danger",
    }


def button(
    label: str,
    *,
    action_id: str,
    value: str,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> Block | None:
    """A button, or None when its value would not survive the round trip through Slack.

    A value longer than Slack allows, or holding characters that cannot be sent as they are
    (control characters, lone surrogates), would come back different from what the handler
    must look up; the button is left out rather than acting on the wrong plan or step.
    """
    if text_length(value) > MAX_BUTTON_VALUE or clean(value) != value:
        return None
    drawn: Block = {
        "type": "button",
        "action_id": action_id,
        "text": _plain(label, limit=MAX_BUTTON_TEXT),
        "value": value,
    }
    if style:
        drawn["style"] = style
    if confirm:
        drawn["confirm"] = confirm
    return drawn


def actions(buttons: Iterable[Block | None]) -> Block | None:
    """An actions block of the buttons that could be drawn, or None when there are none."""
    elements = [b for b in buttons if b is not None]
    return {"type": "actions", "elements": elements} if elements else None


def blocks(*parts: Block | Iterable[Block | None] | None) -> list[Block]:
    """Flatten blocks and lists of blocks, dropping the ``None`` ones."""
    out: list[Block] = []
    for part in parts:
        if part is None:
            continue
        if isinstance(part, dict):
            out.append(part)
        else:
            out.extend(b for b in part if b is not None)
    return out


def pack(chunks: Iterable[str], *, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Join chunks with line breaks into as few texts of at most ``limit`` as they fit."""
    texts: list[str] = []
    current = ""
    for raw in chunks:
        chunk = truncate(raw, limit=limit)
        joined = f"{current}\n{chunk}" if current else chunk
        if text_length(joined) <= limit:
            current = joined
        else:
            texts.append(current)
            current = chunk
    if current:
        texts.append(current)
    return texts


def message(fallback: str, blocks: list[Block]) -> dict[str, Any]:
    """``{"text", "blocks"}`` for ``chat.postMessage``; the fallback is never blank."""
    # Slack allows 40,000 characters of fallback text; a notification shows a line or two.
    return {"text": _nonblank(truncate(fallback, limit=MAX_SECTION_TEXT)), "blocks": blocks}


# -- words --------------------------------------------------------------------------------------


def short(text: str, limit: int = 100) -> str:
    """Untrusted text escaped, cut to ``limit`` and never blank."""
    return _nonblank(truncate(escape(text), limit=limit))


def names(values: Sequence[str], *, limit: int = _MAX_NAMES) -> str:
    """Untrusted names, escaped and comma-separated, the first ``limit`` and "and N more"."""
    shown = [short(n) for n in values[:limit]]
    if len(values) > limit:
        shown.append(messages.AND_MORE.format(count=len(values) - limit))
    return messages.LIST_SEPARATOR.join(shown) or messages.EMPTY


def at(moment: datetime | None, fmt: str = "%H:%M UTC") -> str:
    """A moment in UTC (a naive one is taken as UTC); "unknown" for None."""
    if moment is None:
        return messages.PLAN_STARTED_UNKNOWN
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(fmt)
