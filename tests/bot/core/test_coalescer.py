"""The coalescer (issue 10): work asked for under one key runs at once if the key has been quiet
for an interval, else once when the interval ends, whatever number of requests came in between,
and always with the last work asked for. The clock and the timer are the test's: nothing
sleeps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial

from bot.core.coalescer import Coalescer
from bot.core.runner import ThreadRunner
from tests.support.store import Clock

INTERVAL = timedelta(seconds=10)


class Timers:
    """Records the wake-ups the coalescer asks for instead of starting threads."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float, fire: Callable[[], None]) -> None:
        self.asked.append(seconds)


def coalescer(clock: Clock, timers: Timers) -> Coalescer:
    return Coalescer(interval=INTERVAL, clock=clock, timer=timers)


def test_a_quiet_key_runs_at_once_and_a_busy_one_once_at_the_end_of_the_interval() -> None:
    """The first request runs; the next hundred within the interval wait and run once, with
    the last work asked for, when the interval (counted from the end of the run) is over."""
    clock, timers = Clock(), Timers()
    ran: list[object] = []
    updates = coalescer(clock, timers)
    updates.request("inc-1", lambda: ran.append("first"))
    for n in range(100):
        updates.request("inc-1", partial(ran.append, f"burst {n}"))
    assert ran == ["first"]
    assert timers.asked == [10.0]
    clock.advance(9)
    assert updates.flush_due() == 0
    clock.advance(1)
    assert updates.flush_due() == 1
    assert ran == ["first", "burst 99"]
    assert updates.waiting == 0
    assert updates.flush_due() == 0


def test_keys_are_coalesced_apart() -> None:
    """Another incident's refresh does not wait for this one's interval."""
    clock, timers = Clock(), Timers()
    ran: list[object] = []
    updates = coalescer(clock, timers)
    updates.request("inc-1", lambda: ran.append("one"))
    updates.request("inc-2", lambda: ran.append("two"))
    updates.request("inc-1", lambda: ran.append("one again"))
    assert ran == ["one", "two"]
    clock.advance(10)
    updates.flush_due()
    assert ran == ["one", "two", "one again"]


def test_a_key_that_just_ran_another_way_waits_a_whole_interval() -> None:
    """``ran`` (the plan was just posted) makes the next request wait for the interval."""
    clock, timers = Clock(), Timers()
    ran: list[object] = []
    updates = coalescer(clock, timers)
    updates.ran("inc-1")
    updates.request("inc-1", lambda: ran.append("refresh"))
    assert ran == []
    clock.advance(10)
    updates.flush_due()
    assert ran == ["refresh"]


def test_a_request_while_the_key_runs_runs_after_it() -> None:
    """A request that comes while the key's work is running is not lost: it runs one interval
    after that run ended (the work here asks again, as a redraft that found new alerts may)."""
    clock, timers = Clock(), Timers()
    ran: list[object] = []
    updates = coalescer(clock, timers)

    def work() -> None:
        ran.append(len(ran))
        if len(ran) == 1:
            updates.request("inc-1", work)

    updates.request("inc-1", work)
    assert ran == [0]
    assert updates.waiting == 1
    clock.advance(10)
    updates.flush_due()
    assert ran == [0, 1]


def test_runs_go_to_the_runner_and_stop_with_it() -> None:
    """On a runner the work runs on its threads (``wait_idle`` sees it); once the runner is
    shut down, nothing more is started and nothing waits."""
    clock, timers = Clock(), Timers()
    ran: list[object] = []
    runner = ThreadRunner(workers=1, name="coalescer-test")
    updates = Coalescer(interval=INTERVAL, clock=clock, runner=runner, timer=timers)
    updates.request("inc-1", lambda: ran.append("on the runner"))
    assert runner.wait_idle(5)
    assert ran == ["on the runner"]
    updates.request("inc-1", lambda: ran.append("too late"))
    runner.shutdown()
    clock.advance(10)
    assert updates.flush_due() == 0
    assert updates.waiting == 0
    assert ran == ["on the runner"]
