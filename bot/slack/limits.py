"""Admission at the ack: how much slow work one person or one channel may start, and where dry
runs run, so that nobody can keep approvals and alerts waiting (issue 11).

Drafting a plan (``/rollback plan``, a re-plan) and a dry run (``/rollback simulate``, the
*Simulate* button) cost seconds of a listener thread, a database write or an executor's time;
everything else a person can ask for is cheap or must always work. So those two are counted
per user and per channel in token buckets (:class:`RateLimiter`; by default 5 plans a minute a
person and 20 a channel, 5 dry runs a minute a person), and so is asking the model to explain a
plan (5 a minute a person: each is a paid model call), checked in the request itself, before
anything slow is queued; a refused request is answered at once (ephemerally) with the limit and
when to try again, and logged. Approving, rejecting, aborting, retrying, skipping and alerts are
never counted: an on-call engineer must always be able to act.

Dry runs do not run on Bolt's listener threads, which the approvals and the alerts need: they go
to their own small pool (:class:`BoundedRunner`: a few threads and a short queue, and a request
finding the queue full is told to try again shortly), and each gets a time budget after which no
further step is previewed (:meth:`bot.core.usecases.Execution.simulate`). An executor that never
answers can then hold at most that pool, never the bot.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec

from slack_sdk import WebClient

from bot.core.runner import ThreadRunner
from bot.core.usecases import Execution
from bot.slack.views import replies, simulation_message
from bot.store import PlanNotFoundError

__all__ = [
    "ASK",
    "EXPLAIN",
    "PLAN",
    "SIMULATE",
    "BoundedRunner",
    "Gate",
    "Limits",
    "Rate",
    "RateLimiter",
    "Refusal",
]

log = logging.getLogger(__name__)

_P = ParamSpec("_P")

PLAN = "plan"
"""What ``/rollback plan`` (for a service or an incident) counts against."""
SIMULATE = "simulate"
"""What a dry run (the command or the button) counts against."""
EXPLAIN = "explain"
"""What asking the model to explain a plan (``/rollback explain``, the *Explain* button) counts
against: each costs a model call (tokens, money) and a thread of the explanations' pool."""

ASK = "ask"
"""What a question asked of the bot in a plan's thread counts against: each may cost model calls
and a thread of the explanations' pool."""

Scope = Literal["user", "channel"]


@dataclass(frozen=True, kw_only=True)
class Rate:
    """``count`` requests of one ``kind`` per ``period`` seconds for each user (or channel): a
    bucket of ``count`` tokens, refilled evenly over ``period``."""

    kind: str
    scope: Scope
    count: int
    period: float = 60.0

    def __post_init__(self) -> None:
        if self.count < 1 or self.period <= 0:
            raise ValueError(f"a rate needs count >= 1 and period > 0, got {self}")

    @property
    def per_second(self) -> float:
        """Tokens the bucket gains per second."""
        return self.count / self.period


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """Why a request was refused: the rate whose bucket is empty, and the seconds until the
    request would be accepted."""

    rate: Rate
    retry_after: float


