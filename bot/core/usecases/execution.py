"""Running plans: queue approved steps, run them in the background through the engine, preview
them through the executors. The decisions that lead here (who approved what) are in
:mod:`bot.core.usecases.decisions`; this only carries them out."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.core.engine import Engine
from bot.core.ports import Notifier, Runner
from bot.core.simulation import SimulatedStep, simulate_plan
from bot.core.usecases.actions import plan_actions
from bot.lifecycle import Click
from bot.store import Store
from integrations.base import Executor

__all__ = ["Execution"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Execution:
    """Carries out what was decided.

    Args:
        store: the plans.
        engine: runs queued steps.
        executors: executors by name, for previews.
        notifier: shows progress.
        runner: where plan runs happen, off the caller's thread.
    """

    store: Store
    engine: Engine
    executors: Mapping[str, Executor]
    notifier: Notifier
    runner: Runner

    def queue(self, plan_id: str, step_ids: Sequence[str], *, actor: str) -> list[str]:
        """Queue approved steps and start the plan if any moved; returns the ones queued."""
        queued = self.engine.queue(plan_id, step_ids, actor=actor) if step_ids else []
        if queued:
            self.start(plan_id)
        return queued

    def start(self, plan_id: str) -> None:
        """Show the plan's new state, then run what it has queued in the background."""
        self.notifier.refresh_plan(plan_id)
        self.runner.submit(self.run_plan, plan_id)

    def run_plan(self, plan_id: str) -> None:
        """Run what the plan has queued, now, on this thread; then refresh its message."""
        try:
            self.engine.run(plan_id)
        except Exception:  # the job wrapper: a crashed run is logged; the rows keep the truth
            log.exception("running plan %s failed", plan_id)
        self.notifier.refresh_plan(plan_id)

    def simulate(self, plan_id: str) -> list[SimulatedStep] | None:
        """Preview every step through the executors, touching nothing; None when the plan no
        longer offers a simulation (it is finished, or there is nothing to act on).

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        stored = self.store.plans.get(plan_id)
        if Click.SIMULATE not in plan_actions(stored).clicks:
            return None
        return simulate_plan(stored.plan.steps, executors=self.executors, plan_id=plan_id)
