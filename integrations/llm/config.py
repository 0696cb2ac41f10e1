"""The model client's configuration, as plain values (the bot's ``llm:`` settings section is
turned into one of these by the composition root; no adapter reads the environment)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from integrations.errors import ConfigError

__all__ = ["OPENAI_BASE_URL", "LLMConfig"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
"""Where the requests go when no ``base_url`` is configured."""


@dataclass(frozen=True, kw_only=True)
class LLMConfig:
    """How to reach one OpenAI-compatible endpoint and how far to trust it.

    Attributes:
        model: the model name the endpoint knows.
        base_url: the API root (``…/v1``); OpenAI's when ``None``.
        api_key: sent as a bearer token; local servers ignore it.
        timeout: seconds for one request (read and write), at most.
        connect_timeout: seconds to connect, at most.
        max_retries: further attempts after a temporary failure (timeouts, 429, 5xx).
        max_tokens: the answer's token limit, sent on every call.
        token_limit_field: ``max_tokens`` (most servers) or ``max_completion_tokens`` (OpenAI's
            reasoning models refuse ``max_tokens``).
        temperature: sent when not ``None``.
        deadline: seconds a whole plan may spend on the model (all its calls together).
        breaker_failures: consecutive failures after which the model is skipped…
        breaker_cooldown: …for this many seconds.
        input_price_per_million: price of a million prompt tokens (any currency), or ``None``.
        output_price_per_million: price of a million completion tokens, or ``None``.
        redact_patterns: regular expressions of secrets beyond the built-in ones.
    """

    model: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 20.0
    connect_timeout: float = 2.0
    max_retries: int = 1
    max_tokens: int = 1024
    token_limit_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"  # noqa: S105 (a field name, not a password)
    temperature: float | None = 0.0
    deadline: float = 30.0
    breaker_failures: int = 3
    breaker_cooldown: float = 300.0
    input_price_per_million: float | None = None
    output_price_per_million: float | None = None
    redact_patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = [
            message
            for bad, message in (
                (not self.model.strip(), "model is empty"),
                (self.timeout <= 0 or self.connect_timeout <= 0, "timeouts must be positive"),
                (self.deadline <= 0, "deadline must be positive"),
                (not 0 <= self.max_retries <= 5, "max_retries must be 0 to 5"),
                (self.max_tokens < 1, "max_tokens must be at least 1"),
                (self.breaker_failures < 1, "breaker_failures must be at least 1"),
                (self.breaker_cooldown < 0, "breaker_cooldown must not be negative"),
                (
                    any(
                        p is not None and p < 0
                        for p in (self.input_price_per_million, self.output_price_per_million)
                    ),
                    "prices must not be negative",
                ),
                (self.base_url is not None and not _is_http(self.base_url), "base_url is no URL"),
            )
            if bad
        ]
        if problems:
            raise ConfigError(f"llm settings: {'; '.join(problems)}", integration="llm")

    @property
    def endpoint(self) -> str:
        """The API root without a trailing slash: what remembers which output mode works."""
        return (self.base_url or OPENAI_BASE_URL).rstrip("/")

    @property
    def host(self) -> str:
        """The endpoint's host (for labels and cache keys; never its credentials)."""
        return urlsplit(self.endpoint).hostname or ""

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """The price of a call, or ``None`` when no price is configured."""
        if self.input_price_per_million is None and self.output_price_per_million is None:
            return None
        return (
            prompt_tokens * (self.input_price_per_million or 0.0)
            + completion_tokens * (self.output_price_per_million or 0.0)
        ) / 1_000_000


def _is_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)
