"""What the listeners are given: the core's use cases and what the bot watches in channels."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.usecases import Decisions, Execution, Planning, Queries
from bot.core.usecases.answering import Answering
from bot.slack.channels.alerts import AlertLookup
from bot.slack.channels.model_parse import MessageParser
from integrations.alerts import AlertmanagerAPI

__all__ = ["UseCases", "Watch"]


@dataclass(frozen=True, kw_only=True)
class UseCases:
    """The core's use cases the Slack edge calls."""

    planning: Planning
    decisions: Decisions
    execution: Execution
    queries: Queries
    answering: Answering | None = None
    """Answers questions asked of the bot in plan threads (None: such questions are ignored)."""


@dataclass(frozen=True, kw_only=True)
class Watch:
    """What the bot reads in channels, and how: alert and deploy channels, the deploy patterns
    and environment names, the alert labels that name a service, the topology's service names,
    the bots (or apps) allowed to open incidents there (any when empty), the bot's own ids
    (its own messages never trigger anything), and how to look up the alerts of an
    Alertmanager message that names no service (``None``: not at all), and the model that reads
    the messages no pattern reads (``None``: no model; such messages are ignored)."""

    alert_channels: frozenset[str]
    alert_senders: frozenset[str]
    deploy_channels: frozenset[str]
    deploy_patterns: Sequence[re.Pattern[str]]
    version_pattern: re.Pattern[str]
    environments: tuple[str, ...]
    service_labels: tuple[str, ...]
    known_services: frozenset[str]
    bot_user_id: str
    bot_id: str
    alert_lookup: AlertLookup | None = None
    parser: MessageParser | None = None

    @staticmethod
    def alertmanager_lookup(url: str | None) -> AlertLookup | None:
        """The lookup through Alertmanager's API at ``url`` (setting ``alertmanager_url``);
        ``None`` when no URL is set."""
        return AlertmanagerAPI(url) if url else None
