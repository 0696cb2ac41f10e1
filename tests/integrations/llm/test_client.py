"""The model client (:class:`integrations.llm.OpenAIChatClient`) with the real ``openai``
package against the fake endpoint on loopback: structured answers, the fallback chain, every
way an answer can be unusable as an outcome, retries within the deadline, and redaction."""

from __future__ import annotations

import json

import pytest

from fakes.openai import (
    HOSTILE_TEXTS,
    error,
    filtered,
    malformed,
    refusal,
    reply,
    slow,
    tool_calls,
    truncated,
)
from fakes.server import Incoming, LoopbackServer, Reply
from integrations.errors import RateLimitedError, UnauthorizedError, UnavailableError
from integrations.llm import LLMConfig, OpenAIChatClient, Outcome, StructuredMode
from prompts import Message, RenderedPrompt
from tests.integrations.llm.conftest import GOOD, PlanExplanation, explain_prompt
from tests.prompts.secret_samples import ALL_SECRETS_TEXT, SAMPLES


def test_a_structured_answer_comes_back_validated(client, fake, recorded):
    fake.enqueue(reply(GOOD))
    result = client.structured(explain_prompt(), PlanExplanation)
    assert result.outcome is Outcome.OK and result.ok
    assert result.value == PlanExplanation.model_validate(GOOD)
    assert (result.mode, result.attempts, result.prompt) == (
        StructuredMode.JSON_SCHEMA,
        1,
        "explain_plan.v1",
    )
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    [call] = recorded.calls
    assert (call.outcome, call.prompt, call.model, call.host) == (
        "ok",
        "explain_plan.v1",
        "fake-model",
        "127.0.0.1",
    )


def test_every_request_asks_for_the_strict_schema_with_an_explicit_token_limit(client, fake):
    fake.enqueue(reply(GOOD))
    client.structured(explain_prompt(), PlanExplanation)
    [request] = fake.requests
    assert request.body["max_tokens"] == 1024
    assert request.body["temperature"] == 0.0
    assert request.body["model"] == "fake-model"
    response_format = request.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert schema["properties"]["evidence"]["items"]["enum"] == ["E1", "E2", "E3"]
    assert request.headers["authorization"] == "Bearer sk-test-key-for-the-fake-000000"


def test_the_token_limit_field_can_be_max_completion_tokens(make_client, fake):
    fake.enqueue(reply(GOOD))
    make_client(token_limit_field="max_completion_tokens", max_tokens=300, temperature=None)
    client = make_client(
        token_limit_field="max_completion_tokens", max_tokens=300, temperature=None
    )
    client.structured(explain_prompt(), PlanExplanation)
    [request] = fake.requests
    assert request.body["max_completion_tokens"] == 300
    assert "max_tokens" not in request.body and "temperature" not in request.body


def test_llama_cpp_refusing_json_schema_falls_back_to_json_object_once(client, fake):
    fake.llama_cpp = True
    fake.enqueue(reply(GOOD), reply(GOOD))
    first = client.structured(explain_prompt(), PlanExplanation)
    second = client.structured(explain_prompt(), PlanExplanation)
    assert (first.outcome, first.mode, first.attempts) == (
        Outcome.OK,
        StructuredMode.JSON_OBJECT,
        2,
    )
    assert (second.outcome, second.mode, second.attempts) == (
        Outcome.OK,
        StructuredMode.JSON_OBJECT,
        1,
    )
    # the 500 is not retried, and the endpoint is remembered: json_schema is asked once only
    assert [r.response_format for r in fake.requests] == [
        "json_schema",
        "json_object",
        "json_object",
    ]
    system = fake.requests[1].messages[0]["content"]
    assert "It must validate against this JSON Schema" in system
    assert json.loads(system.rsplit("\n", 1)[1]) == PlanExplanation.model_json_schema()


def test_an_endpoint_refusing_both_modes_gives_no_result_and_is_not_asked_again(client, fake):
    fake.llama_cpp = fake.refuse_json_object = True
    first = client.structured(explain_prompt(), PlanExplanation)
    assert (first.outcome, first.value, first.attempts) == (Outcome.UNSUPPORTED, None, 2)
    second = client.structured(explain_prompt(), PlanExplanation)
    assert (second.outcome, second.attempts) == (Outcome.UNSUPPORTED, 0)
    assert len(fake.requests) == 2
    assert client.modes.get(client.config.endpoint) is StructuredMode.NONE


def test_the_llama_cpp_error_is_recognised_in_its_pydantic_wording_too(client, fake):
    fake.enqueue(error(500, "1 validation error: Input should be 'text' or 'json_object'"))
    fake.enqueue(reply(GOOD))
    result = client.structured(explain_prompt(), PlanExplanation)
    assert (result.outcome, result.mode) == (Outcome.OK, StructuredMode.JSON_OBJECT)


