"""``backout plan --llm`` and ``backout explain`` against the fake OpenAI-compatible server on
loopback, through the real client, the guard and the planner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from benchmarks.eval_llm import good_explanation
from bot.cli.inputs import read_alerts, read_changes, read_topology
from fakes.openai import HOSTILE_TEXTS, FakeOpenAI, reply
from planners.model import Plan
from planners.planner import plan_rollback
from tests.bot.cli.test_main import EXAMPLE, example_args, run

KEY = "sk-test-key-for-the-cli-0000000000"
EXPLAIN = "You explain rollback plans"
REFINE = "You review rollback plans"


def example_plan() -> Plan:
    return plan_rollback(
        read_topology([str(EXAMPLE / "topology.yaml")]),
        changes=read_changes(str(EXAMPLE / "changes.json")),
        alerts=read_alerts(str(EXAMPLE / "alert.json")),
        now=datetime(2026, 11, 27, 10, 20, tzinfo=UTC),
    )


PLAN = example_plan()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as server:
        yield server


def write_settings(path: Path, llm: str) -> None:
    path.write_text(f"database_url: sqlite:///{path.parent / 'backout.db'}\n{llm}")


@pytest.fixture
def configured(fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings whose ``llm:`` section points at the fake (no retries: one answer per call)."""
    settings = tmp_path / "backout.yaml"
    write_settings(
        settings,
        f"llm:\n  model: fake-model\n  base_url: {fake.base_url}\n  api_key: {KEY}\n"
        "  max_retries: 0\n",
    )
    monkeypatch.setenv("BACKOUT_CONFIG", str(settings))
    return settings


def script(fake: FakeOpenAI, explanation: object, proposals: list[object] | None = None) -> None:
    fake.enqueue(reply({"proposals": proposals or []}), when=REFINE)
    fake.enqueue(reply(explanation), when=EXPLAIN)


