"""Coalesced updates: work asked for again and again under one key (an incident whose alerts keep
arriving) runs at most once per interval, and the last request always gets its run.

Slack allows about one message a second per channel, and an alert storm brings hundreds of
payloads a minute: :class:`~bot.core.usecases.planning.Planning` asks a :class:`Coalescer` to
refresh an incident's plan message on every change, and the coalescer runs the refresh (a redraft
and one ``chat.update``) at once if the key has not run for an interval, else once at the end of
the interval, whatever number of requests came in between. The runs go to a
:class:`~bot.core.ports.Runner` (the plan runner, so ``wait_idle`` sees them); the end of an
interval is noticed by a timer thread, or by :meth:`Coalescer.flush_due` (the next request calls
it too). Time comes from the injected clock, so a test moves its clock on and calls
:meth:`Coalescer.flush_due` instead of sleeping.

Per process: with several replicas, each coalesces what it receives (at most one update per
interval per replica).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.core.ports import Clock, Runner

__all__ = ["Coalescer", "Timer", "start_timer"]

log = logging.getLogger(__name__)

Timer = Callable[[float, Callable[[], None]], object]
"""Calls the function once, that many seconds from now, on another thread."""


def start_timer(seconds: float, fire: Callable[[], None]) -> threading.Timer:
    """The default :data:`Timer`: a daemon :class:`threading.Timer`."""
    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.name = "coalescer"
    timer.start()
    return timer


class _Inline:
    """A runner that runs the work on the caller's thread (no runner given)."""

    def submit(self, work: Callable[[str], None], key: str, /) -> None:
        work(key)

    def shutdown(self, wait: bool = True) -> None:
        """Nothing to stop."""


class Coalescer:
    """Runs each key's latest requested work at most once per ``interval``.

    Args:
        interval: the least time between the end of one run of a key and the start of the
            next (so between the updates two runs make).
        clock: the current time.
        runner: where runs go; on the requesting thread when None.
        timer: starts the wake-up at the end of an interval (:func:`start_timer`).
    """

    def __init__(
        self,
        *,
        interval: timedelta,
        clock: Clock,
        runner: Runner | None = None,
        timer: Timer = start_timer,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._runner: Runner = runner if runner is not None else _Inline()
        self._timer = timer
        # Re-entrant: runs are handed to the runner under the lock (so a due run is never out of
        # sight of the runner's wait_idle), and the inline runner runs them right there.
        self._lock = threading.RLock()
        self._wanted: dict[str, Callable[[], None]] = {}
        self._running: dict[str, Callable[[], None]] = {}
        self._last: dict[str, datetime] = {}
        self._armed: datetime | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        """How many keys have a request that has not started running."""
        with self._lock:
            return len(self._wanted)

    def request(self, key: str, work: Callable[[], None]) -> None:
        """Ask for ``work`` under ``key``: run now if the key's last run started an interval
        ago or more, else once when the interval ends (replacing any work still waiting)."""
        with self._lock:
            if self._closed:
                return
            self._wanted[key] = work
        self.flush_due()

    def ran(self, key: str) -> None:
        """The key's work was just done another way (its message was posted): the next run
        waits a whole interval."""
        with self._lock:
            self._last[key] = self._clock()

    def flush_due(self) -> int:
        """Start every waiting run whose interval has ended; returns how many started."""
        with self._lock:
            due = self._take_due(self._clock())
            started = sum(self._submit(key) for key in due)
        self._arm()
        return started

    def close(self) -> None:
        """Drop what waits and start nothing more (what runs finishes)."""
        with self._lock:
            self._closed = True
            self._wanted.clear()

    def _take_due(self, now: datetime) -> list[str]:
        due = []
        for key in list(self._wanted):
            last = self._last.get(key)
            if key in self._running or (last is not None and now - last < self._interval):
                continue
            self._running[key] = self._wanted.pop(key)
            self._last[key] = now
            due.append(key)
        # Forget keys that have been quiet for an interval: they would run at once anyway.
        for key in [k for k, at in self._last.items() if now - at >= self._interval]:
            if key not in self._wanted and key not in self._running:
                del self._last[key]
        return due

    def _submit(self, key: str) -> bool:
        try:
            self._runner.submit(self._run, key)
        except RuntimeError:  # the runner was shut down: the process is stopping
            log.info("coalesced work for %s dropped: the runner has stopped", key)
            self.close()
            with self._lock:
                self._running.pop(key, None)
            return False
        return True

    def _run(self, key: str) -> None:
        try:
            with self._lock:
                work = self._running[key]
            work()
        finally:
            with self._lock:
                self._running.pop(key, None)
                self._last[key] = self._clock()  # what it showed landed now: count from here
            self._arm()

    def _arm(self) -> None:
        """Make sure a timer fires when the earliest waiting run is due."""
        with self._lock:
            if self._closed:
                return
            deadlines = [
                self._last[key] + self._interval if key in self._last else self._clock()
                for key in self._wanted
                if key not in self._running
            ]
            if not deadlines:
                return
            deadline = min(deadlines)
            if self._armed is not None and self._armed <= deadline:
                return
            self._armed = deadline
            delay = max(0.0, (deadline - self._clock()).total_seconds())
        self._timer(delay, self._fire)

    def _fire(self) -> None:
        with self._lock:
            self._armed = None
        self.flush_due()
