"""Reading the messages other bots post in watched Slack channels (DESIGN.md, "The Slack surface").

The Slack layer of ``bot`` receives every message of the alert and deploy channels it watches;
this package decides, with pure functions and no Slack client, what each one means: an alert to
plan for (:func:`alerts_from_message`), a deploy to record (:func:`change_from_message`), or
nothing. :func:`is_own_or_edit` screens out first what must never trigger anything: Backout's own
messages, edits, deletions, thread bookkeeping. Message text is untrusted and only ever stored
as data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.slack.channels.alerts import alerts_from_message, slack_time
from bot.slack.channels.deploys import (
    DEFAULT_DEPLOY_PATTERNS,
    PRODUCTION_ENVIRONMENTS,
    change_from_message,
    compile_patterns,
)
from bot.slack.channels.message_text import inner_event, plain_text

__all__ = [
    "DEFAULT_DEPLOY_PATTERNS",
    "IGNORED_SUBTYPES",
    "PRODUCTION_ENVIRONMENTS",
    "alerts_from_message",
    "change_from_message",
    "compile_patterns",
    "is_own_or_edit",
    "plain_text",
    "slack_time",
]

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