@pytest.mark.parametrize("llama_cpp", [False, True], ids=["json_schema", "json_object"])
@pytest.mark.parametrize(
    ("answer", "outcome", "detail"),
    [
        (malformed(), Outcome.INVALID, "does not fit the schema"),
        (reply({"summary": "x", "evidence": ["E9"]}), Outcome.INVALID, "evidence.0"),
        (reply({"summary": "x", "evidence": [], "approve": True}), Outcome.INVALID, "approve"),
        (refusal("I can't help with that."), Outcome.REFUSED, "refused: I can't help"),
        (truncated(), Outcome.TRUNCATED, "token limit"),
        (filtered(), Outcome.FILTERED, "content filter"),
        (tool_calls(("path_between", {"a": "E1"})), Outcome.INVALID, "tool calls"),
    ],
    ids=["malformed", "invented-id", "extra-field", "refusal", "length", "filter", "tool-calls"],
)
def test_an_unusable_answer_is_an_outcome_not_a_crash(
    client, fake, answer, outcome, detail, llama_cpp
):
    fake.llama_cpp = llama_cpp
    fake.enqueue(answer)
    result = client.structured(explain_prompt(), PlanExplanation)
    assert (result.outcome, result.value) == (outcome, None)
    assert detail in result.detail
    assert client.breaker.state == "closed"  # the endpoint answered: no strike against it


def test_tokens_of_an_unusable_answer_still_count(make_client, fake, recorded):
    client = make_client(input_price_per_million=2.0, output_price_per_million=8.0)
    fake.enqueue(truncated("x" * 400))
    result = client.structured(explain_prompt(), PlanExplanation)
    assert result.usage.completion_tokens == 100
    expected = (result.usage.prompt_tokens * 2.0 + 100 * 8.0) / 1_000_000
    assert result.cost == pytest.approx(expected)
    assert recorded.calls[0].cost == pytest.approx(expected)


def test_a_hostile_answer_is_returned_as_a_proposal_for_the_guard(client, fake):
    fake.enqueue(reply({"summary": HOSTILE_TEXTS[0], "evidence": ["E1"]}))
    result = client.structured(explain_prompt(), PlanExplanation)
    assert result.ok and result.value is not None
    assert result.value.summary == HOSTILE_TEXTS[0]  # judged by planners/validate.py, not here


def test_a_slow_answer_times_out(make_client, fake):
    client = make_client(timeout=0.2, max_retries=0)
    fake.enqueue(slow(reply(GOOD), 5.0))
    result = client.structured(explain_prompt(), PlanExplanation)
    assert (result.outcome, result.value) == (Outcome.TIMEOUT, None)
    assert isinstance(result.error, UnavailableError)


def test_a_temporary_failure_is_retried_once_after_the_backoff(client, fake, slept):
    fake.enqueue(error(503, "overloaded"), reply(GOOD))
    result = client.structured(explain_prompt(), PlanExplanation)
    assert (result.outcome, result.attempts) == (Outcome.OK, 2)
    assert slept == [0.5]


def test_retry_after_is_honoured_when_the_deadline_has_room(client, fake, slept):
    fake.enqueue(error(429, "slow down", type="requests", headers={"Retry-After": "1.5"}))
    fake.enqueue(reply(GOOD))
    assert client.structured(explain_prompt(), PlanExplanation).ok
    assert slept == [1.5]


def test_no_retry_when_the_wait_would_pass_the_deadline(client, fake, slept):
    fake.enqueue(error(429, "slow down", type="requests", headers={"Retry-After": "60"}))
    result = client.structured(explain_prompt(), PlanExplanation)
    assert result.outcome is Outcome.RATE_LIMITED
    assert isinstance(result.error, RateLimitedError) and result.error.retry_after == 60.0
    assert (slept, len(fake.requests)) == ([], 1)


def test_only_max_retries_further_attempts_are_made(make_client, fake, slept):
    client = make_client(max_retries=2)
    fake.enqueue(error(502), error(502), error(502), reply(GOOD))
    result = client.structured(explain_prompt(), PlanExplanation)
    assert (result.outcome, result.attempts, len(slept)) == (Outcome.UNAVAILABLE, 3, 2)
    assert fake.pending == 1


def test_refused_credentials_are_rejected_without_retry(make_client, fake, slept):
    client = make_client(api_key="sk-wrong-key-000000000000000000")
    result = client.structured(explain_prompt(), PlanExplanation)
    assert result.outcome is Outcome.REJECTED
    assert isinstance(result.error, UnauthorizedError)
    assert "sk-wrong" not in result.detail
    assert slept == []


