"""The deadline and the circuit breaker (:mod:`integrations.llm.breaker`), on a hand-moved clock."""

from __future__ import annotations

from integrations.llm import BreakerState, CircuitBreaker, Deadline
from tests.integrations.llm.conftest import Clock


def test_a_deadline_counts_down_and_never_below_zero():
    clock = Clock()
    deadline = Deadline(30.0, clock=clock)
    clock.now += 12.5
    assert (deadline.remaining(), deadline.expired) == (17.5, False)
    clock.now += 40.0
    assert (deadline.remaining(), deadline.expired) == (0.0, True)


def test_the_breaker_opens_after_consecutive_failures_only():
    breaker = CircuitBreaker(failures=3, cooldown=300.0, clock=Clock())
    breaker.failed()
    breaker.failed()
    breaker.succeeded()  # a success resets the count
    breaker.failed()
    breaker.failed()
    assert (breaker.state, breaker.allow()) == (BreakerState.CLOSED, True)
    breaker.failed()
    assert (breaker.state, breaker.allow()) == (BreakerState.OPEN, False)


def test_after_the_cooldown_one_trial_goes_out_and_its_result_decides():
    clock = Clock()
    breaker = CircuitBreaker(failures=1, cooldown=300.0, clock=clock)
    breaker.failed()
    clock.now += 299.0
    assert not breaker.allow()
    clock.now += 1.0
    assert breaker.state is BreakerState.HALF_OPEN
    assert [breaker.allow(), breaker.allow()] == [True, False]  # one trial at a time
    breaker.failed()
    assert (breaker.state, breaker.allow()) == (BreakerState.OPEN, False)
    clock.now += 300.0
    assert breaker.allow()
    breaker.succeeded()
    assert (breaker.state, breaker.allow(), breaker.allow()) == (BreakerState.CLOSED, True, True)
