"""A dry run's time budget (issue 11, item 10): once it is spent no further step is previewed,
and the steps left say why. The executor moves a hand-held clock; nothing sleeps."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.core.engine import Engine
from bot.core.usecases import Execution
from bot.store import Store
from integrations.base import Operation, Preview
from integrations.executors.simulated import SimulatedExecutor
from tests.support.store import make_plan


class Seconds:
    """A monotonic clock that stands still until moved."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class SlowPreviews:
    """A simulated executor whose every preview takes ``seconds`` on ``clock``."""

    clock: Seconds
    seconds: float
    inner: SimulatedExecutor = field(default_factory=SimulatedExecutor)
    asked: list[str] = field(default_factory=list)

    def preview(self, operation: Operation) -> Preview:
        self.asked.append(operation.step_id)
        self.clock.now += self.seconds
        return self.inner.preview(operation)


@dataclass
class Quiet:
    """A notifier and a runner that do nothing (a dry run uses neither)."""

    def post_plan(
        self, plan_id: str, *, channel: str, thread_ts: str | None, requester: str | None = None
    ) -> None:
        pass

    def refresh_plan(self, plan_id: str) -> None:
        pass

    def post_summary(self, plan_id: str) -> None:
        pass

    def submit(self, work: Callable[[str], None], plan_id: str, /) -> None:
        pass

    def shutdown(self, wait: bool = True) -> None:
        pass


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, migrated_sqlite_file: Path) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("budget") / "backout.db"
    shutil.copyfile(migrated_sqlite_file, path)
    with Store.from_url(f"sqlite:///{path}", upgrade=False) as opened:
        yield opened


def execution(store: Store, executor: SlowPreviews, clock: Seconds) -> Execution:
    quiet = Quiet()
    return Execution(
        store=store,
        engine=Engine(store=store, executors={}),
        executors={"kubernetes": executor},  # type: ignore[dict-item]  # previews only
        notifier=quiet,
        runner=quiet,
        monotonic=clock,
    )


def test_steps_after_the_budget_are_reported_not_previewed(store):
    """Previews of 20 s with a 30 s budget: the first two run, the third is not asked."""
    clock = Seconds()
    executor = SlowPreviews(clock, seconds=20)
    plan_id = store.plans.save(make_plan(3))
    results = execution(store, executor, clock).simulate(plan_id, timeout=30)
    assert results is not None
    assert executor.asked == ["s1", "s2"]
    assert [r.preview is not None for r in results] == [True, True, False]
    assert results[2].problem == (
        "not previewed: the dry run stopped after 30 s (an executor is slow to answer)"
    )


def test_without_a_budget_every_step_is_previewed(store):
    """No timeout: however slow, every step is asked (``backout simulate`` on a terminal)."""
    clock = Seconds()
    executor = SlowPreviews(clock, seconds=20)
    plan_id = store.plans.save(make_plan(3))
    results = execution(store, executor, clock).simulate(plan_id)
    assert results is not None
    assert executor.asked == ["s1", "s2", "s3"]
    assert all(r.preview is not None for r in results)