def test_an_unreachable_endpoint_is_unavailable(make_client, fake):
    base_url = fake.base_url
    fake.stop()
    client = make_client(base_url=base_url, max_retries=0)
    result = client.structured(explain_prompt(), PlanExplanation)
    assert (result.outcome, result.attempts) == (Outcome.UNAVAILABLE, 1)
    assert "cannot reach the model" in result.detail


def test_a_spent_deadline_sends_nothing(client, fake, clock):
    deadline = client.deadline()
    clock.now += 30.0
    result = client.structured(explain_prompt(), PlanExplanation, deadline=deadline)
    assert (result.outcome, result.attempts, fake.requests) == (Outcome.DEADLINE, 0, [])


def test_calls_of_one_plan_share_its_deadline(client, fake, clock):
    fake.enqueue(reply(GOOD), reply(GOOD))
    deadline = client.deadline()
    assert client.structured(explain_prompt(), PlanExplanation, deadline=deadline).ok
    clock.now += 29.0
    assert client.structured(explain_prompt(), PlanExplanation, deadline=deadline).ok
    clock.now += 1.0
    late = client.structured(explain_prompt(), PlanExplanation, deadline=deadline)
    assert late.outcome is Outcome.DEADLINE
    assert len(fake.requests) == 2


def test_three_failures_open_the_breaker_until_the_cooldown_is_over(make_client, fake, clock):
    client = make_client(max_retries=0)
    fake.enqueue(*[error(500)] * 3, reply(GOOD))
    outcomes = [client.structured(explain_prompt(), PlanExplanation).outcome for _ in range(4)]
    assert outcomes == [Outcome.UNAVAILABLE] * 3 + [Outcome.CIRCUIT_OPEN]
    assert len(fake.requests) == 3
    clock.now += 300.0
    assert client.structured(explain_prompt(), PlanExplanation).ok
    assert client.breaker.state == "closed"


def test_a_prompt_for_another_schema_is_a_programming_error(client, fake):
    prompt = explain_prompt()
    wrong = RenderedPrompt(
        prompt.id, prompt.version, "Other", prompt.digest, prompt.nonce, prompt.messages
    )
    with pytest.raises(ValueError, match="answers Other, not PlanExplanation"):
        client.structured(wrong, PlanExplanation)
    assert fake.requests == []


def test_no_fixture_secret_reaches_the_endpoint(make_client, fake):
    fake.llama_cpp = True  # both modes: the schema-in-prompt path too
    fake.enqueue(reply(GOOD), reply(GOOD))
    client = make_client()
    rendered = explain_prompt(alerts=ALL_SECRETS_TEXT, plan=json.dumps({"note": ALL_SECRETS_TEXT}))
    # a prompt built by hand, bypassing the renderer's redaction: the client redacts again
    raw = RenderedPrompt(
        "explain_plan",
        1,
        "PlanExplanation",
        "0" * 64,
        "0123456789ab",
        (Message("system", ALL_SECRETS_TEXT), Message("user", ALL_SECRETS_TEXT)),
    )
    client.structured(rendered, PlanExplanation)
    client.structured(raw, PlanExplanation)
    bodies = b"\n".join(request.raw for request in fake.requests).decode()
    assert len(fake.requests) == 3
    leaked = [s.kind for s in SAMPLES if s.secret in bodies or json.dumps(s.secret)[1:-1] in bodies]
    assert leaked == []
    assert "sk-test-key-for-the-fake" not in bodies


def test_configured_redaction_patterns_apply_to_what_is_sent(make_client, fake):
    fake.enqueue(reply(GOOD))
    client = make_client(redact_patterns=(r"cust-[0-9]{6}",))
    client.structured(explain_prompt(alerts="customer cust-123456 affected"), PlanExplanation)
    assert "cust-123456" not in fake.requests[0].raw.decode()


class _Answers(LoopbackServer):
    """An endpoint that answers every request with one fixed reply (not a chat completion)."""

    def __init__(self, answer: Reply) -> None:
        super().__init__()
        self.answer = answer

    def _respond(self, request: Incoming) -> Reply:
        return self.answer


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (Reply(200, "<html>proxy</html>", content_type="text/html"), "not a JSON object"),
        (Reply(200, {"choices": "x"}), "no choices"),
        (Reply(200, {"choices": [{"message": None}]}), "has no message"),
        (Reply(200, {"choices": [{"message": {"content": 3}}]}), "message.content is not text"),
    ],
    ids=["html", "choices-not-list", "no-message", "content-not-text"],
)
def test_a_body_that_is_no_chat_completion_is_invalid(clock, answer, problem):
    with _Answers(answer) as server:
        config = LLMConfig(model="m", base_url=server.base_url, max_retries=0)
        with OpenAIChatClient(config=config, clock=clock) as client:
            result = client.structured(explain_prompt(), PlanExplanation)
    assert result.outcome is Outcome.INVALID
    assert result.detail.startswith("not a chat completion: ")
    assert problem in result.detail
