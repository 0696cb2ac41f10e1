"""The metrics port (:mod:`integrations.llm.metrics`): the Prometheus recorder counts calls by
outcome, tokens by model, prompt and direction, cost, and latency, on the registry it is given."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from fakes.openai import refusal, reply
from integrations.llm import LLMConfig, OpenAIChatClient, PrometheusRecorder
from tests.integrations.llm.conftest import GOOD, PlanExplanation, explain_prompt


def test_calls_tokens_cost_and_latency_reach_the_registry(fake, clock):
    registry = CollectorRegistry()
    config = LLMConfig(
        model="fake-model",
        base_url=fake.base_url,
        api_key="sk-test-key-for-the-fake-000000",
        input_price_per_million=1.0,
        output_price_per_million=4.0,
    )
    fake.enqueue(reply(GOOD), refusal())
    with OpenAIChatClient(config=config, recorder=PrometheusRecorder(registry)) as client:
        ok = client.structured(explain_prompt(), PlanExplanation)
        refused = client.structured(explain_prompt(), PlanExplanation)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    prompt = {"prompt": "explain_plan.v1"}
    assert value("backout_llm_calls_total", outcome="ok", **prompt) == 1.0
    assert value("backout_llm_calls_total", outcome="refused", **prompt) == 1.0
    tokens = {"model": "fake-model", **prompt}
    sent = ok.usage.prompt_tokens + refused.usage.prompt_tokens
    assert value("backout_llm_tokens_total", direction="input", **tokens) == sent
    received = ok.usage.completion_tokens + refused.usage.completion_tokens
    assert value("backout_llm_tokens_total", direction="output", **tokens) == received
    assert (
        value("backout_llm_cost_total", model="fake-model") == (sent * 1.0 + received * 4.0) / 1e6
    )
    assert value("backout_llm_call_seconds_count", **prompt) == 2.0
