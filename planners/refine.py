"""Accepted refinements applied by the planner, never by the model (pure).

:func:`apply` takes the proposals the guard (:mod:`planners.validate`) accepted. Each
``consider_change`` makes the planner re-plan from the same inputs with the change considered
(:attr:`~planners.planner.PlanningOptions.consider`, :meth:`PlanningInputs.draft`); a re-planned
plan has new step ids, so the ``reorder`` and ``drop_step`` proposals of the same answer are
then set aside with that reason. Otherwise a ``reorder`` adds the edge "step before before" and
re-sorts the stage's steps, and a ``drop_step`` removes the step, its dependants inheriting its
``after``. Either way the critical path, the explanation and the evidence ids are computed
again, the plan is marked ``drafted_by: graph+llm:<model>``, and its notes start with one note
per proposal: :data:`APPLIED` and what was applied with the model's reason, then
:data:`REJECTED` and what was not with the graph's (the guard's rejections, given by the
caller, and the proposals set aside). Those prefixes let a view show them apart
(:func:`refinement_notes`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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

__all__ = [
    "APPLIED",
    "REJECTED",
    "PlanningInputs",
    "Refined",
    "apply",
    "describe",
    "refinement_notes",
]

APPLIED = "applied the model's proposal: "
"""How the note of a proposal the planner applied starts."""
REJECTED = "rejected the model's proposal: "
"""How the note of a proposal the graph rejected (or set aside) starts."""


@dataclass(frozen=True, kw_only=True)
class PlanningInputs:
    """What a plan was drafted from, so the planner can draft it again.

    Attributes:
        finish: what the caller adds to every plan drafted from these inputs (the bot names
            the incident as it stores it and lists the changes no longer live); pure.
    """

    topology: Topology
    changes: Sequence[Change]
    alerts: Sequence[Alert]
    now: datetime
    options: PlanningOptions = field(default_factory=PlanningOptions)
    history: Mapping[str, int] | None = None
    finish: Callable[[Plan], Plan] | None = None

    @property
    def by_id(self) -> dict[str, Change]:
        return {c.id: c for c in self.changes}

    def draft(self, options: PlanningOptions | None = None) -> Plan:
        """The planner's plan from these inputs (with ``options`` instead of theirs), finished."""
        plan = plan_rollback(
            self.topology,
            changes=self.changes,
            alerts=self.alerts,
            now=self.now,
            options=options or self.options,
            history=self.history,
        )
        return self.finish(plan) if self.finish is not None else plan


@dataclass(frozen=True)
class Refined:
    """The plan after the accepted proposals, those applied, and those set aside (with why)."""

    plan: Plan
    applied: tuple[Proposal, ...]
    set_aside: tuple[Rejected, ...]


def apply(
    plan: Plan,
    accepted: Sequence[Proposal],
    *,
    inputs: PlanningInputs,
    model: str,
    rejected: Sequence[Rejected] = (),
) -> Refined:
    """Apply the guard's accepted proposals.

    Args:
        plan: the planner's plan.
        accepted: the proposals the guard accepted, in the answer's order.
        inputs: what ``plan`` was drafted from (a ``consider_change`` re-plans from them).
        model: the model's name, for ``drafted_by``.
        rejected: the proposals the guard rejected, noted on a refined plan with why.

    Returns:
        The plan unchanged when nothing was accepted; else the refined plan, what was applied
        and what was set aside.
    """
    if not accepted:
        return Refined(plan, (), ())
    considered = [p for p in accepted if p.kind == "consider_change" and p.change]
    others = [p for p in accepted if p not in considered]
    if considered:
        options = replace(
            inputs.options,
            consider=inputs.options.consider | {p.change for p in considered if p.change},
        )
        reason = "set aside: the plan was re-planned with " + ", ".join(
            p.change or "" for p in considered
        )
        aside = tuple(Rejected(p, reason) for p in others)
        notes = refinement_notes(considered, (*rejected, *aside))
        return Refined(_mark(inputs.draft(options), model, notes), tuple(considered), aside)
    steps = list(plan.steps)
    for proposal in others:
        if proposal.kind == "reorder":
            steps = _reorder(steps, proposal.step or "", proposal.before or "")
        else:
            steps = _drop(steps, proposal.step or "")
    notes = refinement_notes(others, rejected)
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


def describe(proposal: Proposal) -> str:
    """A proposal in a few words: ``s2 before s1``, ``drop s3``, ``consider chg-103``."""
    if proposal.kind == "reorder":
        return f"{proposal.step} before {proposal.before}"
    if proposal.kind == "drop_step":
        return f"drop {proposal.step}"
    return f"consider {proposal.change}"


def refinement_notes(applied: Sequence[Proposal], rejected: Sequence[Rejected]) -> list[str]:
    """The notes a refined plan starts with: each applied proposal with the model's reason, then
    each rejected one with the graph's."""
    return [f"{APPLIED}{describe(p)}: {p.reason}" for p in applied] + [
        f"{REJECTED}{describe(r.proposal)}: {r.reason}" for r in rejected
    ]


def _mark(plan: Plan, model: str, notes: list[str]) -> Plan:
    marked = plan.model_copy(
        update={"drafted_by": f"graph+llm:{model}", "notes": (*notes, *plan.notes)}
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
