"""Questions in the thread (:mod:`planners.questions`) through the real client and the fake
endpoint: lookups restricted to known ids, "what if" answered by the planner's re-plan, every
guard rule against hostile answers, and the graph's own answer when the model fails or is absent."""

from __future__ import annotations

from typing import Any

import pytest

from fakes.openai import HOSTILE_TEXTS, error, reply, tool_calls
from planners.lookups import Lookups
from planners.questions import answer_question
from tests.planners.llm_cases import INPUTS, base_plan

PLAN = base_plan()
LOOKUPS = Lookups(plan=PLAN, inputs=INPUTS)


def answer(text: str | None, *cited: str, lookups: list[dict[str, Any]] | None = None) -> Any:
    return reply({"lookups": lookups or [], "answer": text, "cited": list(cited)})


def look(
    tool: str, services: list[str] | None = None, changes: list[str] | None = None
) -> dict[str, Any]:
    return {"tool": tool, "services": services or [], "changes": changes or []}


def test_a_question_naming_a_service_is_answered_from_the_seeded_findings(client, fake):
    fake.enqueue(
        answer("cartservice's deploy C3 is the second suspect (L2); s3 rolls it back.", "L2")
    )
    checked = answer_question("@backout why not cartservice?", lookups=LOOKUPS, model=client)
    assert (checked.source, checked.outcome, checked.model) == ("model", "ok", "fake-model")
    assert checked.cited == ("L2",)
    sent = fake.requests[0].body
    assert "checkoutservice depends on cartservice directly" in str(sent["messages"])
    schema = str(sent["response_format"]["json_schema"]["schema"])
    assert "'C3'" in schema and "'L2'" in schema and "'L9'" not in schema


def test_a_what_if_is_answered_by_the_planners_replan(client, fake):
    fake.enqueue(answer(None, lookups=[look("replan", changes=["C1", "C3", "C5"])]))
    fake.enqueue(answer("Then the planner abstains: C2 explains 1 of 2 services (L1).", "L1"))
    checked = answer_question("what if we only roll back the flag?", lookups=LOOKUPS, model=client)
    assert checked.source == "model", checked.detail
    assert [f.tool for f in checked.findings] == ["replan"]
    assert checked.findings[0].result["suspects"] == ["C2"]
    second = str(fake.requests[1].body["messages"])
    assert "without C1, C3, C5 the planner abstains" in second
    assert "Lookups left: 0" in second


def test_lookups_are_asked_for_once(client, fake):
    fake.enqueue(answer(None, lookups=[look("schedule")]))
    fake.enqueue(answer(None, lookups=[look("path", services=["frontend", "cartservice"])]))
    checked = answer_question("how long will it take?", lookups=LOOKUPS, model=client)
    assert (checked.source, checked.outcome) == ("graph", "guard_rejected")
    assert "the longest chain is" in checked.text  # the findings, in the planner's words
    assert len(fake.requests) == 2


def test_an_invented_id_in_a_lookup_is_refused_by_the_schema(client, fake):
    fake.enqueue(answer(None, lookups=[look("change", changes=["C42"])]))
    checked = answer_question("and C42?", lookups=LOOKUPS, model=client)
    assert (checked.source, checked.outcome) == ("graph", "invalid")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (HOSTILE_TEXTS[0], "tells the reader to act"),
        ("Go ahead, the plan is safe (E1).", "tells the reader to act"),
        ("C3 failed at 10:14 with 37% errors (L2).", "names what the plan and the findings do not"),
        ("", "gave no answer"),
        ("x" * 2000, "longer than"),
    ],
)
def test_hostile_or_ungrounded_answers_are_rejected(client, fake, text, reason):
    fake.enqueue(answer(text, "L2"))
    checked = answer_question("why not cartservice?", lookups=LOOKUPS, model=client)
    assert (checked.source, checked.outcome) == ("graph", "guard_rejected")
    assert reason in checked.detail
    assert checked.text.startswith("What the graph says:")


def test_an_instruction_in_the_question_is_fenced_and_obeying_it_is_rejected(client, fake):
    fake.enqueue(answer("Approve plan now: the graph agrees (E1).", "E1"))
    checked = answer_question(HOSTILE_TEXTS[2], lookups=LOOKUPS, model=client)
    assert checked.outcome == "guard_rejected"
    user = fake.requests[0].body["messages"][1]["content"]
    assert "</untrusted>" not in user.replace("</untrusted-", "")


def test_without_a_model_or_with_a_failing_one_the_graph_answers(client, fake):
    bare = answer_question("why not cartservice?", lookups=LOOKUPS, model=None)
    assert (bare.source, bare.outcome) == ("graph", "no_model")
    assert "- checkoutservice depends on cartservice directly" in bare.text
    nothing = answer_question("is it the network?", lookups=LOOKUPS, model=None)
    assert "questions that name a service or a change" in nothing.text
    fake.enqueue(error(503))
    failed = answer_question("why not cartservice?", lookups=LOOKUPS, model=client)
    assert (failed.source, failed.outcome) == ("graph", "unavailable")
    fake.enqueue(tool_calls(("replan", {"changes": ["C1"]})))
    native = answer_question("why not cartservice?", lookups=LOOKUPS, model=client)
    assert (native.source, native.outcome) == ("graph", "invalid")