@dataclass(frozen=True, kw_only=True)
class Limits:
    """How much slow work may be started, and how dry runs run.

    Args:
        plans_per_user: plans one person may ask for per ``period``.
        plans_per_channel: plans one channel may ask for per ``period``.
        simulations_per_user: dry runs one person may ask for per ``period``.
        explanations_per_user: explanations one person may ask the model for per ``period``.
        questions_per_user: questions one person may ask the bot in plan threads per ``period``.
        period: seconds the allowances above are counted over.
        simulation_workers: dry runs that may run at once.
        simulation_queue: dry runs that may wait for a worker; beyond that one is refused.
        simulation_timeout: seconds a dry run may take before its remaining steps are skipped.
    """

    plans_per_user: int = 5
    plans_per_channel: int = 20
    simulations_per_user: int = 5
    explanations_per_user: int = 5
    questions_per_user: int = 5
    period: float = 60.0
    simulation_workers: int = 2
    simulation_queue: int = 8
    simulation_timeout: float = 30.0

    def rates(self) -> list[Rate]:
        """The rates these limits describe."""
        return [
            Rate(kind=PLAN, scope="user", count=self.plans_per_user, period=self.period),
            Rate(kind=PLAN, scope="channel", count=self.plans_per_channel, period=self.period),
            Rate(kind=SIMULATE, scope="user", count=self.simulations_per_user, period=self.period),
            Rate(kind=EXPLAIN, scope="user", count=self.explanations_per_user, period=self.period),
            Rate(kind=ASK, scope="user", count=self.questions_per_user, period=self.period),
        ]


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets keyed by (kind, user) and (kind, channel); thread-safe.

    A request takes one token from every bucket its kind has (the user's and the channel's), or
    from none when any is empty. Buckets that have filled up again are dropped (looked for once
    per longest period), so memory holds only who asked for something lately.

    Args:
        rates: the rates to enforce; a kind with none is never limited.
        clock: seconds on a clock that never goes back (:func:`time.monotonic`).
    """

    def __init__(
        self, rates: Sequence[Rate], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rates: dict[str, list[Rate]] = {}
        for rate in rates:
            self._rates.setdefault(rate.kind, []).append(rate)
        self._clock = clock
        self._buckets: dict[tuple[str, Scope, str], _Bucket] = {}
        self._lock = threading.Lock()
        self._sweep_every = max((rate.period for rate in rates), default=60.0)
        self._next_sweep = clock() + self._sweep_every

    def take(self, kind: str, *, user: str, channel: str) -> Refusal | None:
        """Count one ``kind`` request by ``user`` in ``channel``.

        Returns:
            None when it is allowed (a token was taken from each of its buckets), else the
            refusal whose wait is longest (nothing was taken).
        """
        rates = self._rates.get(kind, [])
        with self._lock:
            now = self._clock()
            self._sweep(now)
            levels = []
            for rate in rates:
                key = (kind, rate.scope, user if rate.scope == "user" else channel)
                levels.append((rate, key, self._level(key, rate, now)))
            short = [
                Refusal(rate=rate, retry_after=(1 - tokens) / rate.per_second)
                for rate, _, tokens in levels
                if tokens < 1
            ]
            if short:
                return max(short, key=lambda refusal: refusal.retry_after)
            for _, key, tokens in levels:
                self._buckets[key] = _Bucket(tokens=tokens - 1, at=now)
            return None

    def __len__(self) -> int:
        """Buckets held (not yet full again, or not yet swept)."""
        with self._lock:
            return len(self._buckets)

    def _level(self, key: tuple[str, Scope, str], rate: Rate, now: float) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            return float(rate.count)
        return min(float(rate.count), bucket.tokens + (now - bucket.at) * rate.per_second)

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._sweep_every
        by_key = {(rate.kind, rate.scope): rate for rates in self._rates.values() for rate in rates}
        full = [
            key
            for key in self._buckets
            if self._level(key, by_key[key[0], key[1]], now) >= by_key[key[0], key[1]].count
        ]
        for key in full:
            del self._buckets[key]


class BoundedRunner:
    """A small thread pool with a bounded queue: at most ``workers`` pieces of work run at once
    and ``queue`` more wait; :meth:`try_submit` refuses the rest instead of queueing them.

    Args:
        workers: threads.
        queue: pieces of work that may wait for a thread.
        name: the threads' name prefix.
    """

    def __init__(self, *, workers: int = 2, queue: int = 8, name: str = "simulate") -> None:
        self._pool = ThreadRunner(workers=workers, name=name)
        self._slots = threading.BoundedSemaphore(workers + queue)

    def try_submit(self, fn: Callable[_P, object], /, *args: _P.args, **kwargs: _P.kwargs) -> bool:
        """Run ``fn(*args, **kwargs)`` on a pool thread, unless the pool is full (False)."""
        if not self._slots.acquire(blocking=False):
            return False
        try:
            future = self._pool.submit(fn, *args, **kwargs)
        except RuntimeError:  # shut down: nothing more runs
            self._slots.release()
            return False
        future.add_done_callback(lambda _: self._slots.release())
        return True

    @property
    def idle(self) -> bool:
        """Nothing submitted is still waiting or running."""
        return self._pool.idle

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing submitted is still running; False if ``timeout`` seconds passed."""
        return self._pool.wait_idle(timeout)

    def shutdown(self, wait: bool = True) -> None:
        """Finish what was submitted (if ``wait``), then stop."""
        self._pool.shutdown(wait=wait)


class Gate:
    """What the ``/rollback`` and button listeners ask before starting slow work.

    Args:
        execution: runs the dry runs.
        limits: the allowances and the dry runs' pool.
        clock: seconds on a clock that never goes back, for the buckets.
    """

    def __init__(
        self,
        *,
        execution: Execution,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or Limits()
        self.rates = RateLimiter(self.limits.rates(), clock=clock)
        self.simulations = BoundedRunner(
            workers=self.limits.simulation_workers, queue=self.limits.simulation_queue
        )
        self._execution = execution

    def refuse(self, kind: str, *, user: str, channel: str) -> dict[str, Any] | None:
        """Count one ``kind`` request; the ephemeral answer when ``user`` or ``channel`` has
        asked for too many (logged), else None."""
        refusal = self.rates.take(kind, user=user, channel=channel)
        if refusal is None:
            return None
        rate = refusal.rate
        log.warning(
            "rate limit: %s by %s in %s refused (%s allowance of %d per %gs spent; next in %.1fs)",
            kind,
            user,
            channel,
            rate.scope,
            rate.count,
            rate.period,
            refusal.retry_after,
        )
        return replies.rate_limited(
            kind,
            scope=rate.scope,
            count=rate.count,
            period=rate.period,
            retry_after=refusal.retry_after,
        )

    def simulate(
        self, plan_id: str, *, user: str, channel: str, client: WebClient
    ) -> dict[str, Any] | None:
        """Start a dry run of ``plan_id`` on the simulations' pool; its result is posted to
        ``user`` ephemerally when it is done.

        Returns:
            None when it was queued; else the ephemeral answer saying why not (the user's
            allowance is spent, or too many dry runs are waiting).
        """
        if refused := self.refuse(SIMULATE, user=user, channel=channel):
            return refused
        if self.simulations.try_submit(self._simulate, plan_id, user, channel, client):
            return None
        log.warning("dry run of %s by %s refused: the simulations' queue is full", plan_id, user)
        return replies.simulations_busy(plan_id)

    def close(self) -> None:
        """Stop the simulations' pool once its dry runs are done."""
        self.simulations.shutdown()

    def _simulate(self, plan_id: str, user: str, channel: str, client: WebClient) -> None:
        reply: Mapping[str, Any]
        try:
            results = self._execution.simulate(plan_id, timeout=self.limits.simulation_timeout)
            reply = simulation_message(plan_id, results=results)
        except PlanNotFoundError:
            reply = replies.plan_not_found(plan_id)
        except Exception:  # this pool's job wrapper: the user is told, as by the global handler
            ref = uuid.uuid4().hex[:8]
            log.exception("dry run of %s failed (ref %s)", plan_id, ref)
            reply = replies.internal_error(ref)
        client.chat_postEphemeral(channel=channel, user=user, **reply)
