"""Replies Backout makes on its own clock in a plan's thread: approval reminders (the
:class:`~bot.core.usecases.deadlines.Reminders` port) and what a deploy watch read when it
opened the incident (the :class:`~bot.core.usecases.watches.BreachNotes` port).

Each reply goes through the outbox (:meth:`bot.store.Conversations.enqueue`) under its own key,
``remind:<plan>:<n>`` or ``watch:<change>``: whichever replica runs the job, and however often a
job runs again after a crash, the reply is posted once, by the next outbox flush (the scheduler's
tick, every few seconds), and retried while Slack is down.

Mentions come from the policy only (user ids as ``<@U…>``, user groups as ``<!subteam^S…>``),
never from alert or deploy text; every other value is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from bot.core.policy import is_group_id, is_user_id
from bot.slack.views.blocks import short
from bot.slack.views.escape import code, escape, truncate
from bot.store import Store

__all__ = ["SlackReminders"]

_PENDING = "pending:"
"""The ``ts`` a plan message has until Slack took it (:mod:`bot.slack.notifier`)."""

REMINDER: Final = (
    ":alarm_clock: Plan {plan} has waited {waited} for approval of stage *{stage}* "
    "(steps {steps}). {who} {expiry}"
)
REMINDER_WHO: Final = "Who may approve: {mentions}."
REMINDER_NOBODY: Final = (
    "Nobody may approve these steps under the policy (add approvers under policy: in the settings)."
)
REMINDER_EXPIRY: Final = "Unless someone approves it, it expires in {expires_in}."
REMINDER_EXPIRES_NOW: Final = "It expires now unless someone approves it."
BREACH: Final = (
    ":rotating_light: Deploy watch: {check} breached {after} after deploy {change} of *{service}*"
    "{version}. Reading: {reading}"
)
BREACH_VERSION: Final = " ({version})"


class SlackReminders:
    """Thread replies through the outbox.

    Args:
        store: plan messages (where to reply) and the outbox.
    """

    def __init__(self, *, store: Store) -> None:
        self.store = store

    def remind(
        self,
        plan_id: str,
        *,
        number: int,
        mentions: Sequence[str],
        stage: str,
        steps: Sequence[str],
        waited: timedelta,
        expires_in: timedelta,
    ) -> bool:
        """Remind the approvers in the plan's thread (reminder ``number``, posted once)."""
        named = [_mention(who) for who in mentions]
        shown = [m for m in named if m]
        who = REMINDER_WHO.format(mentions=", ".join(shown)) if shown else REMINDER_NOBODY
        expiry = (
            REMINDER_EXPIRY.format(expires_in=_duration(expires_in))
            if expires_in > timedelta(0)
            else REMINDER_EXPIRES_NOW
        )
        text = REMINDER.format(
            plan=code(plan_id, limit=60),
            waited=_duration(waited),
            stage=short(stage, 40),
            steps=", ".join(code(step, limit=40) for step in steps[:10]),
            who=who,
            expiry=expiry,
        )
        return self._reply(plan_id, text, key=f"remind:{plan_id}:{number}")

    def breach(
        self,
        plan_id: str,
        *,
        change_id: str,
        service: str,
        version: str | None,
        check: str,
        reading: str,
        after: timedelta,
    ) -> bool:
        """Say in the plan's thread what the deploy watch read (posted once per change)."""
        text = BREACH.format(
            check=code(check, limit=300),
            after=_duration(after),
            change=code(change_id, limit=80),
            service=short(service),
            version=BREACH_VERSION.format(version=code(version, limit=60)) if version else "",
            reading=truncate(escape(reading), limit=1500),
        )
        return self._reply(plan_id, text, key=f"watch:{change_id}")

    def _reply(self, plan_id: str, text: str, *, key: str) -> bool:
        message = self.store.conversations.plan_message(plan_id)
        if message is None or message.ts.startswith(_PENDING):
            return False
        args: dict[str, Any] = {
            "channel": message.channel,
            "thread_ts": message.thread_ts or message.ts,
            "text": text,
        }
        self.store.conversations.enqueue("chat.postMessage", args, key=key)
        return True


def _mention(who: str) -> str | None:
    """A policy id as a Slack mention; None for anything that is not a Slack id."""
    if is_user_id(who):
        return f"<@{who}>"
    if is_group_id(who):
        return f"<!subteam^{who}>"
    return None


def _duration(span: timedelta) -> str:
    """``2 h``, ``1 h 30 min``, ``15 min``, ``45 s``."""
    seconds = max(int(span.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"
