"""Two guards on the time a plan spends on the model: a :class:`Deadline` shared by a plan's
calls, and a :class:`CircuitBreaker` that skips an endpoint after repeated failures. Both take
the clock as an argument (monotonic seconds), so tests move time instead of waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import StrEnum

__all__ = ["BreakerState", "CircuitBreaker", "Deadline"]

Clock = Callable[[], float]


class Deadline:
    """A point in time ``seconds`` from now; every call of one plan shares one."""

    def __init__(self, seconds: float, *, clock: Clock) -> None:
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._end - self._clock())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f})"


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls go through
    OPEN = "open"  # calls are skipped until the cooldown is over
    HALF_OPEN = "half_open"  # one trial call is out; its result closes or reopens


class CircuitBreaker:
    """After ``failures`` consecutive failures, refuse calls for ``cooldown`` seconds; then let
    one trial through, which closes the breaker on success or reopens it on failure.

    Thread-safe: the bot calls the model from several worker threads.
    """

    def __init__(self, *, failures: int = 3, cooldown: float = 300.0, clock: Clock) -> None:
        self._threshold, self._cooldown, self._clock = failures, cooldown, clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_out = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._trial_out or self._clock() - self._opened_at >= self._cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """Whether a call may go out now (taking the one trial when half-open)."""
        with self._lock:
            state = self._state()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._trial_out:
                self._trial_out = True
                return True
            return False

    def succeeded(self) -> None:
        """The endpoint answered: close the breaker."""
        with self._lock:
            self._failures, self._opened_at, self._trial_out = 0, None, False

    def failed(self) -> None:
        """The endpoint failed: count it, and open (again) at the threshold or after a trial."""
        with self._lock:
            self._failures += 1
            if self._trial_out or self._failures >= self._threshold:
                self._opened_at, self._trial_out = self._clock(), False

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self.state.value}, failures={self._failures})"
