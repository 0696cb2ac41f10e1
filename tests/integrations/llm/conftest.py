"""Fixtures for the model client's tests: a fake endpoint on loopback, a hand-moved clock, a
sleep that only records, and a client wired to all three."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict

import prompts
from fakes.openai import FakeOpenAI
from integrations.llm import LLMConfig, OpenAIChatClient, RecordedCalls
from tests.prompts import examples


class PlanExplanation(BaseModel):
    """A stand-in for the planner's explanation schema: ids are the plan's only."""

    model_config = ConfigDict(extra="forbid")

    summary: str
    evidence: list[Literal["E1", "E2", "E3"]]


GOOD = {"summary": "checkoutservice's deploy (E1) is the likely cause", "evidence": ["E1"]}


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-test-key-for-the-fake-000000") as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def recorded() -> RecordedCalls:
    return RecordedCalls()


@pytest.fixture
def make_client(
    fake: FakeOpenAI, clock: Clock, slept: list[float], recorded: RecordedCalls
) -> Iterator[Callable[..., OpenAIChatClient]]:
    made: list[OpenAIChatClient] = []

    def make(**overrides: Any) -> OpenAIChatClient:
        options: dict[str, Any] = {
            "model": "fake-model",
            "base_url": overrides.pop("base_url", None) or fake.base_url,
            "api_key": "sk-test-key-for-the-fake-000000",
        }
        client = OpenAIChatClient(
            config=LLMConfig(**(options | overrides)),
            clock=clock,
            sleep=slept.append,
            recorder=recorded,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., OpenAIChatClient]) -> OpenAIChatClient:
    return make_client()


def explain_prompt(**values: str) -> prompts.RenderedPrompt:
    return prompts.load("explain_plan").render(examples.EXAMPLES["explain_plan"] | values)


Mode = Literal["json_schema", "json_object"]
