"""``verify``: consecutive healthy readings, a deadline, and which errors count as bad readings.

Pure tests: a scripted check and a fake clock that only moves when ``verify`` sleeps.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from integrations.base import HealthReading
from integrations.errors import ConfigError, UnavailableError
from integrations.health import AllOf, ServiceHealth, Verdict, verify

OK = HealthReading(healthy=True, detail="error ratio 0.01 (needs < 0.05)", value=0.01)
BAD = HealthReading(healthy=False, detail="error ratio 0.2 (needs < 0.05)", value=0.2)


class ScriptedCheck:
    """Answers its script in order (a reading, or an exception to raise); records read times."""

    kind: ClassVar[str] = "scripted"

    def __init__(
        self,
        *script: HealthReading | Exception,
        clock: FakeClock | None = None,
        repeat_last: bool = False,
    ) -> None:
        self.script: list[HealthReading | Exception] = list(script)
        self.clock = clock
        self.repeat_last = repeat_last
        self.read_at: list[float] = []

    def read(self) -> HealthReading:
        self.read_at.append(self.clock.now if self.clock else 0.0)
        if len(self.script) > 1 or not self.repeat_last:
            outcome = self.script.pop(0)
        else:
            outcome = self.script[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class FakeClock:
    """Monotonic seconds that advance only through ``sleep``."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def run(check: ScriptedCheck, clock: FakeClock, **kwargs: Any) -> Verdict:
    return verify(check, sleep=clock.sleep, clock=clock, **kwargs)


def test_three_healthy_readings_in_a_row_pass(clock):
    """Three healthy readings, an interval apart, make a healthy verdict."""
    check = ScriptedCheck(OK, OK, OK, clock=clock)
    verdict = run(check, clock, consecutive=3, interval=5.0)
    assert verdict.healthy is True
    assert verdict.readings == (OK, OK, OK)
    assert check.read_at == [0.0, 5.0, 10.0]
    assert verdict.reason == f"healthy 3 times in a row ({OK.detail})"


def test_a_bad_reading_restarts_the_count(clock):
    """Two good, one bad, then three good: six readings before the verdict."""
    check = ScriptedCheck(OK, OK, BAD, OK, OK, OK, clock=clock)
    verdict = run(check, clock, consecutive=3)
    assert verdict.healthy is True
    healthy = [reading.healthy for reading in verdict.readings]
    assert healthy == [True, True, False, True, True, True]


def test_running_out_of_time_is_unhealthy_with_the_reason(clock):
    """Never healthy long enough: the verdict says so, with the last reading's detail."""
    check = ScriptedCheck(BAD, clock=clock, repeat_last=True)
    verdict = run(check, clock, consecutive=3, interval=5.0, timeout=120.0)
    assert verdict.healthy is False
    assert verdict.reason.startswith("not healthy 3 times in a row within 120 s")
    assert verdict.reason.endswith(f"last: {BAD.detail})")
    assert all(reading == BAD for reading in verdict.readings)
    assert max(check.read_at) <= 120.0


def test_it_stops_once_the_streak_can_no_longer_fit(clock):
    """Healthy near the end is not enough when the needed streak cannot finish in time."""
    check = ScriptedCheck(BAD, BAD, OK, OK, OK, clock=clock)
    verdict = run(check, clock, consecutive=3, interval=5.0, timeout=12.0)
    assert verdict.healthy is False
    assert len(verdict.readings) == 1
    assert clock.slept == []


def test_a_reading_at_the_deadline_still_counts(clock):
    """Readings at 0, 5 and 10 s fit a 10 s timeout."""
    check = ScriptedCheck(OK, OK, OK, clock=clock)
    verdict = run(check, clock, consecutive=3, interval=5.0, timeout=10.0)
    assert verdict.healthy is True


def test_temporary_errors_count_as_bad_readings(clock):
    """An unavailable backend is a bad reading that says why, and the count restarts."""
    unavailable = UnavailableError("GET /api/v1/query timed out", integration="prometheus")
    check = ScriptedCheck(OK, unavailable, OK, OK, OK, clock=clock)
    verdict = run(check, clock, consecutive=3)
    assert verdict.healthy is True
    assert len(verdict.readings) == 5
    failed = verdict.readings[1]
    assert failed.healthy is False
    assert failed.detail == "scripted check could not be read: GET /api/v1/query timed out"


def test_permanent_errors_propagate(clock):
    """A configuration error is not a bad reading: it stops verification at once."""
    check = ScriptedCheck(OK, ConfigError("parse error", integration="prometheus"), OK, clock=clock)
    with pytest.raises(ConfigError, match="parse error"):
        run(check, clock)
    assert len(check.read_at) == 2


@pytest.mark.parametrize(
    "kwargs",
    [{"consecutive": 0}, {"consecutive": True}, {"interval": -1.0}, {"timeout": -1.0}],
)
def test_nonsense_settings_are_refused(clock, kwargs):
    """consecutive below 1 and negative times are programming errors."""
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        run(ScriptedCheck(OK), clock, **kwargs)


def test_all_of_is_healthy_only_when_every_check_is():
    """One unhealthy check makes the combined reading unhealthy, and both details show."""
    reading = AllOf([ScriptedCheck(OK), ScriptedCheck(BAD)]).read()
    assert reading.healthy is False
    assert reading.detail == f"{OK.detail}; {BAD.detail}"


def test_all_of_still_reads_the_others_when_one_is_unavailable():
    """A temporary failure in one check is an unhealthy part; the others are still read."""
    second = ScriptedCheck(OK)
    unavailable = UnavailableError("connection refused", integration="http")
    reading = AllOf([ScriptedCheck(unavailable), second]).read()
    assert reading.healthy is False
    assert "could not be read: connection refused" in reading.detail
    assert len(second.read_at) == 1


def test_service_health_verifies_with_its_own_settings(clock):
    """A service asking for two readings in a row is healthy after two."""
    health = ServiceHealth(checks=(ScriptedCheck(OK, OK, clock=clock),), consecutive=2, interval=1)
    verdict = health.verify(sleep=clock.sleep, clock=clock)
    assert verdict.healthy is True
    assert len(verdict.readings) == 2
    assert clock.slept == [1]
