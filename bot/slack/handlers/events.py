"""Messages in watched channels: alerts from alerting bots, deploy announcements from CI bots,
and requests for a deploy's standby plan in its thread; questions that mention the bot in the
thread of a posted plan, in any channel (answered in the thread, :mod:`bot.core.usecases.answering`,
counted per person); and changes of user groups, which end a removed member's approval rights at
once.

Backout's own messages and edits never trigger anything. Message text is untrusted: it is parsed
into alerts or changes as data, and nothing in it can approve or execute.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.core.ports import Clock
from bot.core.usecases import Planning
from bot.core.usecases.answering import Answering, Question
from bot.slack.channels import alerts_from_message, change_from_message, is_own_or_edit
from bot.slack.channels.message_text import plain_text
from bot.slack.channels.model_parse import Expected, message_text
from bot.slack.handlers.context import Watch
from bot.slack.limits import ASK, Gate
from planners.model import Alert, Change

__all__ = ["register"]

log = logging.getLogger(__name__)

_SHOW_PLAN = re.compile(r"\b(plan|rollback|roll back)\b", re.IGNORECASE)


def register(
    app: App,
    *,
    planning: Planning,
    watch: Watch,
    clock: Clock,
    forget_group: Callable[[str], None],
    answering: Answering | None = None,
    gate: Gate | None = None,
) -> None:
    """Listen for channel messages, and for changes of user groups (approval rights)."""

    def on_message(event: dict[str, Any], client: WebClient | None = None) -> None:
        if is_own_or_edit(event, bot_user_id=watch.bot_user_id, bot_id=watch.bot_id):
            return
        channel = event.get("channel", "")
        question = _question(event, bot_user_id=watch.bot_user_id)
        if question and answering and answering.plan_for(channel, question.thread_ts):
            _ask(question, answering=answering, gate=gate, client=client)
            return
        if channel in watch.alert_channels and event.get("bot_id"):
            if _may_alert(event, watch.alert_senders):
                _alert(event, planning=planning, watch=watch, clock=clock)
            else:
                log.warning(
                    "ignored a message in alert channel %s from bot %s (app %s): not among "
                    "channels.alert_senders",
                    channel,
                    event.get("bot_id"),
                    event.get("app_id") or "-",
                )
        elif channel in watch.deploy_channels:
            _deploy(event, planning=planning, watch=watch, clock=clock)

    def ack_message(ack: Ack) -> None:
        ack()

    def on_group_change(event: dict[str, Any]) -> None:
        group = event.get("subteam_id")
        if isinstance(group, str) and group:
            forget_group(group)  # its members are read afresh at the next approval

    app.event("message")(ack=ack_message, lazy=[on_message])
    app.event("subteam_members_changed")(ack=ack_message, lazy=[on_group_change])


def _question(event: dict[str, Any], *, bot_user_id: str) -> Question | None:
    """A person's new message in a thread that mentions the bot, as a question; else None."""
    thread, ts, user = event.get("thread_ts"), event.get("ts"), event.get("user")
    if not (bot_user_id and thread and ts and thread != ts and isinstance(user, str)):
        return None
    if event.get("subtype") is not None or event.get("bot_id"):
        return None
    raw = event.get("text")
    if not isinstance(raw, str) or not re.search(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", raw):
        return None
    text = re.sub(rf"@{re.escape(bot_user_id)}\b", " ", plain_text(raw))
    text = " ".join(text.split())
    if not text:
        return None
    return Question(channel=event["channel"], thread_ts=thread, ts=ts, user=user, text=text)


def _ask(
    question: Question, *, answering: Answering, gate: Gate | None, client: WebClient | None
) -> None:
    """Answer the question, unless its asker has asked too many (then tell them, privately)."""
    refused = gate.refuse(ASK, user=question.user, channel=question.channel) if gate else None
    if refused is None:
        answering.soon(question)
        return
    if client is None:  # Bolt always passes one
        return
    client.chat_postEphemeral(
        channel=question.channel,
        user=question.user,
        thread_ts=question.thread_ts,
        text=refused.get("text", ""),
        blocks=refused.get("blocks"),
    )


def _may_alert(event: dict[str, Any], senders: frozenset[str]) -> bool:
    """Whether the sending bot (or its app) may open incidents; any bot when none are listed."""
    if not senders:
        return True
    profile = event.get("bot_profile")
    app = profile.get("app_id") if isinstance(profile, dict) else None
    return bool({event.get("bot_id"), event.get("app_id"), app} & senders)


def _alert(event: dict[str, Any], *, planning: Planning, watch: Watch, clock: Clock) -> None:
    alerts = alerts_from_message(
        event,
        known_services=watch.known_services,
        service_labels=watch.service_labels,
        now=clock(),
        lookup=watch.alert_lookup,
    )
    if alerts:
        planning.alerts_posted(alerts, channel=event["channel"], ts=event["ts"])
        return
    alert = _model_read(event, watch=watch, clock=clock, expect="alert")
    if isinstance(alert, Alert):
        planning.alerts_posted([alert], channel=event["channel"], ts=event["ts"])


def _deploy(event: dict[str, Any], *, planning: Planning, watch: Watch, clock: Clock) -> None:
    thread = event.get("thread_ts")
    if thread and thread != event.get("ts") and not event.get("bot_id"):
        if _SHOW_PLAN.search(str(event.get("text", ""))):
            plan_id = planning.standby_for(channel=event["channel"], thread_ts=thread)
            if plan_id:
                planning.show_plan(plan_id, channel=event["channel"], thread_ts=thread)
        return
    change = change_from_message(
        event,
        known_services=watch.known_services,
        patterns=watch.deploy_patterns,
        environments=watch.environments,
        version_pattern=watch.version_pattern,
        now=clock(),
    )
    if change is None:
        read = _model_read(event, watch=watch, clock=clock, expect="change")
        change = read if isinstance(read, Change) else None
    if change is not None:
        planning.deploy_announced(change, channel=event["channel"], ts=event["ts"])


def _model_read(
    event: dict[str, Any], *, watch: Watch, clock: Clock, expect: Expected
) -> Alert | Change | None:
    """What the model reads in a message no pattern read (never without a model); checked by
    :class:`~bot.slack.channels.model_parse.MessageParser`, else logged and ignored."""
    if watch.parser is None:
        return None
    text = message_text(event)
    if text is None:
        return None
    result = watch.parser.parse(
        text,
        expect=expect,
        known_services=watch.known_services,
        version_pattern=watch.version_pattern,
        environments=watch.environments,
        ts=event.get("ts"),
        now=clock(),
    )
    level = logging.WARNING if result.model_failed else logging.INFO
    verdict = "read" if result.item is not None else "ignored"
    log.log(
        level,
        "message %s in %s %s by the model: %s",
        event.get("ts"),
        event.get("channel"),
        verdict,
        result.reason,
    )
    return result.item
