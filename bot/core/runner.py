"""The background runner slow work is submitted to (plan executions, Bolt's lazy listeners): a
bounded thread pool that knows when it is idle, so shutdown, the demo and the tests can wait for
work to finish instead of sleeping (:meth:`ThreadRunner.wait_idle`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

__all__ = ["ThreadRunner"]

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_T = TypeVar("_T")


class ThreadRunner(ThreadPoolExecutor):
    """A thread pool (a :class:`~bot.core.ports.Runner`) that counts the work not yet finished.

    Args:
        workers: at most this many pieces of work run at once.
        name: the threads' name prefix.
    """

    def __init__(self, *, workers: int = 4, name: str = "plan") -> None:
        super().__init__(max_workers=workers, thread_name_prefix=name)
        self._busy = 0
        self._idle = threading.Condition()

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        """Run ``fn(*args, **kwargs)`` on a pool thread; an exception is logged."""
        with self._idle:
            self._busy += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing submitted is still running; False if ``timeout`` seconds passed."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout=timeout)

    @property
    def idle(self) -> bool:
        """Nothing submitted is still waiting or running."""
        with self._idle:
            return self._busy == 0

    def _finished(self, future: Future[Any]) -> None:
        if not future.cancelled() and (error := future.exception()) is not None:
            log.error("background work failed", exc_info=error)
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()
