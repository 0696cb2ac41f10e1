"""A responder's question in the incident thread, answered from the plan and read-only planner
lookups, and checked by the graph (pure; issue 9 item 5).

:func:`answer_question` first runs the lookups the question itself calls for
(:meth:`planners.lookups.Lookups.seed`: the services and changes it names), then asks the model
with ``answer_question`` and a per-request :func:`thread_answer_schema` whose every id field is a
``Literal`` of ids that exist. The model may ask for up to :data:`MAX_LOOKUPS` more lookups once
(``path``, ``change``, ``replan``, ``schedule``: pure planner functions, never an action); the
second round must answer. "What if" answers therefore come from the planner's re-plan; the model
only narrates. :func:`check_answer` keeps an answer only when it tells no one to act, names no
identifier or number that the plan, the findings or the thread do not hold, and cites only
evidence (``E…``) and findings (``L…``) that exist. Otherwise, and with no model, the answer is
the findings in the planner's own words (:func:`graph_answer`). Nothing here raises for what a
model does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

import prompts
from planners.answers import id_literal
from planners.evidence import evidence_of
from planners.grounding import Vocabulary, directive, ungrounded
from planners.llm import StructuredModel, plan_view
from planners.lookups import Finding, Lookups

__all__ = [
    "MAX_ANSWER_CHARS",
    "MAX_LOOKUPS",
    "CheckedAnswer",
    "Lookup",
    "ThreadAnswer",
    "Turn",
    "answer_question",
    "check_answer",
    "graph_answer",
    "thread_answer_schema",
]

MAX_LOOKUPS = 3
"""Lookups the model may ask for, in its one round of asking."""

MAX_ANSWER_CHARS = 1500
"""A longer answer is rejected: the prompt asks for five sentences."""


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lookup(_Answer):
    """A read-only lookup the model asks for; ``services`` for ``path`` (two), ``changes`` for
    ``change`` (one) and ``replan`` (those left out); ``schedule`` takes neither."""

    tool: Literal["path", "change", "replan", "schedule"]
    services: list[str]
    changes: list[str]


class ThreadAnswer(_Answer):
    """The ``answer_question`` prompt's output: lookups to run, or the answer with citations."""

    lookups: list[Lookup] = Field(description="lookups to run before answering; empty to answer")
    answer: str | None = Field(description="the answer, at most five sentences; null to look up")
    cited: list[str] = Field(description="the evidence (E…) and finding (L…) ids it rests on")


@dataclass(frozen=True)
class Turn:
    """An earlier question and answer in the thread."""

    question: str
    answer: str


@dataclass(frozen=True)
class CheckedAnswer:
    """What to post in the thread.

    Attributes:
        text: the checked model answer, or the findings in the planner's words.
        source: ``model`` or ``graph``.
        outcome: ``ok``, ``no_model``, ``guard_rejected`` or the model call's failure outcome.
        model: the model's name, when one was asked.
        findings: the lookups run for this answer.
        cited: the ids the model's answer cites (``source == "model"``).
        detail: why the graph answers, when it does.
    """

    text: str
    source: str
    outcome: str
    model: str | None = None
    findings: tuple[Finding, ...] = ()
    cited: tuple[str, ...] = ()
    detail: str = ""


def thread_answer_schema(
    *, services: Sequence[str], changes: Sequence[str], cited: Sequence[str]
) -> type[ThreadAnswer]:
    """:class:`ThreadAnswer` with its ids restricted to what exists (named ``ThreadAnswer``)."""
    named: Any = list[id_literal(services)]  # type: ignore[misc]
    changed: Any = list[id_literal(changes)]  # type: ignore[misc]
    ids: Any = list[id_literal(cited)]  # type: ignore[misc]
    lookup = create_model("Lookup", __base__=Lookup, services=(named, ...), changes=(changed, ...))
    return create_model(
        "ThreadAnswer", __base__=ThreadAnswer, lookups=(list[lookup], ...), cited=(ids, ...)
    )


