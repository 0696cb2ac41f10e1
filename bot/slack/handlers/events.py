"""Messages in watched channels: alerts from alerting bots, deploy announcements from CI bots,
and requests for a deploy's standby plan in its thread.

Backout's own messages and edits never trigger anything. Message text is untrusted: it is parsed
into alerts or changes as data, and nothing in it can approve or execute.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot.runtime.services import Services
from bot.slack.channels import alerts_from_message, change_from_message, is_own_or_edit

__all__ = ["register"]

_SHOW_PLAN = re.compile(r"\b(plan|rollback|roll back)\b", re.IGNORECASE)


def register(app: App, services: Services) -> None:
    """Listen for channel messages."""

    def on_message(event: dict[str, Any]) -> None:
        if is_own_or_edit(event, bot_user_id=services.bot_user_id, bot_id=services.bot_id):
            return
        channel = event.get("channel", "")
        if channel in services.alert_channels and event.get("bot_id"):
            _alert(event, services)
        elif channel in services.deploy_channels:
            _deploy(event, services)

    def ack_message(ack: Ack) -> None:
        ack()

    app.event("message")(ack=ack_message, lazy=[on_message])


def _alert(event: dict[str, Any], services: Services) -> None:
    alerts = alerts_from_message(
        event,
        known_services=services.backout.topology.services.keys(),
        service_labels=services.service_labels,
        now=services.backout.clock(),
    )
    if alerts:
        services.backout.alerts_posted(alerts, channel=event["channel"], ts=event["ts"])


def _deploy(event: dict[str, Any], services: Services) -> None:
    thread = event.get("thread_ts")
    if thread and thread != event.get("ts") and not event.get("bot_id"):
        if _SHOW_PLAN.search(str(event.get("text", ""))):
            plan_id = services.backout.standby_for(channel=event["channel"], thread_ts=thread)
            if plan_id:
                services.backout.show_plan(plan_id, channel=event["channel"], thread_ts=thread)
        return
    change = change_from_message(
        event,
        known_services=services.backout.topology.services.keys(),
        patterns=services.deploy_patterns,
        environments=services.environments,
        now=services.backout.clock(),
    )
    if change is not None:
        services.backout.deploy_announced(change, channel=event["channel"], ts=event["ts"])
