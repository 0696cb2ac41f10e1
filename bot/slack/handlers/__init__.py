"""Slack listeners. :func:`register` is the only place that calls ``app.command``, ``app.action``
or ``app.event`` (STYLE.md anti-pattern A2: never at request time)."""

from __future__ import annotations

from slack_bolt import App

from bot.runtime.services import Services
from bot.slack.handlers import actions, commands, events

__all__ = ["register"]


def register(app: App, services: Services) -> None:
    """Register every listener once, at startup."""
    commands.register(app, services)
    actions.register(app, services)
    events.register(app, services)
