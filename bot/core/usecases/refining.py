"""The model's refinements of a posted plan: asked after it is posted, applied only while nobody
has touched it (DESIGN.md, "The LLM's place").

:meth:`~bot.core.usecases.explaining.Explaining.posted` asks, on the explanations' own pool and
within the plan's one deadline, before the explanation (so the explanation is of the plan
shown). :func:`refinement_of` rebuilds the plan's inputs
(:func:`~bot.core.usecases.inputs.inputs_for`) and goes through the pure planner glue
(:func:`planners.llm.refine_plan`): the guard checks each of the model's (at most three)
proposals, the planner applies those it accepts (a change to consider is re-planned by the
planner), and the refined plan is marked ``drafted_by: graph+llm:<model>`` with notes saying
what was applied and what the graph rejected and why. :meth:`~bot.core.usecases.Planning.refine`
then stores it as a new plan in the old one's message, as a grouping redraft does: the old plan
is retired by a compare-and-set that fails if anyone approved or started anything meanwhile, so
a click on the older drawing is refused.

A plan someone touched (an approval, a step that moved, a decision), one in autopilot (what
runs at once stays the graph's alone), an abstained one or one no longer proposed is not
refined: the model is not asked. When the model proposed something, what came of it is audited
(``plan.refined`` on the new plan; ``plan.refinement_unapplied`` on the old one when nothing
replaced it, with the proposals and why: the plan and its message then stay as they were).
"""

from __future__ import annotations

import logging

from bot.core.usecases.inputs import alerts_text, inputs_for
from bot.lifecycle import Mode, PlanKind, PlanStatus, StepStatus
from bot.store import Store, StoredPlan
from planners.llm import CheckedRefinement, StructuredModel, refine_plan
from planners.planner import PlanningOptions
from planners.refine import describe
from planners.topology import Topology

__all__ = ["record_refinement", "refinement_of", "untouched"]

log = logging.getLogger(__name__)


def untouched(stored: StoredPlan, *, store: Store) -> bool:
    """A live plan still proposed, none of whose steps has moved and nobody has approved."""
    return (
        stored.kind == PlanKind.LIVE
        and stored.status == PlanStatus.PROPOSED
        and all(row.status == StepStatus.PENDING for row in stored.steps)
        and not store.approvals.of(stored.id)
    )


def refinement_of(
    stored: StoredPlan,
    *,
    model: StructuredModel,
    store: Store,
    topology: Topology,
    options: PlanningOptions,
) -> CheckedRefinement | None:
    """The model's refinement of ``stored``, checked by the graph; None when the plan is not to
    be refined (touched, in autopilot, abstained) and the model was not asked.

    Never raises for what the model does.
    """
    if stored.mode == Mode.AUTOPILOT or stored.plan.abstained or not untouched(stored, store=store):
        log.info("plan %s: not refined (touched, autopilot or abstained)", stored.id)
        return None
    inputs = inputs_for(stored, store=store, topology=topology, options=options)
    return refine_plan(
        stored.plan, model, inputs=inputs, alerts=alerts_text(store, stored.plan.incident.id)
    )


def record_refinement(
    refined: CheckedRefinement, *, stored: StoredPlan, store: Store, shown: str | None
) -> None:
    """Audit what came of a refinement the model answered: on the plan ``shown`` in its place
    (``plan.refined``), or on ``stored`` when nothing replaced it (``plan.refinement_unapplied``,
    with why). An unanswered call is only logged."""
    if refined.outcome != "ok":
        log.info(
            "plan %s: no refinement from %s (%s): %s",
            stored.id,
            refined.model,
            refined.outcome,
            refined.detail,
        )
        return
    if not refined.applied and not refined.rejected:
        log.info("plan %s: %s proposed nothing", stored.id, refined.model)
        return
    details = {
        "from": stored.id,
        "model": refined.model,
        "applied": [f"{describe(p)}: {p.reason}" for p in refined.applied],
        "rejected": [f"{describe(r.proposal)}: {r.reason}" for r in refined.rejected],
    }
    if shown is not None:
        store.audit.append(
            actor=f"llm:{refined.model}", action="plan.refined", subject=shown, details=details
        )
        return
    why = "touched or redrafted meanwhile" if refined.applied else "no proposal accepted"
    log.info("plan %s: the model's refinement is not applied (%s)", stored.id, why)
    store.audit.append(
        actor=f"llm:{refined.model}",
        action="plan.refinement_unapplied",
        subject=stored.id,
        details=details | {"why": why},
    )