def answer_question(
    question: str,
    *,
    lookups: Lookups,
    model: StructuredModel | None,
    history: Sequence[Turn] = (),
    nonce: str | None = None,
) -> CheckedAnswer:
    """The answer to ``question`` about ``lookups.plan``: the model's, checked, or the graph's.

    Args:
        question: the question as asked (untrusted; fenced in the prompt).
        lookups: the plan and its inputs.
        model: the configured model; None answers from the findings alone.
        history: the thread's earlier turns, oldest first (the caller caps them).
        nonce: the fence nonce (tests fix it).
    """
    findings = lookups.seed(question)
    if model is None:
        return graph_answer(findings, "no_model", "no model is configured")
    plan = lookups.plan
    evidence = [e.id for e in evidence_of(plan)]
    template = prompts.load("answer_question", 1)
    for left in (MAX_LOOKUPS, 0):
        known = evidence + [f.id for f in findings]
        schema = thread_answer_schema(
            services=lookups.services(question), changes=lookups.changes, cited=known
        )
        values = {
            "plan": plan_view(plan),
            "findings": json.dumps([f.view() for f in findings], indent=2, ensure_ascii=False),
            "lookups_left": str(left),
            "history": _history(history),
            "question": question,
        }
        rendered = template.render(values, nonce=nonce)
        result = model.structured(rendered, schema)
        if result.value is None or str(result.outcome) != "ok":
            why = result.detail or "no usable answer"
            return graph_answer(findings, str(result.outcome), why, model=result.model)
        asked = [(q.tool, tuple(q.services or q.changes)) for q in result.value.lookups]
        if left and asked:
            calls = list(dict.fromkeys(asked))[:MAX_LOOKUPS]
            findings += lookups.run(calls, first=len(findings) + 1)
            continue
        shown = [m.content for m in rendered.messages if m.role == "user"]
        problem = check_answer(result.value, known=known, shown=shown)
        if problem:
            why = f"the graph rejected the model's answer ({problem})"
            return graph_answer(findings, "guard_rejected", why, model=result.model)
        return CheckedAnswer(
            text=(result.value.answer or "").strip(),
            source="model",
            outcome="ok",
            model=result.model,
            findings=tuple(findings),
            cited=tuple(dict.fromkeys(result.value.cited)),
        )
    raise AssertionError("unreachable: the last round returns")  # pragma: no cover


def check_answer(answer: BaseModel, *, known: Sequence[str], shown: Sequence[str]) -> str | None:
    """Why the answer cannot be posted, or None when it can (the guard's rules for a reply)."""
    value = ThreadAnswer.model_validate(answer.model_dump())
    text = (value.answer or "").strip()
    if not text:
        return "it gave no answer"
    if len(text) > MAX_ANSWER_CHARS:
        return f"the answer is longer than {MAX_ANSWER_CHARS} characters"
    words = directive(text)
    if words:
        return f"it tells the reader to act: {words!r}"
    missing = ungrounded(text, Vocabulary(shown))
    if missing:
        return f"it names what the plan and the findings do not: {', '.join(missing)}"
    invented = [c for c in value.cited if c not in known]
    if invented:
        return f"it cites what does not exist: {', '.join(invented)}"
    return None


def graph_answer(
    findings: Sequence[Finding], outcome: str, detail: str, *, model: str | None = None
) -> CheckedAnswer:
    """The answer without the model: each finding in the planner's words."""
    if findings:
        text = "What the graph says:\n" + "\n".join(f"- {f.says}" for f in findings)
    else:
        text = (
            "The graph answers questions that name a service or a change by its name, such as "
            "“why not <service>?” or “what is <change id>?”."
        )
    return CheckedAnswer(
        text=text,
        source="graph",
        outcome=outcome,
        model=model,
        findings=tuple(findings),
        detail=detail,
    )


def _history(turns: Sequence[Turn]) -> str:
    return "\n\n".join(f"Q: {t.question}\nA: {t.answer}" for t in turns) or "(none)"
