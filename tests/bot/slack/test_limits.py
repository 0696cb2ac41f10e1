"""The allowances counted at the ack and the dry runs' pool (issue 11, item 10), on their own:
token buckets on a hand-moved clock (no test sleeps), and a pool whose work waits on events."""

from __future__ import annotations

import json
import threading
from typing import Any, cast

import pytest

from bot.core.usecases import Execution
from bot.slack.limits import PLAN, SIMULATE, BoundedRunner, Gate, Limits, Rate, RateLimiter
from tests.support.store import race


class Seconds:
    """A monotonic clock that stands still until the test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def limiter(clock: Seconds, limits: Limits | None = None) -> RateLimiter:
    return RateLimiter((limits or Limits()).rates(), clock=clock)


def takes(rates: RateLimiter, count: int, kind: str = PLAN, **who: str) -> list[bool]:
    """Whether each of ``count`` requests was allowed."""
    who = {"user": "U1", "channel": "C1", **who}
    return [
        rates.take(kind, user=who["user"], channel=who["channel"]) is None for _ in range(count)
    ]


def test_a_user_gets_five_plans_then_one_every_twelve_seconds():
    """The bucket holds 5 and refills at 5 a minute: the 6th waits 12 s, and is told so."""
    clock = Seconds()
    rates = limiter(clock)
    assert takes(rates, 5) == [True] * 5
    refusal = rates.take(PLAN, user="U1", channel="C1")
    assert refusal is not None
    assert (refusal.rate.scope, refusal.rate.count, refusal.retry_after) == ("user", 5, 12.0)
    clock.advance(11.9)
    assert takes(rates, 1) == [False]
    clock.advance(0.1)
    assert takes(rates, 2) == [True, False]
    clock.advance(60)
    assert takes(rates, 6) == [True] * 5 + [False]


def test_users_are_counted_apart():
    """One user spending their allowance leaves another's whole."""
    rates = limiter(Seconds())
    assert takes(rates, 6, user="U1") == [True] * 5 + [False]
    assert takes(rates, 6, user="U2") == [True] * 5 + [False]


def test_a_channel_caps_everyone_in_it_and_a_refusal_costs_nothing():
    """Four people use the channel's 20 plans; a fifth is refused there (by the channel's
    allowance, which takes none of theirs) and still has all 5 in another channel."""
    rates = limiter(Seconds())
    for user in ("U1", "U2", "U3", "U4"):
        assert takes(rates, 5, user=user, channel="C1") == [True] * 5
    refusal = rates.take(PLAN, user="U5", channel="C1")
    assert refusal is not None
    assert (refusal.rate.scope, refusal.rate.count, refusal.retry_after) == ("channel", 20, 3.0)
    assert takes(rates, 6, user="U5", channel="C2") == [True] * 5 + [False]


def test_kinds_are_counted_apart_and_unlisted_kinds_never_limited():
    """Plans and dry runs have their own buckets; an approval (no rate) always passes."""
    rates = limiter(Seconds())
    assert takes(rates, 6, kind=PLAN) == [True] * 5 + [False]
    assert takes(rates, 6, kind=SIMULATE) == [True] * 5 + [False]
    assert takes(rates, 100, kind="approve") == [True] * 100


def test_the_refusal_names_the_longest_wait():
    """When the user's and the channel's buckets are both empty, the answer is the later one."""
    clock = Seconds()
    rates = RateLimiter(
        [
            Rate(kind=PLAN, scope="user", count=2, period=60),
            Rate(kind=PLAN, scope="channel", count=2, period=120),
        ],
        clock=clock,
    )
    assert takes(rates, 2) == [True, True]
    clock.advance(10)  # the user's bucket is 20 s from a token, the channel's 50 s
    refusal = rates.take(PLAN, user="U1", channel="C1")
    assert refusal is not None
    assert refusal.rate.scope == "channel"
    assert refusal.retry_after == pytest.approx(50.0)


def test_buckets_full_again_are_dropped_but_not_the_ones_still_short():
    """Memory holds only who asked lately: after a period, full buckets go; a user who spent
    their allowance just before keeps their bucket, and stays refused."""
    clock = Seconds()
    rates = limiter(clock)
    for n in range(1000):
        rates.take(PLAN, user=f"U{n}", channel=f"C{n}")
    assert len(rates) == 2000
    clock.advance(50)
    assert takes(rates, 5, user="UX", channel="CX") == [True] * 5
    clock.advance(10)
    assert takes(rates, 1, user="UY", channel="CY") == [True]  # the sweep runs here
    assert len(rates) == 4  # UX and CX (still short), UY and CY (just used)
    assert takes(rates, 1, user="UX", channel="CX") == [False]


def test_concurrent_requests_never_get_more_than_the_allowance():
    """Fifty threads asking at the same instant for one user: exactly five pass."""
    rates = limiter(Seconds())
    allowed = race(50, lambda _: rates.take(PLAN, user="U1", channel="C1") is None)
    assert allowed.count(True) == 5


def test_a_rate_must_allow_something():
    """A rate of nothing, or over no time, is a configuration mistake."""
    with pytest.raises(ValueError, match="count >= 1"):
        Rate(kind=PLAN, scope="user", count=0)
    with pytest.raises(ValueError, match="period > 0"):
        Rate(kind=PLAN, scope="user", count=1, period=0)


def test_the_pool_runs_a_few_queues_a_few_and_refuses_the_rest():
    """One worker and a queue of one: the third piece of work is refused, not queued; once the
    pool drains it takes work again."""
    pool = BoundedRunner(workers=1, queue=1, name="test-pool")
    release = threading.Event()
    ran: list[int] = []

    def work(n: int) -> None:
        assert release.wait(10)
        ran.append(n)

    try:
        assert pool.try_submit(work, 1)
        assert pool.try_submit(work, 2)
        assert not pool.try_submit(work, 3)
        assert not pool.idle
    finally:
        release.set()
    assert pool.wait_idle(10)
    assert ran == [1, 2]
    assert pool.try_submit(work, 4)
    assert pool.wait_idle(10)
    assert ran == [1, 2, 4]
    pool.shutdown()
    assert not pool.try_submit(work, 5)


def test_a_failing_piece_of_work_gives_its_slot_back():
    """Work that raises is logged by the pool and frees its place in the queue."""
    pool = BoundedRunner(workers=1, queue=0, name="test-pool")

    def fail() -> None:
        raise RuntimeError("boom")

    assert pool.try_submit(fail)
    assert pool.wait_idle(10)
    assert pool.try_submit(fail)
    assert pool.wait_idle(10)
    pool.shutdown()


def test_the_gate_answers_a_spent_allowance_with_the_limit_and_the_wait(caplog):
    """The answer says which limit was hit and when to try again; the refusal is logged."""
    clock = Seconds()
    gate = Gate(execution=cast(Execution, None), clock=clock)  # no dry run is started here
    try:
        for _ in range(5):
            assert gate.refuse(PLAN, user="U1", channel="C1") is None
        with caplog.at_level("WARNING", logger="bot.slack.limits"):
            answer: Any = gate.refuse(PLAN, user="U1", channel="C1")
        assert answer is not None
        text = json.dumps(answer)
        assert "One person may ask for 5 plans a minute" in answer["text"]
        assert "Try again in 12 s" in answer["text"]
        assert "never limited" in text
        assert any("rate limit: plan by U1 in C1 refused" in r.message for r in caplog.records)
    finally:
        gate.close()