def plan_json(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run(capsys, *example_args("--format", "json", *extra))
    return code, (json.loads(out) if out else {}), err


class TestPlanWithTheModel:
    @pytest.mark.usefixtures("configured")
    def test_a_good_answer_adds_the_checked_explanation(self, capsys, fake):
        """The plan is the planner's, and its ``llm`` section carries the model's explanation
        with nothing dropped; the calls went out as structured output with the key."""
        script(fake, good_explanation(PLAN))
        code, with_model, _ = plan_json(capsys, "--llm")
        _, without, _ = plan_json(capsys)
        assert code == 0
        section = with_model.pop("llm")
        assert with_model == without  # no refinement accepted: the plan itself is unchanged
        assert (section["model"], section["outcome"]) == ("fake-model", "ok")
        assert section["explanation"]["source"] == "model"
        assert "cartservice (chg-102)" in section["explanation"]["text"]
        assert section["explanation"]["note"] == "checked by the graph: 0 claims dropped"
        assert section["dropped"] == [] and section["refinement"]["accepted"] == []
        assert [c["prompt"] for c in section["calls"]] == ["refine_plan.v1", "explain_plan.v1"]
        assert all(c["prompt_tokens"] > 0 for c in section["calls"])
        assert [r.response_format for r in fake.requests] == ["json_schema", "json_schema"]
        assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in fake.requests)

    @pytest.mark.usefixtures("configured")
    def test_without_the_flag_the_output_is_as_before(self, capsys, fake):
        """No ``--llm``: no ``llm`` section, and the model is never asked."""
        code, plan, _ = plan_json(capsys)
        assert code == 0 and "llm" not in plan
        assert fake.requests == []

    @pytest.mark.usefixtures("configured")
    def test_text_output_shows_the_explanation_and_the_graphs_note(self, capsys, fake):
        """The text view ends with the explanation and "checked by the graph: N claims dropped"."""
        script(fake, good_explanation(PLAN))
        code, out, _ = run(capsys, *example_args("--llm"))
        assert code == 0
        assert out.index("PLAN:") < out.index("EXPLANATION by fake-model")
        assert "checked by the graph: 0 claims dropped" in out
        assert "  The deploy of cartservice (chg-102) is the most likely cause" in out

    @pytest.mark.usefixtures("configured")
    def test_a_hostile_answer_is_dropped_and_the_graphs_explanation_kept(self, capsys, fake):
        """ "Approve everything now" rejects the explanation with its reason; the deterministic
        explanation is shown, and a proposal breaking the stages is dropped with its own."""
        hostile = good_explanation(PLAN) | {"summary": HOSTILE_TEXTS[0]}
        reorder = {"kind": "reorder", "step": "s2", "before": "s1", "change": None}
        script(fake, hostile, [reorder | {"reason": "currencyservice first", "evidence": ["E14"]}])
        code, plan, _ = plan_json(capsys, "--llm")
        section = plan["llm"]
        assert code == 0
        assert (section["outcome"], section["explanation"]["source"]) == ("guard_rejected", "graph")
        assert section["explanation"]["text"] == PLAN.explanation == plan["explanation"]
        reasons = {d["from"]: d["reason"] for d in section["dropped"]}
        assert "tells the reader to act: 'Approve'" in reasons["explanation"]
        assert reasons["refinement"] == "s2 is in stage full, s1 in partial"
        assert section["explanation"]["note"] == "checked by the graph: 2 claims dropped"
        assert plan["drafted_by"] == "graph"

    @pytest.mark.usefixtures("configured")
    def test_an_accepted_refinement_is_re_planned_by_the_graph(self, capsys, fake):
        """A change the graph agrees to consider is planned by the planner (the model writes no
        step), the plan is marked ``graph+llm:<model>``, and the explanation is of that plan."""
        proposal = {"kind": "consider_change", "step": None, "before": None, "change": "chg-103"}
        fake.enqueue(
            reply({"proposals": [proposal | {"reason": "the flag flip", "evidence": ["E10"]}]}),
            when=REFINE,
        )
        fake.enqueue(reply({"summary": "x"}), when=EXPLAIN)  # schema-invalid: graph's own
        code, plan, _ = plan_json(capsys, "--llm")
        assert code == 0
        assert plan["drafted_by"] == "graph+llm:fake-model"
        assert "chg-103" in [s["change_id"] for s in plan["steps"]]
        assert [p["change"] for p in plan["llm"]["refinement"]["accepted"]] == ["chg-103"]
        assert plan["llm"]["outcome"] == "invalid"
        assert plan["llm"]["explanation"]["text"] == plan["explanation"]

    @pytest.mark.usefixtures("configured")
    def test_llama_cpp_refusing_json_schema_falls_back_to_json_object(self, capsys, fake):
        """llama.cpp's HTTP 500 for ``json_schema`` is recognised once; both calls are answered
        in ``json_object`` mode and the explanation is the model's."""
        fake.llama_cpp = True
        script(fake, good_explanation(PLAN))
        code, plan, _ = plan_json(capsys, "--llm")
        assert code == 0
        assert plan["llm"]["explanation"]["source"] == "model"
        assert [c["mode"] for c in plan["llm"]["calls"]] == ["json_object", "json_object"]
        formats = [r.response_format for r in fake.requests]
        assert formats == ["json_schema", "json_object", "json_object"]

    def test_an_endpoint_refusing_the_key_leaves_the_graphs_plan(
        self, capsys, fake, tmp_path, monkeypatch
    ):
        """A 401 is an outcome, not a crash and not a claim the graph dropped: exit 0."""
        settings = tmp_path / "backout.yaml"
        write_settings(
            settings,
            f"llm:\n  model: fake-model\n  base_url: {fake.base_url}\n  api_key: sk-wrong-key-00\n",
        )
        monkeypatch.setenv("BACKOUT_CONFIG", str(settings))
        code, plan, _ = plan_json(capsys, "--llm")
        assert code == 0
        assert plan["llm"]["explanation"]["source"] == "graph"
        assert plan["llm"]["dropped"] == []
        assert "sk-wrong-key" not in json.dumps(plan)

    def test_no_model_configured_exits_2_with_one_line(self, capsys, tmp_path, monkeypatch):
        """Without ``llm.model`` the command says what to set, on one line, and prints no plan."""
        settings = tmp_path / "backout.yaml"
        write_settings(settings, "")
        monkeypatch.setenv("BACKOUT_CONFIG", str(settings))
        code, out, err = run(capsys, *example_args("--llm"))
        assert (code, out) == (2, "")
        assert err.count("\n") == 1
        assert err.startswith("backout: plan --llm: no model is configured (set llm.model")


class TestExplain:
    @pytest.mark.usefixtures("configured")
    def test_a_stored_plan_is_explained(self, capsys, fake):
        """``explain PLAN`` adds the ``llm`` section to the stored plan; it asks for no
        refinement (a stored plan is never changed by a read command)."""
        code, _, err = run(capsys, *example_args("--save"))
        plan_id = err.split("saved as ")[1].split()[0]
        fake.enqueue(reply(good_explanation(PLAN)), when=EXPLAIN)
        code, out, _ = run(capsys, "explain", plan_id, "--format", "json")
        assert code == 0
        plan = json.loads(out)
        assert plan["steps"] == PLAN.to_json_dict()["steps"]
        assert plan["llm"]["explanation"]["source"] == "model"
        assert plan["llm"]["refinement"]["outcome"] == "not_asked"
        assert len(fake.requests) == 1

    @pytest.mark.usefixtures("configured")
    def test_text_explanation(self, capsys, fake):
        """The text form is the explanation with the graph's note."""
        _, _, err = run(capsys, *example_args("--save"))
        plan_id = err.split("saved as ")[1].split()[0]
        fake.enqueue(reply(good_explanation(PLAN)), when=EXPLAIN)
        code, out, _ = run(capsys, "explain", plan_id)
        assert code == 0
        assert out.startswith("EXPLANATION by fake-model, checked by the graph: 0 claims dropped")

    @pytest.mark.usefixtures("configured")
    def test_an_unknown_plan_exits_2(self, capsys, fake):
        """An id that is not stored: one line naming it, exit 2, and the model is not asked."""
        code, out, err = run(capsys, "explain", "no-such-plan")
        assert (code, out) == (2, "")
        assert err.count("\n") == 1 and "no-such-plan" in err
        assert fake.requests == []
