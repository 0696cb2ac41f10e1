"""The post-incident summary's narrative: the summary's facts, each with an id, told by a model
and checked by the graph (pure; DESIGN.md, "The LLM's place"; issue 9 item 5).

:func:`summary_facts` turns what the summary shows (the plan, its status, its steps' outcomes,
the incident's alerts and the plan's audit events, as plain data) into :class:`Fact` objects
with ids ``F1``, ``F2``… in a fixed order: the incident, its alerts, the top suspect (or the
abstention), each step with its outcome and times, each approval with who and when, the plan's
outcome, when health was restored, when the alerts resolved, and the responders' feedback. Only
these kinds of events count: an explanation arriving, a reminder or the narrative itself leave
the facts (and :func:`facts_digest`) as they were.

:func:`narrate` renders ``summarise_incident`` with the facts, asks the model for an
:class:`IncidentNarrative` whose ``cited`` may only hold the facts' ids
(:func:`narrative_schema`), and checks the answer (:func:`check_narrative`) with the guard's
rules (:mod:`planners.grounding`): no text, text telling the reader to act, an identifier or a
number the facts do not hold, a cited id that is no fact, or no citation at all rejects the
narrative as a whole: a story with one invented time is not worth keeping in part. Nothing here
raises for what a model does; with no model there is no narrative (the summary is whole
without one).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

import prompts
from planners.answers import id_literal
from planners.explain import format_seconds
from planners.grounding import Vocabulary, directive, ungrounded
from planners.llm import StructuredModel
from planners.model import Plan, Step

__all__ = [
    "CheckedNarrative",
    "Fact",
    "IncidentNarrative",
    "StepOutcome",
    "SummaryAlert",
    "SummaryEvent",
    "check_narrative",
    "facts_digest",
    "facts_json",
    "narrate",
    "narrative_schema",
    "summary_facts",
]

_MAX_ALERTS = 10
_MAX_STEPS = 25
_MAX_APPROVALS = 20
_MAX_FEEDBACK = 10
_FINISHED = ("done", "failed", "skipped", "not_needed", "aborted")
# A step is done, or left as not needed, only once health verified (as the summary counts it).
_HEALTHY = ("step.done", "step.not_needed")
_MAX_REASON = 300

FactValue = str | int | bool | list[str] | None


@dataclass(frozen=True, kw_only=True)
class SummaryAlert:
    """One of the incident's alerts, as the summary knows it."""

    name: str
    service: str | None
    status: str
    started_at: datetime


@dataclass(frozen=True, kw_only=True)
class SummaryEvent:
    """One audit event of the plan: ``step`` is set for a step's own events (``plan/step``
    subjects), ``details`` is the entry's details (feedback's ``suspect_right``)."""

    at: datetime
    actor: str
    action: str
    step: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class StepOutcome:
    """Where a step ended: its status and the reason recorded with it."""

    status: str
    reason: str = ""


@dataclass(frozen=True)
class Fact:
    """One fact of the summary: its id, its kind and what it says (JSON values)."""

    id: str
    kind: str
    fields: tuple[tuple[str, FactValue], ...]

    def as_json(self) -> dict[str, FactValue]:
        """``{"id", "kind", **fields}``."""
        return {"id": self.id, "kind": self.kind, **dict(self.fields)}


