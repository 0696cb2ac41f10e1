"""The fake OpenAI-compatible endpoint (:mod:`fakes.openai`): the shapes it answers with, its
script, the llama.cpp and no-structured-output modes, authentication, and what it records.
Spoken to over plain HTTP here; the client's tests speak to it through the real SDK."""

from __future__ import annotations

import httpx
import pytest

from fakes.openai import (
    LLAMA_CPP_REFUSAL,
    FakeOpenAI,
    error,
    filtered,
    malformed,
    refusal,
    reply,
    slow,
    tool_calls,
    truncated,
)

SCHEMA = {"type": "json_schema", "json_schema": {"name": "X", "schema": {}, "strict": True}}


def chat(fake: FakeOpenAI, text: str = "hello", **body: object) -> httpx.Response:
    payload = {"model": "m", "messages": [{"role": "user", "content": text}], **body}
    return httpx.post(f"{fake.base_url}/chat/completions", json=payload, timeout=5.0)


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def test_a_scripted_reply_is_a_chat_completion(fake):
    fake.enqueue(reply({"summary": "ok"}))
    body = chat(fake, "abcdefgh").json()
    assert body["object"] == "chat.completion" and body["model"] == "m"
    [choice] = body["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["message"] == {
        "role": "assistant",
        "content": '{"summary": "ok"}',
        "refusal": None,
    }
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}


@pytest.mark.parametrize(
    ("answer", "finish", "field", "value"),
    [
        (
            malformed(),
            "stop",
            "content",
            '{"summary": "The checkout deploy is the likely cause", "suspects": [',
        ),
        (refusal("no"), "stop", "refusal", "no"),
        (truncated("{"), "length", "content", "{"),
        (filtered(), "content_filter", "content", None),
    ],
)
def test_each_answer_state_has_its_shape(fake, answer, finish, field, value):
    fake.enqueue(answer)
    [choice] = chat(fake).json()["choices"]
    assert (choice["finish_reason"], choice["message"][field]) == (finish, value)


def test_tool_calls_carry_names_and_json_arguments(fake):
    fake.enqueue(tool_calls(("path_between", {"a": "frontend", "b": "cartservice"})))
    [choice] = chat(fake).json()["choices"]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["function"] == {
        "name": "path_between",
        "arguments": '{"a": "frontend", "b": "cartservice"}',
    }


def test_answers_are_given_in_order_or_to_the_request_that_matches(fake):
    fake.enqueue(reply("second"), when="refine")
    fake.enqueue(reply("first"))
    assert chat(fake, "explain this").json()["choices"][0]["message"]["content"] == "first"
    assert chat(fake, "refine this").json()["choices"][0]["message"]["content"] == "second"
    gap = chat(fake)
    assert gap.status_code == 500 and "no scripted answer" in gap.json()["error"]["message"]


def test_a_default_answer_serves_every_unscripted_request():
    with FakeOpenAI(default=reply("always")) as fake:
        contents = [chat(fake).json()["choices"][0]["message"]["content"] for _ in range(2)]
    assert contents == ["always", "always"]


def test_llama_cpp_mode_answers_json_schema_with_its_500_and_keeps_the_script(fake):
    fake.llama_cpp = True
    fake.enqueue(reply({"a": 1}))
    refused = chat(fake, response_format=SCHEMA)
    assert refused.status_code == 500
    assert refused.json() == {
        "error": {"code": 500, "message": LLAMA_CPP_REFUSAL, "type": "server_error"}
    }
    assert fake.pending == 1
    assert chat(fake, response_format={"type": "json_object"}).status_code == 200


def test_an_endpoint_without_json_object_refuses_it(fake):
    fake.refuse_json_object = True
    answer = chat(fake, response_format={"type": "json_object"})
    assert answer.status_code == 400 and "response_format" in answer.json()["error"]["message"]


def test_errors_carry_openais_error_object_and_headers(fake):
    fake.enqueue(error(429, "slow down", type="requests", headers={"Retry-After": "2"}))
    answer = chat(fake)
    assert (answer.status_code, answer.headers["retry-after"]) == (429, "2")
    assert answer.json()["error"] == {
        "message": "slow down",
        "type": "requests",
        "param": None,
        "code": None,
    }


def test_a_wrong_key_gets_401_and_a_right_one_is_served():
    with FakeOpenAI(api_key="sk-right", default=reply("ok")) as fake:
        payload = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        url = f"{fake.base_url}/chat/completions"
        wrong = httpx.post(url, json=payload, headers={"Authorization": "Bearer sk-wrong"})
        right = httpx.post(url, json=payload, headers={"Authorization": "Bearer sk-right"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert right.status_code == 200


def test_requests_are_recorded_with_their_raw_bodies(fake):
    fake.enqueue(reply("x"))
    chat(fake, "the text", response_format={"type": "json_object"}, max_tokens=50)
    [request] = fake.requests
    assert (request.text, request.response_format, request.body["max_tokens"]) == (
        "the text",
        "json_object",
        50,
    )
    assert b'"the text"' in request.raw


def test_a_body_that_is_not_json_is_a_400(fake):
    answer = httpx.post(f"{fake.base_url}/chat/completions", content=b"{not json", timeout=5.0)
    assert answer.status_code == 400
    assert fake.requests[0].body is None


def test_models_are_listed_and_other_paths_are_404(fake):
    assert httpx.get(f"{fake.base_url}/models").json()["data"][0]["id"] == "fake-model"
    assert httpx.post(f"{fake.base_url}/embeddings", json={}).status_code == 404


def test_a_slow_answer_arrives_after_its_delay(fake):
    fake.enqueue(slow(reply("late"), 0.05))
    assert chat(fake).json()["choices"][0]["message"]["content"] == "late"
    fake.enqueue(slow(reply("too late"), 5.0))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{fake.base_url}/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
            timeout=0.1,
        )
