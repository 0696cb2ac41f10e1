"""What a model may answer about a plan: the explanation and the refinement schemas.

Two forms of each. The static models (:class:`PlanExplanation`, :class:`PlanRefinement`) take any
string as an id: the guard (:mod:`planners.validate`) reads answers through them, so it sees an
invented id and says so. The per-request models (:func:`explanation_schema`,
:func:`refinement_schema`) are built for one plan with ``create_model``: every id field is a
``Literal`` of the ids that exist in that plan, so a schema-enforcing server cannot produce
another, and pydantic refuses one again on return. Every model forbids extra fields, and none
has a field for a step, a risk level, an approval count, an executor or a target: the model
explains and proposes, the planner decides.

All fields are required (nullable where optional), as OpenAI's strict structured outputs
require.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

__all__ = [
    "MAX_PROPOSALS",
    "NO_ID",
    "Confidence",
    "PlanExplanation",
    "PlanRefinement",
    "Proposal",
    "ProposalKind",
    "StepRisk",
    "SuspectClaim",
    "explanation_schema",
    "id_literal",
    "refinement_schema",
]

MAX_PROPOSALS = 3
"""A refinement's proposals beyond this many are dropped by the guard."""

NO_ID = "none"
"""The only value of an id field when the plan has no id of that kind (an empty ``Literal`` is
not a type); the guard refuses it like any id the plan does not hold."""

Confidence = Literal["low", "medium", "high"]
ProposalKind = Literal["reorder", "drop_step", "consider_change"]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SuspectClaim(_Answer):
    """One of the plan's suspects, as the model ranks it, with the evidence it rests on."""

    change_id: str
    confidence: Confidence
    evidence: list[str]


class StepRisk(_Answer):
    """What could go wrong with one step, in words, with evidence (never a risk level)."""

    step_id: str
    concern: str
    evidence: list[str]


class PlanExplanation(_Answer):
    """The explanation of a plan (the ``explain_plan`` prompt's output)."""

    summary: str = Field(description="a short markdown summary citing evidence ids")
    suspects: list[SuspectClaim] = Field(description="the plan's suspects, most likely first")
    risks: list[StepRisk]
    questions: list[str] = Field(description="things the responder can check")
    do_not_roll_back_if: list[str]
    abstain: bool
    abstain_reason: str | None


class Proposal(_Answer):
    """One refinement: ``reorder`` (``step`` to run before ``before``, in one stage),
    ``drop_step`` (``step``), or ``consider_change`` (``change``); unused fields are null."""

    kind: ProposalKind
    step: str | None
    before: str | None
    change: str | None
    reason: str
    evidence: list[str]


class PlanRefinement(_Answer):
    """At most three proposals (the ``refine_plan`` prompt's output); none is a good answer."""

    proposals: list[Proposal]


def explanation_schema(
    *, evidence: Sequence[str], suspects: Sequence[str], steps: Sequence[str]
) -> type[PlanExplanation]:
    """:class:`PlanExplanation` with its ids restricted to the plan's (named ``PlanExplanation``,
    the prompt's declared output)."""
    cited: Any = list[id_literal(evidence)]  # type: ignore[misc]
    claim = create_model(
        "SuspectClaim",
        __base__=SuspectClaim,
        change_id=(id_literal(suspects), ...),
        evidence=(cited, ...),
    )
    risk = create_model(
        "StepRisk",
        __base__=StepRisk,
        step_id=(id_literal(steps), ...),
        evidence=(cited, ...),
    )
    return create_model(
        "PlanExplanation",
        __base__=PlanExplanation,
        suspects=(list[claim], ...),
        risks=(list[risk], ...),
    )


def refinement_schema(
    *, evidence: Sequence[str], steps: Sequence[str], changes: Sequence[str]
) -> type[PlanRefinement]:
    """:class:`PlanRefinement` with its ids restricted to the plan's steps and evidence and the
    window's changes (named ``PlanRefinement``)."""
    step = id_literal(steps)
    cited: Any = list[id_literal(evidence)]  # type: ignore[misc]
    proposal = create_model(
        "Proposal",
        __base__=Proposal,
        step=(step | None, ...),
        before=(step | None, ...),
        change=(id_literal(changes) | None, ...),
        evidence=(cited, ...),
    )
    return create_model(
        "PlanRefinement",
        __base__=PlanRefinement,
        proposals=(list[proposal], ...),
    )


def id_literal(ids: Sequence[str]) -> Any:
    """A ``Literal`` of ``ids`` (each once, in order), or of :data:`NO_ID` when there are none:
    the type of an id field restricted to the ids that exist."""
    values = tuple(dict.fromkeys(ids)) or (NO_ID,)
    return Literal[values]
