"""Screening a channel message before anything reads it: Backout's own messages, edits,
deletions and thread bookkeeping never trigger anything."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.slack.channels.message_text import inner_event

__all__ = ["IGNORED_SUBTYPES", "is_own_or_edit"]


IGNORED_SUBTYPES = frozenset(
    {"message_changed", "message_deleted", "message_replied", "thread_broadcast"}
)
"""Message subtypes that report on an earlier message; they never trigger anything."""


def is_own_or_edit(
    event: Mapping[str, Any],
    *,
    bot_user_id: str | None,
    bot_id: str | None,
) -> bool:
    """Whether a message event must be ignored: Backout's own message, or an edit of any message.

    Own messages are recognised by Backout's ``bot_id`` or its bot user id (``user``), never by
    an app id (another installation or workflow of the same app is not this bot); empty ids
    never match. Edits, deletions, reply
    bookkeeping (``message_changed``, ``message_deleted``, ``message_replied``) and thread
    broadcasts are ignored whoever wrote them. The event may be bare or in its envelope.
    """
    message = inner_event(event)
    if message is None:
        return False
    subtype = message.get("subtype")
    if isinstance(subtype, str) and subtype in IGNORED_SUBTYPES:
        return True
    own = ((message.get("bot_id"), bot_id), (message.get("user"), bot_user_id))
    return any(isinstance(seen, str) and seen != "" and seen == mine for seen, mine in own)