class IncidentNarrative(BaseModel):
    """The narrative of a post-incident summary (the ``summarise_incident`` prompt's output)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(description="at most six sentences of plain prose, in the past tense")
    cited: list[str] = Field(description="the ids of the facts the text rests on")


@dataclass(frozen=True)
class CheckedNarrative:
    """What came of asking for a narrative.

    Attributes:
        outcome: ``ok``, ``guard_rejected``, ``no_model`` or the model call's failure
            outcome (``timeout``, ``invalid``…).
        text: the checked narrative (``ok`` only); untrusted: views escape it.
        cited: the fact ids it rests on (``ok`` only).
        model: the model's name, when one was asked.
        reason: why there is no narrative, when there is none.
        digest: the facts' digest (:func:`facts_digest`) the narrative was written from.
    """

    outcome: str
    text: str = ""
    cited: tuple[str, ...] = ()
    model: str | None = None
    reason: str = ""
    digest: str = ""


def summary_facts(
    plan: Plan,
    *,
    status: str,
    steps: Mapping[str, StepOutcome],
    alerts: Sequence[SummaryAlert] = (),
    events: Sequence[SummaryEvent] = (),
) -> tuple[Fact, ...]:
    """The summary's facts, numbered ``F1``… in a fixed order (see the module docstring).

    Args:
        plan: the plan the summary is about.
        status: the plan's status.
        steps: each step's outcome by step id (a step missing here is ``pending``).
        alerts: the incident's alerts (the first ten are facts; the rest are counted).
        events: the plan's audit events, in any order.
    """
    found: list[tuple[str, dict[str, FactValue]]] = []
    timeline = sorted(events, key=lambda e: _utc(e.at))
    incident = plan.incident
    start = _utc(incident.started_at) if incident.started_at is not None else None
    found.append(
        (
            "incident",
            {
                "incident": incident.id,
                "services": list(incident.services),
                "started_at": _at(start),
            },
        )
    )
    for alert in alerts[:_MAX_ALERTS]:
        found.append(
            (
                "alert",
                {
                    "name": alert.name,
                    "service": alert.service,
                    "status": alert.status,
                    "started_at": _at(alert.started_at),
                },
            )
        )
    if len(alerts) > _MAX_ALERTS:
        found.append(("more_alerts", {"count": len(alerts) - _MAX_ALERTS}))
    if plan.abstained or not plan.suspects:
        found.append(("no_suspect", {"reasons": list(plan.abstain_reasons)}))
    else:
        top = plan.suspects[0]
        found.append(
            (
                "top_suspect",
                {
                    "change": top.change_id,
                    "service": top.service,
                    "change_kind": top.kind.value,
                    "changed_at": _at(top.at),
                },
            )
        )
    found += [_step(step, steps, timeline) for step in plan.steps[:_MAX_STEPS]]
    approvals = [e for e in timeline if e.action.startswith("approval.") and e.step]
    found += [
        (
            "approval",
            {"step": e.step, "decision": e.action.split(".", 1)[1], "by": e.actor, "at": _at(e.at)},
        )
        for e in approvals[:_MAX_APPROVALS]
    ]
    ended = [e for e in timeline if e.action == f"plan.{status}"]
    outcome: dict[str, FactValue] = {"status": status}
    if ended:
        outcome |= {"by": ended[-1].actor, "at": _at(ended[-1].at)}
    found.append(("plan_outcome", outcome))
    healthy = _healthy(start, steps, timeline)
    if healthy is not None and start is not None:
        found.append(("healthy", {"at": _at(healthy), "after": _since(start, healthy)}))
    resolved = [_utc(e.at) for e in timeline if e.action == "incident.resolved"]
    if resolved:
        when = min(resolved)
        after = _since(start, when) if start is not None else None
        found.append(("alerts_resolved", {"at": _at(when), "after": after}))
    feedback = [e for e in timeline if e.action == "feedback"]
    found += [
        (
            "feedback",
            {
                "by": e.actor,
                "at": _at(e.at),
                "suspect_right": _flag(e.details.get("suspect_right")),
            },
        )
        for e in feedback[:_MAX_FEEDBACK]
    ]
    return tuple(
        Fact(f"F{n}", kind, tuple(values.items())) for n, (kind, values) in enumerate(found, 1)
    )


def facts_json(facts: Sequence[Fact]) -> str:
    """The facts as the model reads them: a JSON list, one fact a line."""
    lines = [json.dumps(f.as_json(), ensure_ascii=False) for f in facts]
    return "[\n" + ",\n".join(lines) + "\n]"


def facts_digest(facts: Sequence[Fact]) -> str:
    """A SHA-256 of the facts: equal facts, equal digests (what a stored narrative was written
    from, so a changed summary gets a new one and an unchanged one is not asked again)."""
    canonical = json.dumps(
        [f.as_json() for f in facts], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def narrative_schema(ids: Sequence[str]) -> type[IncidentNarrative]:
    """:class:`IncidentNarrative` with ``cited`` restricted to ``ids`` (named
    ``IncidentNarrative``, the prompt's declared output)."""
    cited: Any = list[id_literal(ids)]  # type: ignore[misc]
    return create_model("IncidentNarrative", __base__=IncidentNarrative, cited=(cited, ...))


def narrate(
    facts: Sequence[Fact], model: StructuredModel | None, *, nonce: str | None = None
) -> CheckedNarrative:
    """The summary's narrative from ``facts``: the model's, checked, or why there is none."""
    digest = facts_digest(facts)
    if model is None:
        return CheckedNarrative("no_model", reason="no model is configured", digest=digest)
    template = prompts.load("summarise_incident", 1)
    rendered = template.render({"facts": facts_json(facts)}, nonce=nonce)
    result = model.structured(rendered, narrative_schema([f.id for f in facts]))
    if result.value is None or str(result.outcome) != "ok":
        reason = result.detail or f"the model gave no usable answer ({result.outcome})"
        return CheckedNarrative(
            str(result.outcome), model=result.model, reason=reason, digest=digest
        )
    shown = [m.content for m in rendered.messages if m.role == "user"]
    checked, reason = check_narrative(facts, result.value, shown=shown)
    if checked is None:
        return CheckedNarrative("guard_rejected", model=result.model, reason=reason, digest=digest)
    return CheckedNarrative(
        "ok", text=checked.text, cited=tuple(checked.cited), model=result.model, digest=digest
    )


def check_narrative(
    facts: Sequence[Fact], answer: BaseModel, *, shown: Sequence[str]
) -> tuple[IncidentNarrative | None, str]:
    """Check a narrative against the facts; ``shown`` is the text the model was given.

    Returns:
        The narrative (its text stripped, its citations each once) and ``""``, or ``None`` and
        why the guard rejected it.
    """
    try:
        value = IncidentNarrative.model_validate(answer.model_dump())
    except ValidationError as exc:
        return None, f"the answer is not an IncidentNarrative ({exc.error_count()} errors)"
    text = value.text.strip()
    if not text:
        return None, "the narrative is empty"
    words = directive(text)
    if words:
        return None, f"it tells the reader to act: {words!r}"
    missing = ungrounded(text, Vocabulary(shown))
    if missing:
        return None, f"it names what the facts do not: {', '.join(missing)}"
    ids = {f.id for f in facts}
    unknown = [c for c in value.cited if c not in ids]
    if unknown:
        return None, f"it cites facts that do not exist: {', '.join(unknown)}"
    if not value.cited:
        return None, "it cites no fact"
    cited = list(dict.fromkeys(value.cited))
    return value.model_copy(update={"text": text, "cited": cited}), ""


def _step(
    step: Step, steps: Mapping[str, StepOutcome], timeline: Sequence[SummaryEvent]
) -> tuple[str, dict[str, FactValue]]:
    outcome = steps.get(step.id, StepOutcome(status="pending"))
    own = [e for e in timeline if e.step == step.id]
    started = [e.at for e in own if e.action == "step.running"]
    finished = [e.at for e in own if e.action in {f"step.{s}" for s in _FINISHED}]
    values: dict[str, FactValue] = {
        "step": step.id,
        "action": step.action.value,
        "service": step.service,
        "change": step.change_id,
        **({"flag": step.flag} if step.flag else {}),
        "from_version": step.bad_version,
        "to_version": step.target_version,
        "status": outcome.status,
        "reason": outcome.reason[:_MAX_REASON] or None,
        "started_at": _at(started[0]) if started else None,
        "finished_at": _at(finished[-1]) if finished else None,
    }
    return "step", values


def _healthy(
    start: datetime | None, steps: Mapping[str, StepOutcome], timeline: Sequence[SummaryEvent]
) -> datetime | None:
    """When health was restored, as the summary's time to mitigate counts it: a step done and
    none failed, at the last step verified healthy."""
    statuses = {o.status for o in steps.values()}
    healthy = [_utc(e.at) for e in timeline if e.action in _HEALTHY]
    if start is None or "failed" in statuses or "done" not in statuses or not healthy:
        return None
    return max(healthy)


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _at(moment: datetime | None) -> str | None:
    return None if moment is None else _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _since(start: datetime, end: datetime) -> str:
    return format_seconds(max(0, int((_utc(end) - start).total_seconds())))
