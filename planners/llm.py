"""From a plan to a checked explanation and checked refinements, through a model port (pure:
no ``openai``, no network here; :class:`integrations.llm.OpenAIChatClient` satisfies
:class:`StructuredModel`).

:func:`explain_plan` renders ``explain_plan`` from the plan's evidence view
(:func:`plan_view`), asks the model with the plan's own schema
(:func:`planners.answers.explanation_schema`), checks the answer
(:func:`planners.validate.check_explanation`) and returns a :class:`CheckedExplanation`: the
model's, with the claims the graph dropped, or the deterministic explanation
(:mod:`planners.explain`) saying why (no model configured, its outcome, or the guard's
rejection, :data:`GUARD_REJECTED`). :func:`refine_plan` does the same with ``refine_plan`` and
applies what the guard accepts (:mod:`planners.refine`). Neither raises for anything a model
does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

import prompts
from planners.answers import PlanExplanation, Proposal, explanation_schema, refinement_schema
from planners.evidence import evidence_of
from planners.model import Plan
from planners.refine import PlanningInputs, apply
from planners.validate import Dropped, Rejected, check_explanation, check_refinement

__all__ = [
    "GUARD_REJECTED",
    "CheckedExplanation",
    "CheckedRefinement",
    "ModelAnswer",
    "StructuredModel",
    "explain_plan",
    "plan_view",
    "refine_plan",
    "render_explanation",
]

M = TypeVar("M", bound=BaseModel)
T_co = TypeVar("T_co", covariant=True)

GUARD_REJECTED = "guard_rejected"
"""The outcome when the model answered and the guard refused its explanation as a whole (not
:attr:`integrations.llm.Outcome.REJECTED`, ``rejected``: the endpoint's HTTP 4xx)."""


class ModelAnswer(Protocol[T_co]):
    """One model call's result (:class:`integrations.llm.LLMResult` is one)."""

    @property
    def outcome(self) -> str: ...
    @property
    def value(self) -> T_co | None: ...
    @property
    def model(self) -> str: ...
    @property
    def detail(self) -> str: ...


class StructuredModel(Protocol):
    """A model that answers a rendered prompt with an instance of a pydantic schema."""

    def structured(self, prompt: prompts.RenderedPrompt, schema: type[M]) -> ModelAnswer[M]: ...


@dataclass(frozen=True)
class CheckedExplanation:
    """What to show as a plan's explanation.

    Attributes:
        text: Markdown: the checked model explanation, or the graph's own.
        source: ``model`` or ``graph``.
        outcome: ``ok``, ``no_model``, :data:`GUARD_REJECTED` or the model call's failure
            outcome.
        model: the model's name, when one was asked.
        explanation: the checked answer (``source == "model"`` only).
        dropped: the claims the guard removed.
        detail: why the graph's explanation is shown, when it is.
    """

    text: str
    source: str
    outcome: str
    model: str | None = None
    explanation: PlanExplanation | None = None
    dropped: tuple[Dropped, ...] = ()
    detail: str = ""

    @property
    def note(self) -> str:
        """The line under the explanation."""
        if self.source == "model":
            return f"checked by the graph: {len(self.dropped)} claims dropped"
        return self.detail


@dataclass(frozen=True)
class CheckedRefinement:
    """The plan after the accepted refinements (``plan`` unchanged when none), what was applied
    and what was rejected with why; ``outcome`` as in :class:`CheckedExplanation`."""

    plan: Plan
    outcome: str
    model: str | None = None
    applied: tuple[Proposal, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    detail: str = ""


def plan_view(plan: Plan) -> str:
    """The plan as the model sees it: its evidence by id, its steps and the incident (JSON)."""
    view: dict[str, Any] = {
        "incident": plan.incident.id,
        "started_at": plan.to_json_dict()["incident"]["started_at"],
        "alerting": list(plan.incident.services),
        "abstained": plan.abstained,
        "suspects": [
            {
                "change": s.change_id,
                "service": s.service,
                "kind": s.kind.value,
                "score": round(s.score, 2),
            }
            for s in plan.suspects
        ],
        "steps": [
            {
                "id": s.id,
                "stage": s.stage.value,
                "action": s.action.value,
                "service": s.service,
                "change": s.change_id,
                "target_version": s.target_version,
                "bad_version": s.bad_version,
                "after": list(s.after),
                "risk": s.risk.value,
            }
            for s in plan.steps
        ],
        "excluded": [e.change_id for e in plan.excluded],
        "evidence": [
            {"id": e.id, "kind": e.kind.value, "about": e.about, "text": e.text}
            for e in evidence_of(plan)
        ],
    }
    return json.dumps(view, indent=2, ensure_ascii=False)


def explain_plan(
    plan: Plan, model: StructuredModel | None, *, alerts: str = "", nonce: str | None = None
) -> CheckedExplanation:
    """The plan's explanation: the model's, checked by the graph, or the graph's own."""
    if model is None:
        return _graph(plan, "no_model", "no model is configured: the graph's own explanation")
    template = prompts.load("explain_plan", 1)
    rendered = template.render({"plan": plan_view(plan), "alerts": alerts}, nonce=nonce)
    schema = explanation_schema(
        evidence=[e.id for e in evidence_of(plan)],
        suspects=[s.change_id for s in plan.suspects],
        steps=[s.id for s in plan.steps],
    )
    result = model.structured(rendered, schema)
    if result.value is None or str(result.outcome) != "ok":
        why = f"the model gave no usable answer ({result.outcome}): the graph's own explanation"
        return _graph(plan, str(result.outcome), why, model=result.model)
    verdict = check_explanation(plan, result.value, shown=_shown(rendered))
    if verdict.explanation is None:
        why = f"the graph rejected the model's explanation ({verdict.rejected})"
        return _graph(plan, GUARD_REJECTED, why, model=result.model, dropped=verdict.dropped)
    return CheckedExplanation(
        text=render_explanation(verdict.explanation),
        source="model",
        outcome="ok",
        model=result.model,
        explanation=verdict.explanation,
        dropped=verdict.dropped,
    )


def refine_plan(
    plan: Plan,
    model: StructuredModel | None,
    *,
    inputs: PlanningInputs,
    alerts: str = "",
    nonce: str | None = None,
) -> CheckedRefinement:
    """The plan refined by what the graph accepts of the model's proposals."""
    if model is None:
        return CheckedRefinement(plan, "no_model", detail="no model is configured")
    changes = inputs.by_id
    window = [c.id for c in inputs.changes]
    listing = [
        {"id": c.id, "service": c.service, "kind": c.kind.value, "at": c.at.isoformat()}
        for c in inputs.changes
    ]
    template = prompts.load("refine_plan", 1)
    values = {"plan": plan_view(plan), "changes": json.dumps(listing, indent=2), "alerts": alerts}
    rendered = template.render(values, nonce=nonce)
    schema = refinement_schema(
        evidence=[e.id for e in evidence_of(plan)],
        steps=[s.id for s in plan.steps],
        changes=window,
    )
    result = model.structured(rendered, schema)
    if result.value is None or str(result.outcome) != "ok":
        return CheckedRefinement(
            plan, str(result.outcome), result.model, detail=result.detail or "no usable answer"
        )
    verdict = check_refinement(
        plan,
        result.value,
        shown=_shown(rendered),
        changes=changes,
        window=inputs.options.window,
        skew=inputs.options.clock_skew,
        topology=inputs.topology,
    )
    refined = apply(
        plan, verdict.accepted, inputs=inputs, model=result.model, rejected=verdict.rejected
    )
    return CheckedRefinement(
        refined.plan,
        "ok",
        result.model,
        applied=refined.applied,
        rejected=verdict.rejected + refined.set_aside,
    )


def render_explanation(explanation: PlanExplanation) -> str:
    """The checked explanation as Markdown (views escape it before it reaches Slack)."""
    lines = [explanation.summary.strip()]
    if explanation.abstain:
        lines.append(f"*The model abstains:* {explanation.abstain_reason or 'no reason given'}")
    lines += [
        f"- {s.change_id} ({s.confidence}; {', '.join(s.evidence) or 'no evidence'})"
        for s in explanation.suspects
    ]
    lines += [
        f"- risk of {r.step_id}: {r.concern} ({', '.join(r.evidence)})" for r in explanation.risks
    ]
    lines += [f"- check: {q}" for q in explanation.questions]
    lines += [f"- do not roll back if {c}" for c in explanation.do_not_roll_back_if]
    return "\n".join(lines)


def _shown(rendered: prompts.RenderedPrompt) -> list[str]:
    return [m.content for m in rendered.messages if m.role == "user"]


def _graph(
    plan: Plan,
    outcome: str,
    detail: str,
    *,
    model: str | None = None,
    dropped: tuple[Dropped, ...] = (),
) -> CheckedExplanation:
    return CheckedExplanation(
        plan.explanation, "graph", outcome, model=model, dropped=dropped, detail=detail
    )
