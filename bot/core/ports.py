"""The ports the core calls out through: how it shows things to people, what time it is, and
where slow work runs. The Slack edge implements :class:`Notifier` (``bot.slack.notifier``); the
runtime passes a clock and a :class:`~bot.core.runner.ThreadRunner`. Tests pass their own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from planners.questions import CheckedAnswer

__all__ = ["Clock", "Notifier", "Runner", "ThreadReplies"]

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware."""


class Notifier(Protocol):
    """How the use cases show plans to people."""

    def post_plan(
        self, plan_id: str, *, channel: str, thread_ts: str | None, requester: str | None = None
    ) -> None:
        """Post the plan (and remember where, so later changes update that message)."""

    def refresh_plan(self, plan_id: str) -> None:
        """Show the plan's current state where it was posted, in place (a redrafted plan is
        shown in the message it took over from its predecessor)."""

    def post_summary(self, plan_id: str) -> None:
        """Post the post-incident summary of the plan's incident."""


class ThreadReplies(Protocol):
    """How the use cases answer in a thread (the Slack notifier is one)."""

    def post_answer(self, *, channel: str, thread_ts: str, key: str, answer: CheckedAnswer) -> None:
        """Post a question's answer in its thread, once per ``key``."""


class Runner(Protocol):
    """Runs slow work (a plan's execution) in the background, off the caller's thread."""

    def submit(self, work: Callable[[str], None], plan_id: str, /) -> object:
        """Run ``work(plan_id)`` soon."""

    def shutdown(self, wait: bool = True) -> None:
        """Finish what was submitted (if ``wait``), then stop."""
