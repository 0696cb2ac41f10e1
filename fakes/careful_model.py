"""What a careful model answers: about a plan (the answer the fake OpenAI server is scripted with
in the demo and the offline evaluation's ``fake-good`` set: one copy, here, so that the installed
demo, which has no ``benchmarks`` package, and the evaluation agree), and, in the demo, to the
other prompts: no refinement, a thread question narrated from its first finding, a summary
narrative that retells its first facts."""

from __future__ import annotations

import json
from typing import Any

from fakes.openai import ChatRequest
from planners.evidence import evidence_of
from planners.model import EvidenceKind, Plan

__all__ = [
    "careful_answer",
    "careful_explanation",
    "careful_narrative",
    "careful_refinement",
    "careful_reply",
]


def careful_explanation(plan: Plan) -> dict[str, Any]:
    """What a careful model answers: the planner's suspects in its order, each citing its own
    reasons, a grounded summary, the warnings as risks; it abstains when the planner did."""
    evidence = evidence_of(plan)
    reasons = {
        s.change_id: [
            e.id for e in evidence if e.kind == EvidenceKind.REASON and e.about == s.change_id
        ]
        for s in plan.suspects
    }
    suspects = [
        {
            "change_id": s.change_id,
            "confidence": "high" if n == 0 and not plan.abstained else "low",
            "evidence": reasons[s.change_id],
        }
        for n, s in enumerate(plan.suspects)
    ]
    if plan.abstained or not plan.suspects:
        why = ", ".join(e.id for e in evidence if e.kind == EvidenceKind.ABSTAIN)
        return {
            "summary": "No recent change explains these alerts well enough "
            f"({why or 'see the plan'}); the planner proposes no rollback.",
            "suspects": suspects,
            "risks": [],
            "questions": ["Is a shared dependency of the alerting services failing?"],
            "do_not_roll_back_if": [],
            "abstain": True,
            "abstain_reason": "no change in the window explains the alerts",
        }
    top = plan.suspects[0]
    alerting = plan.incident.services[0] if plan.incident.services else top.service
    risks = [
        {"step_id": e.about, "concern": e.text, "evidence": [e.id]}
        for e in evidence
        if e.kind == EvidenceKind.WARNING
    ]
    cited = ", ".join(reasons[top.change_id][:3])
    kind = top.kind.value.replace("_", " ")
    return {
        "summary": f"The {kind} of {top.service} ({top.change_id}) is the most likely cause"
        + (f" ({cited})." if cited else "."),
        "suspects": suspects,
        "risks": risks,
        "questions": [f"Did the errors on {alerting} start after {top.change_id}?"],
        "do_not_roll_back_if": [f"the errors on {alerting} started before {top.change_id}"],
        "abstain": False,
        "abstain_reason": None,
    }


def careful_refinement() -> dict[str, Any]:
    """A careful model proposes nothing it cannot ground: no refinement."""
    return {"proposals": []}


def careful_answer(findings: list[dict[str, Any]]) -> dict[str, Any]:
    """A thread question's answer: the first finding, in the planner's words, cited; asks for
    the plan's schedule when there is none yet."""
    if not findings:
        schedule = {"tool": "schedule", "services": [], "changes": []}
        return {"lookups": [schedule], "answer": None, "cited": []}
    first = findings[0]
    return {"lookups": [], "answer": f"{first['says']} ({first['id']}).", "cited": [first["id"]]}


def careful_narrative(facts: list[dict[str, Any]]) -> dict[str, Any]:
    """A summary's narrative in the facts' own words, each sentence citing its fact: the top
    suspect, each step that finished, the plan's outcome and when health came back."""
    said: list[tuple[str, str]] = []
    for fact in facts:
        kind, cite = fact.get("kind"), fact.get("id", "")
        if kind == "top_suspect":
            said.append((f"The suspect was {fact['change']} on {fact['service']}", cite))
        elif kind == "step" and fact.get("status") not in (None, "pending"):
            step = f"Step {fact['step']} ({fact['action']} on {fact['service']})"
            said.append((f"{step} ended {fact['status']}", cite))
        elif kind == "plan_outcome":
            said.append((f"The plan ended {fact['status']}", cite))
        elif kind == "healthy":
            said.append((f"Health came back at {fact['at']}", cite))
    if not said and facts:
        said.append((f"The incident was {facts[0].get('incident', 'recorded')}", facts[0]["id"]))
    text = " ".join(f"{words} ({cite})." for words, cite in said)
    return {"text": text, "cited": [cite for _, cite in said]}


def careful_reply(request: ChatRequest, plan: Plan | None) -> dict[str, Any] | None:
    """What a careful model answers to one of the bot's requests, by the schema it asks for:
    ``plan`` explained (the plan asked about; None: no answer), no refinement, a thread question
    answered from its first finding, the summary's facts retold."""
    schema = ((request.body or {}).get("response_format") or {}).get("json_schema") or {}
    name = schema.get("name")
    if name == "PlanRefinement":
        return careful_refinement()
    if name == "ThreadAnswer":
        return careful_answer(_json_after(request, "The findings:\n", "\n\nLookups left"))
    if name == "IncidentNarrative":
        return careful_narrative(_json_after(request, "The facts:\n", "\n</untrusted-"))
    return careful_explanation(plan) if plan is not None else None


def _json_after(request: ChatRequest, start: str, end: str) -> list[dict[str, Any]]:
    """The JSON list the prompt shows between ``start`` and ``end`` (past a fence's tag)."""
    text = request.text.split(start, 1)[-1].split(end, 1)[0]
    text = text[text.index("[") :] if "[" in text else "[]"
    found = json.loads(text)
    return found if isinstance(found, list) else []
