"""Accepted refinements applied by the planner, never by the model (pure).

:func:`apply` takes the proposals the guard (:mod:`planners.validate`) accepted. Each
``consider_change`` makes the planner re-plan from the same inputs with the change considered
(:attr:`~planners.planner.PlanningOptions.consider`); a re-planned plan has new step ids, so the
``reorder`` and ``drop_step`` proposals of the same answer are then set aside with that reason.
Otherwise a ``reorder`` adds the edge "step before before" and re-sorts the stage's steps, and a
``drop_step`` removes the step, its dependants inheriting its ``after``. Either way the critical
path, the explanation and the evidence ids are computed again, a note records the proposal, and
the plan is marked ``drafted_by: graph+llm:<model>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import networkx as nx

from planners.answers import Proposal
from planners.evidence import with_evidence
from planners.explain import explain
from planners.model import Alert, Change, Plan, Step
from planners.planner import PlanningOptions, plan_rollback
from planners.schedule import critical_path
from planners.topology import Topology
from planners.validate import Rejected

__all__ = ["PlanningInputs", "Refined", "apply"]


@dataclass(frozen=True, kw_only=True)
class PlanningInputs:
    """What a plan was drafted from, so the planner can draft it again."""

    topology: Topology
    changes: Sequence[Change]
    alerts: Sequence[Alert]
    now: datetime
    options: PlanningOptions = field(default_factory=PlanningOptions)
    history: Mapping[str, int] | None = None

    @property
    def by_id(self) -> dict[str, Change]:
        return {c.id: c for c in self.changes}


@dataclass(frozen=True)
class Refined:
    """The plan after the accepted proposals, those applied, and those set aside (with why)."""

    plan: Plan
    applied: tuple[Proposal, ...]
    set_aside: tuple[Rejected, ...]


def apply(
    plan: Plan, accepted: Sequence[Proposal], *, inputs: PlanningInputs, model: str
) -> Refined:
    """Apply the guard's accepted proposals; ``model`` names the model in ``drafted_by``."""
    if not accepted:
        return Refined(plan, (), ())
    considered = [p for p in accepted if p.kind == "consider_change" and p.change]
    others = [p for p in accepted if p not in considered]
    if considered:
        options = replace(
            inputs.options,
            consider=inputs.options.consider | {p.change for p in considered if p.change},
        )
        again = plan_rollback(
            inputs.topology,
            changes=inputs.changes,
            alerts=inputs.alerts,
            now=inputs.now,
            options=options,
            history=inputs.history,
        )
        reason = "set aside: the plan was re-planned with " + ", ".join(
            p.change or "" for p in considered
        )
        return Refined(
            _mark(again, model, []), tuple(considered), tuple(Rejected(p, reason) for p in others)
        )
    steps = list(plan.steps)
    notes = []
    for proposal in others:
        if proposal.kind == "reorder":
            steps = _reorder(steps, proposal.step or "", proposal.before or "")
            notes.append(f"{proposal.step} runs before {proposal.before} at the model's proposal")
        else:
            steps = _drop(steps, proposal.step or "")
            notes.append(f"{proposal.step} dropped at the model's proposal")
        notes[-1] += f": {proposal.reason}"
    seconds = critical_path(steps)
    updated = plan.model_copy(
        update={
            "steps": tuple(steps),
            "critical_path_seconds": seconds,
            "explanation": explain(
                suspects=plan.suspects,
                steps=steps,
                critical_path_seconds=seconds,
                abstain_reasons=plan.abstain_reasons,
                causes=plan.causes,
            ),
        }
    )
    return Refined(_mark(updated, model, notes), tuple(others), ())


def _mark(plan: Plan, model: str, notes: list[str]) -> Plan:
    marked = plan.model_copy(
        update={"drafted_by": f"graph+llm:{model}", "notes": plan.notes + tuple(notes)}
    )
    return with_evidence(marked)


def _reorder(steps: list[Step], step_id: str, before_id: str) -> list[Step]:
    index = {s.id: n for n, s in enumerate(steps)}
    steps = [
        s.model_copy(update={"after": tuple(sorted({*s.after, step_id}, key=index.__getitem__))})
        if s.id == before_id
        else s
        for s in steps
    ]
    order: nx.DiGraph = nx.DiGraph()
    order.add_nodes_from(index)
    order.add_edges_from((a, s.id) for s in steps for a in s.after if a in index)
    ranked = nx.lexicographical_topological_sort(order, key=index.__getitem__)
    by_id = {s.id: s for s in steps}
    return [by_id[i] for i in ranked]


def _drop(steps: list[Step], step_id: str) -> list[Step]:
    index = {s.id: n for n, s in enumerate(steps)}
    gone = next(s for s in steps if s.id == step_id)
    kept = []
    for s in steps:
        if s.id == step_id:
            continue
        if step_id in s.after:
            after = {*s.after, *gone.after} - {step_id}
            s = s.model_copy(update={"after": tuple(sorted(after, key=index.__getitem__))})
        kept.append(s)
    return kept
