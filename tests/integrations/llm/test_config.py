"""The client's configuration (:class:`integrations.llm.LLMConfig`): defaults from the issue,
bad values refused with one message naming each problem, cost from configured prices only."""

from __future__ import annotations

import pytest

from integrations.errors import ConfigError
from integrations.llm import OPENAI_BASE_URL, LLMConfig


def test_defaults_are_the_issues():
    config = LLMConfig(model="gpt-4o-mini")
    assert (config.timeout, config.connect_timeout, config.max_retries) == (20.0, 2.0, 1)
    assert (config.deadline, config.breaker_failures, config.breaker_cooldown) == (30.0, 3, 300.0)
    assert config.endpoint == OPENAI_BASE_URL and config.host == "api.openai.com"
    assert config.cost(1000, 1000) is None


def test_the_key_never_shows_in_the_repr():
    assert "sk-secret" not in repr(LLMConfig(model="m", api_key="sk-secret-value"))


def test_cost_comes_from_per_million_token_prices():
    config = LLMConfig(model="m", input_price_per_million=0.15, output_price_per_million=0.6)
    assert config.cost(2_000_000, 500_000) == pytest.approx(0.6)


def test_the_host_leaves_credentials_out():
    config = LLMConfig(model="m", base_url="https://user:pw@llm.internal:8443/v1/")
    assert (config.host, config.endpoint) == (
        "llm.internal",
        "https://user:pw@llm.internal:8443/v1",
    )


def test_bad_values_are_refused_together():
    with pytest.raises(ConfigError) as caught:
        LLMConfig(
            model=" ", max_tokens=0, timeout=0, base_url="ftp://x", input_price_per_million=-1
        )
    message = str(caught.value)
    for problem in ("model is empty", "max_tokens", "timeouts", "base_url", "prices"):
        assert problem in message
    assert caught.value.integration == "llm"
