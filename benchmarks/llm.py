"""What the guard costs per model answer (``make bench``; issue 9, "Performance").

Run from the repository root as ``python -m benchmarks.llm``. Every recorded answer of the
offline evaluation (``benchmarks/llm_answers/<model>/<case>.json``, :mod:`benchmarks.eval_llm`)
that parses as an explanation or a refinement is checked by the pure guard
(:func:`planners.validate.check_explanation`, :func:`planners.validate.check_refinement`) against
its case's plan and the prompt text the model was shown, many times over; so is, for each case,
a thread question's answer (:func:`planners.questions.check_answer`: a careful answer built
from the lookups the question "why not <the top suspect's service>?" seeds). The p50 and p99 of
one check are reported against the target of 5 ms. The answers the schema refuses never reach the
guard and are not timed. The markdown table is printed and written to
``benchmarks/results-llm.md``; nothing here asserts a time.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

import prompts
from benchmarks.eval_llm import EXPLAIN, REFINE, Case, cases, load_answers, models
from benchmarks.planning import machine
from fakes.careful_model import careful_answer
from planners.answers import PlanExplanation, PlanRefinement
from planners.evidence import evidence_of
from planners.llm import plan_view
from planners.lookups import Lookups
from planners.questions import ThreadAnswer, check_answer
from planners.validate import check_explanation, check_refinement

RUNS = 200
"""Checks of each answer (after one warm-up)."""
TARGET_S = 0.005
ANSWER = "answer_question"
"""The kind (and prompt) of a thread question's answer."""
RESULTS = Path(__file__).with_name("results-llm.md")


@dataclass(frozen=True)
class Timing:
    """The guard's times for one kind of answer."""

    what: str
    answers: int
    times: tuple[float, ...]

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (0.5, 0.99) of one check's time, in seconds."""
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _shown(case: Case, prompt: str) -> list[str]:
    values = {"plan": plan_view(case.plan), "alerts": case.alerts}
    if prompt == "refine_plan":  # as planners.llm.refine_plan lists them
        listing = [
            {"id": c.id, "service": c.service, "kind": c.kind.value, "at": c.at.isoformat()}
            for c in case.inputs.changes
        ]
        values["changes"] = json.dumps(listing, indent=2)
    rendered = prompts.load(prompt, 1).render(values, nonce=case.nonce)
    return [m.content for m in rendered.messages if m.role == "user"]


def _checks() -> dict[str, list[Callable[[], object]]]:
    """One closure per answer that parses, by kind."""
    by_name = {case.name: case for case in cases()}
    found: dict[str, list[Callable[[], object]]] = {EXPLAIN: [], REFINE: []}
    for model in models():
        for name, recorded in load_answers(model).items():
            case = by_name.get(name)
            if case is None:
                continue
            for call, answer in recorded.items():
                raw = answer.parsed()
                try:
                    if call == EXPLAIN:
                        found[call].append(_explanation(case, PlanExplanation.model_validate(raw)))
                    else:
                        found[call].append(_refinement(case, PlanRefinement.model_validate(raw)))
                except ValidationError:
                    continue
    found[ANSWER] = [_answer(case) for case in by_name.values() if case.plan.suspects]
    return found


def _answer(case: Case) -> Callable[[], object]:
    lookups = Lookups(plan=case.plan, inputs=case.inputs)
    question = f"why not {case.plan.suspects[0].service}?"
    findings = lookups.seed(question)
    answer = ThreadAnswer.model_validate(careful_answer([f.view() for f in findings]))
    values = {
        "plan": plan_view(case.plan),
        "findings": json.dumps([f.view() for f in findings], indent=2, ensure_ascii=False),
        "lookups_left": "0",
        "history": "(none)",
        "question": question,
    }
    rendered = prompts.load(ANSWER, 1).render(values, nonce=case.nonce)
    shown = [m.content for m in rendered.messages if m.role == "user"]
    known = [e.id for e in evidence_of(case.plan)] + [f.id for f in findings]
    return lambda: check_answer(answer, known=known, shown=shown)


def _explanation(case: Case, answer: PlanExplanation) -> Callable[[], object]:
    shown = _shown(case, "explain_plan")
    return lambda: check_explanation(case.plan, answer, shown=shown)


def _refinement(case: Case, answer: PlanRefinement) -> Callable[[], object]:
    shown = _shown(case, "refine_plan")
    options = case.inputs.options
    return lambda: check_refinement(
        case.plan,
        answer,
        shown=shown,
        changes=case.inputs.by_id,
        window=options.window,
        skew=options.clock_skew,
        topology=case.inputs.topology,
    )


def measure(runs: int = RUNS) -> list[Timing]:
    """Time every parsable answer's check ``runs`` times."""
    timings = []
    for kind, checks in _checks().items():
        times: list[float] = []
        for check in checks:
            check()
            gc.collect()
            for _ in range(runs):
                started = time.perf_counter()
                check()
                times.append(time.perf_counter() - started)
        label = {EXPLAIN: "check_explanation", REFINE: "check_refinement"}.get(kind, "check_answer")
        timings.append(Timing(label, len(checks), tuple(times)))
    return timings


def table(timings: list[Timing], runs: int = RUNS) -> str:
    """The markdown report."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# The guard's cost per model answer",
        "",
        f"Generated by `python -m benchmarks.llm` on {now}.",
        f"Machine: {machine()}.",
        f"Answers: the recorded set of `make eval-llm` ({', '.join(models())}), and a thread "
        f"answer per case; each checked {runs} times after a warm-up.",
        "",
        "| guard | answers | p50 | p99 | mean | target |",
        "|---|---|---|---|---|---|",
    ]
    for t in timings:
        if not t.times:
            continue
        p99 = t.quantile(0.99)
        verdict = "meets" if p99 <= TARGET_S else "MISSES"
        lines.append(
            f"| `{t.what}` | {t.answers} | {_ms(t.quantile(0.5))} | {_ms(p99)} | "
            f"{_ms(statistics.fmean(t.times))} | {_ms(TARGET_S)} ({verdict}) |"
        )
    return "\n".join(lines) + "\n"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main() -> int:
    result = table(measure())
    sys.stdout.write(result)
    RESULTS.write_text(result, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
