"""The guard: what a model says about a plan, checked against the plan (pure; DESIGN.md, "The
LLM's place"). The graph keeps the last word.

:func:`check_explanation` keeps what holds of a :class:`~planners.answers.PlanExplanation`:

* text telling the reader to approve, run or skip approval rejects the whole explanation, and
  so does a summary with an identifier or a number that is not in the input;
* every cited evidence id must exist and belong to what it is cited for (a suspect's own
  reasons, exclusions and step; a step's own evidence and its change's); a bad citation is
  dropped, a risk left without evidence is dropped;
* the suspects must be a permutation of the planner's: an invented or excluded change is
  dropped; if the rest is not the planner's suspects, each once, the explanation is rejected;
* other free text (risks, questions, "do not roll back if", the abstain reason) with an
  identifier or a number not in the input is dropped.

:func:`check_refinement` accepts or rejects each proposal with its reason: at most three; a
directive or ungrounded reason, or evidence that does not exist or is not about the proposal's
step or change, rejects it; a ``reorder`` must stay inside its stage, keep every ``after`` edge
(no path from ``before`` to ``step``), change something, and pass the order rules (flags and
config before deploys, migrations last, one service's newer change first, consumers before
providers); a ``drop_step`` never drops a manual, irreversible or coupled step, the top cause's
step or the last step; a ``consider_change`` names a change in the window and before the
start that no step rolls back yet, on a plan that does not abstain, and, when the topology is
given, on an alerting service or one with a dependency path (either way) to an alerting service
(the planner then re-plans with it, :mod:`planners.refine`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import networkx as nx
from pydantic import BaseModel

from planners.answers import MAX_PROPOSALS, PlanExplanation, PlanRefinement, Proposal, StepRisk
from planners.evidence import owners
from planners.graph import distances_from
from planners.grounding import Vocabulary, directive, ungrounded
from planners.model import Action, Change, Plan, Step
from planners.topology import Topology

__all__ = [
    "Dropped",
    "ExplanationVerdict",
    "RefinementVerdict",
    "Rejected",
    "check_explanation",
    "check_refinement",
]

_EARLY = (Action.DISABLE_FLAG, Action.REVERT_CONFIG)


@dataclass(frozen=True)
class Dropped:
    """A claim the guard removed: where it was in the answer, and why."""

    claim: str
    reason: str


@dataclass(frozen=True)
class ExplanationVerdict:
    """What survived of an explanation: ``explanation`` is ``None`` when ``rejected`` says why
    the whole answer was refused; ``dropped`` lists the claims removed either way."""

    explanation: PlanExplanation | None
    dropped: tuple[Dropped, ...]
    rejected: str | None = None


@dataclass(frozen=True)
class Rejected:
    """A refinement proposal the guard refused, with why."""

    proposal: Proposal
    reason: str


@dataclass(frozen=True)
class RefinementVerdict:
    """The proposals accepted (in the answer's order) and those rejected, with why."""

    accepted: tuple[Proposal, ...]
    rejected: tuple[Rejected, ...]


def check_explanation(plan: Plan, answer: BaseModel, *, shown: Sequence[str]) -> ExplanationVerdict:
    """Check an explanation of ``plan``; ``shown`` is the text the model was given."""
    value = PlanExplanation.model_validate(answer.model_dump())
    vocabulary = Vocabulary(shown)
    dropped: list[Dropped] = []
    texts = [value.summary, value.abstain_reason or "", *value.questions]
    texts += [*value.do_not_roll_back_if, *(r.concern for r in value.risks)]
    # The planner's own warnings ("Backout will not run it; restore by hand") may be quoted:
    # their words are ours, not the model's, so only what the model added is judged.
    own = sorted({step.warning for step in plan.steps if step.warning}, key=len, reverse=True)
    for text in texts:
        for warning in own:
            text = text.replace(warning, " ")
        words = directive(text)
        if words:
            return ExplanationVerdict(None, (), f"it tells the reader to act: {words!r}")
    missing = ungrounded(value.summary, vocabulary)
    if missing:
        return ExplanationVerdict(None, (), f"the summary names what the plan does not: {missing}")
    belongs = owners(plan)
    excluded = {e.change_id for e in plan.excluded}
    suspects = []
    for n, claim in enumerate(value.suspects):
        where = f"suspects[{n}] {claim.change_id}"
        if claim.change_id in excluded:
            dropped.append(Dropped(where, "the planner excluded this change"))
            continue
        if claim.change_id not in {s.change_id for s in plan.suspects}:
            dropped.append(Dropped(where, "not one of the planner's suspects"))
            continue
        cited = _citations(claim.evidence, claim.change_id, belongs, where, dropped)
        suspects.append(claim.model_copy(update={"evidence": cited}))
    ranked = [c.change_id for c in suspects]
    if sorted(ranked) != sorted(s.change_id for s in plan.suspects):
        return ExplanationVerdict(
            None, tuple(dropped), "its suspects are not a reordering of the planner's"
        )
    risks = _risks(plan, value.risks, belongs, vocabulary, dropped)
    kept = {
        "questions": _grounded(value.questions, "questions", vocabulary, dropped),
        "do_not_roll_back_if": _grounded(
            value.do_not_roll_back_if, "do_not_roll_back_if", vocabulary, dropped
        ),
    }
    reason = value.abstain_reason
    if reason and ungrounded(reason, vocabulary):
        dropped.append(Dropped("abstain_reason", _names(ungrounded(reason, vocabulary))))
        reason = None
    checked = value.model_copy(
        update={"suspects": suspects, "risks": risks, "abstain_reason": reason, **kept}
    )
    return ExplanationVerdict(checked, tuple(dropped))


def check_refinement(
    plan: Plan,
    answer: BaseModel,
    *,
    shown: Sequence[str],
    changes: Mapping[str, Change],
    window: timedelta,
    skew: timedelta,
    topology: Topology | None = None,
) -> RefinementVerdict:
    """Check each proposal against ``plan`` (see the module's rules).

    Args:
        plan: the planner's plan.
        answer: the model's refinement.
        shown: the text the model was given.
        changes: the recorded changes the plan was drafted from, by id.
        window: how far before the start a change may be the cause.
        skew: how far after the start a change still counts.
        topology: the service graph, for the consumers-first rule and the dependency path of
            a considered change (both skipped without it).
    """
    value = PlanRefinement.model_validate(answer.model_dump())
    vocabulary = Vocabulary(shown)
    belongs = owners(plan)
    accepted: list[Proposal] = []
    rejected: list[Rejected] = []
    for n, proposal in enumerate(value.proposals):
        if n >= MAX_PROPOSALS:
            reason: str | None = f"more than {MAX_PROPOSALS} proposals"
        else:
            reason = _common(proposal, belongs, vocabulary)
            if reason is None:
                reason = _specific(plan, proposal, changes, window, skew, topology)
        if reason is None:
            accepted.append(proposal)
        else:
            rejected.append(Rejected(proposal, reason))
    return RefinementVerdict(tuple(accepted), tuple(rejected))


# -- explanation ------------------------------------------------------------------------------


def _citations(
    cited: Sequence[str],
    subject: str,
    belongs: Mapping[str, frozenset[str]],
    where: str,
    dropped: list[Dropped],
) -> list[str]:
    kept = []
    for evidence in dict.fromkeys(cited):
        if evidence not in belongs:
            dropped.append(Dropped(f"{where} cites {evidence}", "no such evidence in the plan"))
        elif subject not in belongs[evidence]:
            about = ", ".join(sorted(belongs[evidence]))
            dropped.append(
                Dropped(f"{where} cites {evidence}", f"{evidence} is about {about}, not {subject}")
            )
        else:
            kept.append(evidence)
    return kept


def _risks(
    plan: Plan,
    risks: Sequence[StepRisk],
    belongs: Mapping[str, frozenset[str]],
    vocabulary: Vocabulary,
    dropped: list[Dropped],
) -> list[StepRisk]:
    steps = {s.id for s in plan.steps}
    kept = []
    for n, risk in enumerate(risks):
        where = f"risks[{n}] {risk.step_id}"
        if risk.step_id not in steps:
            dropped.append(Dropped(where, "no such step in the plan"))
            continue
        missing = ungrounded(risk.concern, vocabulary)
        if missing:
            dropped.append(Dropped(where, _names(missing)))
            continue
        cited = _citations(risk.evidence, risk.step_id, belongs, where, dropped)
        if not cited:
            dropped.append(Dropped(where, "cites no evidence of its step"))
            continue
        kept.append(risk.model_copy(update={"evidence": cited}))
    return kept


def _grounded(
    texts: Sequence[str], field: str, vocabulary: Vocabulary, dropped: list[Dropped]
) -> list[str]:
    kept = []
    for n, text in enumerate(texts):
        missing = ungrounded(text, vocabulary)
        if missing:
            dropped.append(Dropped(f"{field}[{n}]", _names(missing)))
        else:
            kept.append(text)
    return kept


def _names(missing: Sequence[str]) -> str:
    return f"names what is not in the plan or the alerts: {', '.join(missing)}"


# -- refinement -------------------------------------------------------------------------------


def _common(
    proposal: Proposal, belongs: Mapping[str, frozenset[str]], vocabulary: Vocabulary
) -> str | None:
    words = directive(proposal.reason)
    if words:
        return f"its reason tells the reader to act: {words!r}"
    missing = ungrounded(proposal.reason, vocabulary)
    if missing:
        return _names(missing)
    fields = {"reorder": ("step", "before"), "drop_step": ("step",), "consider_change": ("change",)}
    needed = fields[proposal.kind]
    for name in ("step", "before", "change"):
        given = getattr(proposal, name) is not None
        if given != (name in needed):
            return f"a {proposal.kind} {'needs' if name in needed else 'takes no'} {name}"
    if not proposal.evidence:
        return "cites no evidence"
    subjects = {getattr(proposal, name) for name in needed}
    for evidence in proposal.evidence:
        if evidence not in belongs:
            return f"cites {evidence}, which is not in the plan"
        if not belongs[evidence] & subjects:
            return f"cites {evidence}, which is not about {' or '.join(sorted(subjects))}"
    return None


def _specific(
    plan: Plan,
    proposal: Proposal,
    changes: Mapping[str, Change],
    window: timedelta,
    skew: timedelta,
    topology: Topology | None,
) -> str | None:
    steps = {s.id: s for s in plan.steps}
    if proposal.kind == "consider_change":
        return _consider(plan, proposal.change or "", changes, window, skew, topology)
    step = steps.get(proposal.step or "")
    if step is None:
        return f"no step {proposal.step} in the plan"
    if proposal.kind == "drop_step":
        return _drop(plan, step)
    before = steps.get(proposal.before or "")
    if before is None:
        return f"no step {proposal.before} in the plan"
    return _reorder(plan, step, before, changes, topology)


def _reorder(
    plan: Plan, step: Step, before: Step, changes: Mapping[str, Change], topology: Topology | None
) -> str | None:
    if step.id == before.id:
        return "a step cannot run before itself"
    if step.stage != before.stage:
        return f"{step.id} is in stage {step.stage.value}, {before.id} in {before.stage.value}"
    order: nx.DiGraph = nx.DiGraph()
    order.add_nodes_from(steps_ids := [s.id for s in plan.steps])
    order.add_edges_from((a, s.id) for s in plan.steps for a in s.after if a in steps_ids)
    if nx.has_path(order, before.id, step.id):
        return f"{step.id} must run after {before.id} (an after edge of the plan)"
    if nx.has_path(order, step.id, before.id):
        return f"{step.id} already runs before {before.id}"
    if before.action in _EARLY and step.action not in _EARLY:
        return f"flag and config reverts ({before.id}) run before other steps ({step.id})"
    if step.action == Action.REVERT_MIGRATION and before.action != Action.REVERT_MIGRATION:
        return f"a migration ({step.id}) is reverted after the application steps"
    if step.service == before.service:
        mine, theirs = changes.get(step.change_id), changes.get(before.change_id)
        if mine is None or theirs is None or mine.at < theirs.at:
            return f"on {step.service} the newer change is rolled back first"
    known = topology is not None and before.service in topology and step.service in topology
    if known and topology and step.service in nx.descendants(topology.graph, before.service):
        return f"{before.service} uses {step.service}: consumers are rolled back first"
    return None


def _drop(plan: Plan, step: Step) -> str | None:
    top = plan.causes or tuple(s.change_id for s in plan.suspects[:1])
    if step.change_id in top:
        return f"{step.id} rolls back the planner's top cause {step.change_id}"
    if step.action == Action.MANUAL:
        return f"{step.id} is a manual step: people decide on it"
    if step.warning and "irreversible" in step.warning:
        return f"{step.id} is irreversible"
    partners = [
        s.id
        for s in plan.steps
        if s.id != step.id and "coupled" in s.why and f"({step.change_id})" in s.why
    ]
    if "coupled" in step.why or partners:
        return f"{step.id} is coupled to another change: the pair is rolled back together"
    if len(plan.steps) == 1:
        return "it is the plan's only step; reject the plan instead"
    return None


def _consider(
    plan: Plan,
    change_id: str,
    changes: Mapping[str, Change],
    window: timedelta,
    skew: timedelta,
    topology: Topology | None,
) -> str | None:
    change = changes.get(change_id)
    if change is None:
        return f"{change_id} is not a recorded change"
    if plan.abstained:
        return "the planner abstained: a proposal cannot make it act"
    started = plan.incident.started_at
    if started is None or change.at > started + skew:
        return f"{change_id} came after the incident started"
    if change.at < started - window:
        return f"{change_id} is older than the window"
    rolled = [s.id for s in plan.steps if s.change_id == change_id]
    if rolled:
        return f"{change_id} is already rolled back by {rolled[0]}"
    if topology is not None and not _related(change.service, plan.incident.services, topology):
        alerting = plan.incident.services
        noun = "service" if len(alerting) == 1 else "services"
        return (
            f"{change.service} has no dependency path to the alerting {noun} {', '.join(alerting)}"
        )
    return None


def _related(service: str, alerting: Sequence[str], topology: Topology) -> bool:
    """Whether ``service`` is alerting or on a dependency path, either way, to a service that
    is (always, when no service is alerting: there is nothing to be unrelated to)."""
    if not alerting or service in alerting:
        return True
    reached = {
        s
        for upstream in (False, True)
        for hops in distances_from(topology, alerting, upstream=upstream).values()
        for s in hops
    }
    return service in reached
