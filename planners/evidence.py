"""Evidence ids: every citable piece of a plan gets a stable id (``E1``, ``E2``…), so the model's
answers can only point at what the graph found (DESIGN.md, "The LLM's place").

The numbering is a pure function of the plan's content: each suspect's reasons (suspects in the
plan's order), then each step and its warning (steps in order), then each exclusion, then each
abstain reason. The planner stores the result in ``Plan.evidence``; a plan stored before the
field existed gets the same ids from :func:`evidence_of`. :func:`owners` says which evidence
belongs to which change or step, for the guard (:mod:`planners.validate`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from planners.model import Evidence, EvidenceKind, Plan, Step, Suspect

__all__ = ["collect", "evidence_of", "owners", "with_evidence"]


def collect(
    *,
    incident_id: str,
    suspects: Iterable[Suspect],
    steps: Iterable[Step],
    excluded: Iterable[tuple[str, str]],
    abstain_reasons: Iterable[str],
) -> tuple[Evidence, ...]:
    """Number the plan's evidence in its fixed order (``excluded`` as (change id, why) pairs)."""
    found: list[tuple[EvidenceKind, str, str]] = []
    for suspect in suspects:
        found += [(EvidenceKind.REASON, suspect.change_id, reason) for reason in suspect.reasons]
    for step in steps:
        found.append((EvidenceKind.STEP, step.id, _describe(step)))
        if step.warning:
            found.append((EvidenceKind.WARNING, step.id, step.warning))
    found += [(EvidenceKind.EXCLUSION, change_id, why) for change_id, why in excluded]
    found += [(EvidenceKind.ABSTAIN, incident_id, reason) for reason in abstain_reasons]
    return tuple(
        Evidence(id=f"E{n}", kind=kind, about=about, text=text)
        for n, (kind, about, text) in enumerate(found, start=1)
    )


def evidence_of(plan: Plan) -> tuple[Evidence, ...]:
    """The plan's evidence: as stored, or numbered now for a plan stored without it."""
    if plan.evidence:
        return plan.evidence
    return collect(
        incident_id=plan.incident.id,
        suspects=plan.suspects,
        steps=plan.steps,
        excluded=[(e.change_id, e.why) for e in plan.excluded],
        abstain_reasons=plan.abstain_reasons,
    )


def with_evidence(plan: Plan) -> Plan:
    """``plan`` with its evidence numbered afresh (after its steps or suspects changed)."""
    fresh = plan.model_copy(update={"evidence": ()})
    return plan.model_copy(update={"evidence": evidence_of(fresh)})


def owners(plan: Plan) -> Mapping[str, frozenset[str]]:
    """For each evidence id, the change and step ids it may be cited for: a reason or an
    exclusion belongs to its change and to that change's step; a step or a warning to its step
    and its step's change; an abstain reason to the incident."""
    change_of = {s.id: s.change_id for s in plan.steps}
    step_of = {s.change_id: s.id for s in plan.steps}
    result: dict[str, frozenset[str]] = {}
    for item in evidence_of(plan):
        related = {item.about}
        if item.about in change_of:
            related.add(change_of[item.about])
        if item.about in step_of:
            related.add(step_of[item.about])
        result[item.id] = frozenset(related)
    return result


def _describe(step: Step) -> str:
    action = step.action.value.replace("_", " ")
    target = f" to {step.target_version}" if step.target_version else ""
    return f"{step.stage.value}: {action} {step.service}{target} ({step.change_id}): {step.why}"
