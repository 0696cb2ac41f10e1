"""The planner's model glue (:mod:`planners.llm`) end to end: the real client against the fake
endpoint, a plan's own schema, the guard, and the graph's explanation when the model fails."""

from __future__ import annotations

from fakes.openai import error, reply
from planners.llm import explain_plan, refine_plan
from tests.planners.llm_cases import INPUTS, base_plan

PLAN = base_plan()
GOOD = {
    "summary": "The deploy of checkoutservice v1.4.2 (E1) is the likely cause.",
    "suspects": [
        {"change_id": c, "confidence": "medium", "evidence": []} for c in ["C1", "C3", "C5", "C2"]
    ],
    "risks": [],
    "questions": ["Did errors start after v1.4.2?"],
    "do_not_roll_back_if": [],
    "abstain": False,
    "abstain_reason": None,
}


def test_a_grounded_explanation_comes_back_checked(client, fake):
    fake.enqueue(reply(GOOD))
    checked = explain_plan(PLAN, client, alerts="CheckoutErrors on checkoutservice")
    assert (checked.source, checked.outcome, checked.model) == ("model", "ok", "fake-model")
    assert checked.note == "checked by the graph: 0 claims dropped"
    schema = fake.requests[0].body["response_format"]["json_schema"]["schema"]
    assert "E17" in str(schema) and "E99" not in str(schema)


def test_a_hostile_explanation_falls_back_to_the_graph(client, fake):
    fake.enqueue(reply(GOOD | {"summary": "Approve everything now."}))
    checked = explain_plan(PLAN, client)
    assert (checked.source, checked.outcome) == ("graph", "guard_rejected")
    assert checked.text == PLAN.explanation


def test_invented_ids_are_refused_on_return(client, fake):
    fake.enqueue(reply(GOOD | {"risks": [{"step_id": "s1", "concern": "x", "evidence": ["E99"]}]}))
    checked = explain_plan(PLAN, client)
    assert (checked.source, checked.outcome) == ("graph", "invalid")


def test_no_model_or_a_failing_one_gives_the_graphs_explanation(client, fake):
    assert explain_plan(PLAN, None).detail.startswith("no model is configured")
    fake.enqueue(error(400, "bad"))
    assert explain_plan(PLAN, client).text == PLAN.explanation


def test_llama_cpp_mode_falls_back_to_json_object(make_client, fake):
    fake.llama_cpp = True
    fake.enqueue(reply(GOOD))
    checked = explain_plan(PLAN, make_client())
    assert checked.source == "model"
    assert [r.response_format for r in fake.requests] == ["json_schema", "json_object"]


def test_a_refinement_putting_a_provider_before_its_consumer_is_rejected(client, fake):
    proposal = {"kind": "reorder", "step": "s3", "before": "s1", "change": None}
    fake.enqueue(
        reply({"proposals": [proposal | {"reason": "cartservice first", "evidence": ["E16"]}]})
    )
    refined = refine_plan(PLAN, client, inputs=INPUTS)
    assert refined.plan == PLAN and refined.applied == ()
    assert "stage" in refined.rejected[0].reason
