"""Step notifications off the engine's path: the engine reports a step's move and goes on at once;
one background thread shows the moves in Slack, coalescing them per plan.

Before, the engine called the notifier on its own threads: a ``chat.update`` answered 429 with
``Retry-After: 4`` (the client honours it by sleeping) held the step that had just been claimed
for the length of the wait, and behind the notifier's lock every other step's report too. Now
:meth:`StepDeliveries.step_changed` only records "this step of this plan moved" and wakes the
sender. The sender takes everything recorded since its last pass and, per plan, updates the plan
message once (however many steps moved meanwhile) and posts the progress replies of the steps
that finished (:meth:`bot.slack.notifier.SlackNotifier.show_step_changes`). A call Slack refuses
goes to the outbox there, as before, so nothing is lost while Slack is slow or down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

__all__ = ["StepDeliveries"]

log = logging.getLogger(__name__)


class StepDeliveries:
    """Shows step moves in Slack from one background thread, coalesced per plan.

    Args:
        show: shows one plan's moved steps (the plan id and the step ids, in the order they
            moved); its errors are logged, never raised.
    """

    def __init__(self, show: Callable[[str, Sequence[str]], None]) -> None:
        self._show = show
        self._pending: dict[str, list[str]] = {}
        self._lock = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def step_changed(self, plan_id: str, step_id: str) -> None:
        """Record that a step moved; returns at once (the engine's ``on_change``)."""
        with self._lock:
            if self._closed:
                return
            moved = self._pending.setdefault(plan_id, [])
            if step_id not in moved:
                moved.append(step_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="step-deliveries")
                self._thread.daemon = True
                self._thread.start()
            self._lock.notify()

    @property
    def idle(self) -> bool:
        """Nothing recorded and nothing being shown."""
        with self._lock:
            return not self._pending and not self._busy

    def close(self, *, timeout: float = 10.0) -> None:
        """Show what is recorded, then stop the thread."""
        with self._lock:
            self._closed = True
            self._lock.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._lock.wait()
                if not self._pending:  # closed, and everything shown
                    return
                batch, self._pending = self._pending, {}
                self._busy = True
            try:
                for plan_id, step_ids in batch.items():
                    try:
                        self._show(plan_id, step_ids)
                    except Exception:  # the job wrapper: a report must not stop the sender
                        log.exception("showing steps %s of %s failed", step_ids, plan_id)
            finally:
                with self._lock:
                    self._busy = False
