"""Reading the messages other bots post in watched Slack channels (DESIGN.md, "The Slack surface").

The Slack layer of ``bot`` receives every message of the alert and deploy channels it watches;
this package decides, with pure functions and no Slack client, what each one means: an alert to
plan for (:func:`alerts_from_message`), a deploy to record (:func:`change_from_message`), or
nothing. :func:`is_own_or_edit` screens out first what must never trigger anything: Backout's own
messages, edits, deletions, thread bookkeeping. Message text is untrusted and only ever stored
as data.
"""

from __future__ import annotations

from bot.slack.channels.alerts import alerts_from_message, slack_time
from bot.slack.channels.deploys import (
    DEFAULT_DEPLOY_PATTERNS,
    PRODUCTION_ENVIRONMENTS,
    VERSION_PATTERN,
    change_from_message,
    compile_patterns,
)
from bot.slack.channels.message_text import plain_text
from bot.slack.channels.screening import IGNORED_SUBTYPES, is_own_or_edit

__all__ = [
    "DEFAULT_DEPLOY_PATTERNS",
    "IGNORED_SUBTYPES",
    "PRODUCTION_ENVIRONMENTS",
    "VERSION_PATTERN",
    "alerts_from_message",
    "change_from_message",
    "compile_patterns",
    "is_own_or_edit",
    "plain_text",
    "slack_time",
]
