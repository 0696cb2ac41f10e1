"""Accepted refinements applied by the planner (:mod:`planners.refine`): the refined plan starts
with one note per proposal, what was applied with the model's reason and what the graph
rejected with its own, and a re-plan is finished as the caller finishes every plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from planners.answers import PlanRefinement
from planners.llm import plan_view
from planners.model import Plan
from planners.refine import APPLIED, REJECTED, PlanningInputs, Refined, apply
from planners.validate import check_refinement
from tests.planners.llm_cases import INPUTS, base_plan

PLAN = base_plan()
UNCOUPLED = PLAN.model_copy(
    update={
        "steps": tuple(
            s.model_copy(update={"why": "top suspect"}) if s.id == "s1" else s for s in PLAN.steps
        )
    }
)
"""The plan with s1's coupling taken out of its why, so that s3 may be dropped."""
DROP: dict[str, object] = {
    "kind": "drop_step",
    "step": "s3",
    "evidence": ["E16"],
    "reason": "not needed",
}
LATE: dict[str, object] = {
    "kind": "consider_change",
    "change": "C4",
    "evidence": ["E17"],
    "reason": "payments",
}
CONSIDER: dict[str, object] = {
    "kind": "consider_change",
    "change": "C2",
    "evidence": ["E10"],
    "reason": "the flag",
}


def answer(*proposals: dict[str, object]) -> PlanRefinement:
    full = [{"step": None, "before": None, "change": None} | p for p in proposals]
    return PlanRefinement.model_validate({"proposals": full})


def applied(plan: Plan, *proposals: dict[str, object], inputs: PlanningInputs = INPUTS) -> Refined:
    verdict = check_refinement(
        plan,
        answer(*proposals),
        shown=[plan_view(plan)],
        changes=inputs.by_id,
        window=timedelta(hours=2),
        skew=timedelta(minutes=2),
        topology=inputs.topology,
    )
    return apply(plan, verdict.accepted, inputs=inputs, model="m1", rejected=verdict.rejected)


def test_the_refined_plan_starts_with_what_was_applied_then_what_was_rejected():
    """A drop the guard accepts and a change it refuses: the plan loses the step and its notes
    start with the drop (the model's reason), then the refusal (the graph's), then its own."""
    refined = applied(UNCOUPLED, LATE, DROP)
    assert [s.id for s in refined.plan.steps] == ["s1", "s2"]
    assert refined.plan.drafted_by == "graph+llm:m1"
    first, second, *rest = refined.plan.notes
    assert first == f"{APPLIED}drop s3: not needed"
    assert second.startswith(f"{REJECTED}consider C4: ") and "after the incident" in second
    assert tuple(rest) == UNCOUPLED.notes


def test_nothing_accepted_leaves_the_plan_as_it_was():
    """Only refused proposals: the plan is the planner's, unmarked and without notes added."""
    refined = applied(PLAN, LATE)
    assert refined.plan == PLAN
    assert refined.applied == () and refined.set_aside == ()


def test_a_re_plan_is_finished_as_the_caller_finishes_every_plan():
    """A change to consider re-plans from the inputs through their ``finish`` (here: the
    incident's stored name); the drop of the same answer is set aside and noted so."""

    def named(plan: Plan) -> Plan:
        return plan.model_copy(
            update={"incident": plan.incident.model_copy(update={"id": "inc-stored"})}
        )

    inputs = replace(INPUTS, finish=named)
    refined = applied(UNCOUPLED, CONSIDER, DROP, inputs=inputs)
    assert refined.plan.incident.id == "inc-stored"
    assert "C2" in {s.change_id for s in refined.plan.steps}
    assert refined.plan.notes[0] == f"{APPLIED}consider C2: the flag"
    assert [r.proposal.kind for r in refined.set_aside] == ["drop_step"]
    assert refined.plan.notes[1] == f"{REJECTED}drop s3: set aside: the plan was re-planned with C2"


def test_the_inputs_draft_the_planners_plan_with_other_options():
    """``draft`` is the planner's plan from the inputs; other options replace theirs."""
    assert INPUTS.draft() == PLAN
    considered = INPUTS.draft(replace(INPUTS.options, consider=frozenset({"C2"})))
    assert "C2" in {s.change_id for s in considered.steps}
    assert "C2" not in {s.change_id for s in PLAN.steps}
