"""The ``llm:`` settings section (:class:`bot.runtime.settings.LLMSettings`): off unless a model
is named, read from the file and from ``BACKOUT_LLM__*`` and ``OPENAI_API_KEY``, its key a
secret, bad values refused by name, and turned into the client's configuration."""

from __future__ import annotations

import pytest

from bot.runtime.settings import Settings, SettingsError, load_settings
from integrations.llm import LLMConfig


@pytest.fixture(autouse=True)
def _no_openai_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_without_a_model_no_model_is_used():
    settings = Settings()
    assert not settings.llm.enabled
    with pytest.raises(ValueError, match=r"no model is configured \(llm.model\)"):
        settings.llm.client_options()


def test_the_section_is_read_from_the_file(tmp_path, monkeypatch):
    config = tmp_path / "backout.yaml"
    config.write_text(
        "llm:\n"
        "  model: qwen2.5\n"
        "  base_url: http://localhost:11434/v1\n"
        "  deadline_seconds: 10\n"
        "  input_price_per_million: 0.5\n"
        "  redact_patterns: ['cust-[0-9]+']\n"
    )
    settings = load_settings({"BACKOUT_CONFIG": str(config)})
    assert settings.llm.enabled
    assert (settings.llm.model, settings.llm.deadline_seconds) == ("qwen2.5", 10.0)
    assert settings.llm.timeout_seconds == 20.0 and settings.llm.breaker_failures == 3


def test_environment_variables_set_it_and_the_key_stays_secret(monkeypatch):
    monkeypatch.setenv("BACKOUT_LLM__MODEL", "gpt-4o-mini")
    monkeypatch.setenv("BACKOUT_LLM__API_KEY", "sk-from-backout-env")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-openai-env")
    settings = Settings()
    assert settings.llm.model == "gpt-4o-mini"
    assert settings.llm.api_key is not None
    assert settings.llm.api_key.get_secret_value() == "sk-from-backout-env"
    assert "sk-from" not in repr(settings) and "sk-from" not in str(settings.model_dump())


def test_openai_api_key_is_the_fallback_key(monkeypatch):
    monkeypatch.setenv("BACKOUT_LLM__MODEL", "gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-openai-env")
    assert Settings().llm.client_options()["api_key"] == "sk-from-openai-env"


def test_it_becomes_the_clients_configuration():
    settings = Settings(llm={"model": "m", "base_url": "http://127.0.0.1:8080/v1", "api_key": "k"})
    config = LLMConfig(**settings.llm.client_options())
    assert (config.model, config.endpoint, config.api_key) == ("m", "http://127.0.0.1:8080/v1", "k")
    assert (config.timeout, config.connect_timeout, config.deadline) == (20.0, 2.0, 30.0)


@pytest.mark.parametrize(
    ("yaml", "where"),
    [
        ("llm:\n  model: m\n  max_tokens: 0\n", "llm.max_tokens"),
        ("llm:\n  base_url: localhost:8080\n", "llm.base_url"),
        ("llm:\n  redact_patterns: ['(unclosed']\n", "llm.redact_patterns"),
        ("llm:\n  modle: m\n", "llm.modle"),
    ],
)
def test_bad_values_are_refused_by_name(tmp_path, yaml, where):
    config = tmp_path / "backout.yaml"
    config.write_text(yaml)
    with pytest.raises(SettingsError, match=where.replace(".", r"\.")):
        load_settings({"BACKOUT_CONFIG": str(config)})
