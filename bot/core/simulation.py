"""Previews: every step of a plan through its executor's ``preview`` only (``/rollback simulate``,
``backout simulate``, the *Simulate* button). Nothing is touched. :func:`operation_for` is the
executor's view of a step, shared with the engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from integrations.base import Executor, Operation, Preview
from integrations.errors import IntegrationError
from planners.model import Step

__all__ = ["SimulatedStep", "operation_for", "simulate_plan"]


def operation_for(plan_id: str, step: Step) -> Operation:
    """The executor's view of a plan step; ``key`` is stable across retries and restarts."""
    return Operation(
        step_id=step.id,
        action=step.action,
        service=step.service,
        params=dict(step.target),
        target_version=step.target_version,
        bad_version=step.bad_version,
        flag=step.flag,
        key=f"{plan_id}/{step.id}",
    )


@dataclass(frozen=True, kw_only=True)
class SimulatedStep:
    """What one step would do, from its executor's preview, or why it could not say."""

    step: Step
    preview: Preview | None
    problem: str = ""


def simulate_plan(
    steps: Sequence[Step], *, executors: Mapping[str, Executor], plan_id: str = "simulation"
) -> list[SimulatedStep]:
    """Run every step through its executor's ``preview`` only: reports, touches nothing."""
    results = []
    for step in steps:
        executor = executors.get(step.executor or "")
        if step.executor is None:
            results.append(SimulatedStep(step=step, preview=None, problem="manual step: by hand"))
        elif executor is None:
            known = ", ".join(sorted(executors)) or "none"
            problem = f"executor {step.executor!r} is not configured (configured: {known})"
            results.append(SimulatedStep(step=step, preview=None, problem=problem))
        else:
            try:
                preview = executor.preview(operation_for(plan_id, step))
            except IntegrationError as exc:
                results.append(SimulatedStep(step=step, preview=None, problem=str(exc)))
            else:
                results.append(SimulatedStep(step=step, preview=preview))
    return results
