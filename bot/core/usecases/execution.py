"""Running plans: queue approved steps, run them in the background through the engine, preview
them through the executors. The decisions that lead here (who approved what) are in
:mod:`bot.core.usecases.decisions`; this only carries them out.

A simulation can be given a time budget: once it is spent, the steps not yet previewed are
reported as such instead of asked about (a preview already under way ends with its executor's
own HTTP timeout)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.core.engine import Engine
from bot.core.ports import Notifier, Runner
from bot.core.simulation import SimulatedStep, simulate_plan
from bot.core.usecases.actions import plan_actions
from bot.core.usecases.summaries import summarise_if_due
from bot.lifecycle import Click, StepStatus
from bot.store import Store
from integrations.base import Executor
from planners.model import Action

__all__ = ["Execution"]

log = logging.getLogger(__name__)

# Steps whose completion undoes their change (a manual step is only a person's to-do).
_UNDOING = frozenset(
    {Action.ROLLBACK_DEPLOY, Action.REVERT_CONFIG, Action.DISABLE_FLAG, Action.REVERT_MIGRATION}
)

_OUT_OF_TIME = (
    "not previewed: the dry run stopped after {seconds:g} s (an executor is slow to answer)"
)


@dataclass(frozen=True, kw_only=True)
class Execution:
    """Carries out what was decided.

    Args:
        store: the plans.
        engine: runs queued steps.
        executors: executors by name, for previews.
        notifier: shows progress.
        runner: where plan runs happen, off the caller's thread.
        monotonic: seconds on a clock that never goes back; measures a simulation's time budget.
    """

    store: Store
    engine: Engine
    executors: Mapping[str, Executor]
    notifier: Notifier
    runner: Runner
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False)

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
        """Run what the plan has queued, now, on this thread; then refresh its message (and its
        summary, when its incident has resolved and nothing of it is left running)."""
        try:
            self.engine.run(plan_id)
        except Exception:  # the job wrapper: a crashed run is logged; the rows keep the truth
            log.exception("running plan %s failed", plan_id)
        self._retire_rolled_back(plan_id)
        self.notifier.refresh_plan(plan_id)
        summarise_if_due(self.store, self.notifier, plan_id)

    def _retire_rolled_back(self, plan_id: str) -> None:
        """A change whose undoing step completed is no longer live: later plans exclude it."""
        stored = self.store.plans.get(plan_id)
        done = {row.step_id for row in stored.steps if row.status == StepStatus.DONE}
        for step in stored.plan.steps:
            if step.id in done and step.action in _UNDOING:
                self.store.incidents.retire_change(
                    step.change_id, why=f"rolled back by plan {plan_id} (step {step.id})"
                )

    def simulate(self, plan_id: str, *, timeout: float | None = None) -> list[SimulatedStep] | None:
        """Preview every step through the executors, touching nothing; None when the plan no
        longer offers a simulation (it is finished, or there is nothing to act on).

        Args:
            plan_id: the plan to simulate.
            timeout: seconds the simulation may take; no step's preview starts after that, and
                those left are reported as not previewed. None: no budget.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        stored = self.store.plans.get(plan_id)
        if Click.SIMULATE not in plan_actions(stored).clicks:
            return None
        steps = stored.plan.steps
        if timeout is None:
            return simulate_plan(steps, executors=self.executors, plan_id=plan_id)
        deadline = self.monotonic() + timeout
        results: list[SimulatedStep] = []
        for step in steps:
            if self.monotonic() >= deadline:
                problem = _OUT_OF_TIME.format(seconds=timeout)
                results.append(SimulatedStep(step=step, preview=None, problem=problem))
            else:
                results.extend(simulate_plan([step], executors=self.executors, plan_id=plan_id))
        return results
