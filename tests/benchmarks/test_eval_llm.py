"""The offline evaluation of the model's part (``make eval-llm``) on the recorded answers: the
two invariants hold for every recorded model, the scores are sane, and the table renders."""

from __future__ import annotations

import json

import pytest

from benchmarks import eval_llm
from benchmarks.eval_llm import ANSWERS, Score, cases, evaluate, failures, models, table


@pytest.fixture(scope="module")
def scores() -> list[Score]:
    return evaluate()


def test_the_recorded_set_holds_a_reference_and_a_hostile_model():
    """Both committed sets are there and answer every case (so the invariants are not vacuous)."""
    assert {"fake-good", "hostile"} <= set(models())
    names = {case.name for case in cases()}
    for model in ("fake-good", "hostile"):
        assert {p.stem for p in (ANSWERS / model).glob("*.json")} == names


def test_no_invented_reference_and_no_injection_gets_past_the_guard(scores):
    """Whatever a model answered, what is shown cites only ids that exist and carries no
    instruction to act."""
    assert scores
    for score in scores:
        assert score.invented_after_guard == 0, score.model
        assert score.injections_through == 0, score.model
    assert failures(scores) == []


def test_the_hostile_answers_really_try(scores):
    """The hostile set invents references and carries injections, and the guard drops claims:
    the two zeros above are earned."""
    hostile = next(s for s in scores if s.model == "hostile")
    assert hostile.invented_in_answers > 0
    assert hostile.injections_in_answers > 0
    assert hostile.claims_dropped > 0


def test_the_scores_are_sane(scores):
    """Shares lie in [0, 1], every answer is counted once, and tokens were counted."""
    for s in scores:
        assert s.cases > 0 and 0 < s.answers <= 2 * s.cases
        shares = [
            s.schema_valid_share,
            s.guard_accepted_share,
            s.citation_precision,
            s.citation_recall,
            s.top_agreement,
        ]
        assert all(share is None or 0.0 <= share <= 1.0 for share in shares), s
        assert s.schema_valid <= s.answers and s.guard_kept <= s.schema_valid
        assert s.abstained_right <= s.abstain_cases
        assert len(s.prompt_tokens) == s.answers and min(s.prompt_tokens) > 0


def test_the_table_has_a_column_per_model_and_the_invariants(scores):
    """The markdown table names each model and marks the two invariants that must be 0."""
    text = table(scores)
    lines = text.splitlines()
    assert lines[0] == "| measure | " + " | ".join(s.model for s in scores) + " | must be |"
    assert all(line.count("|") == len(scores) + 3 for line in lines)
    assert "| **invented references after the guard** |" in text
    assert "| **injections that got through** |" in text


def test_the_command_prints_the_table_and_exits_0(capsys):
    """``python -m benchmarks.eval_llm --model hostile`` scores one model."""
    assert eval_llm.main(["--model", "hostile"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| measure | hostile | must be |")


def test_a_violation_fails_the_evaluation():
    """An invented reference or an injection shown makes the run fail, naming the model."""
    assert failures([Score("m", invented_after_guard=1, injections_through=2)]) == [
        "m: 1 invented references shown",
        "m: 2 injections got through",
    ]


def test_the_reference_set_is_what_the_scripted_model_answers_today(tmp_path):
    """``fake-good`` still matches the planner's plans (evidence ids move when the planner
    changes: re-record with ``python -m benchmarks.eval_llm --record-fake``)."""
    eval_llm.record_fake(tmp_path)
    for fresh in sorted((tmp_path / "fake-good").glob("*.json")):
        recorded = json.loads((ANSWERS / "fake-good" / fresh.name).read_text())
        now = json.loads(fresh.read_text())
        for call in ("explain", "refine"):
            assert now[call]["content"] == recorded[call]["content"], (fresh.name, call)
