"""What one model call came to: an :class:`Outcome` and, when it is ``ok``, a validated value.

A refusal, an answer cut at the token limit, a content-filter stop, an answer that does not fit
the schema, an endpoint that is down or slow: each is an outcome the caller handles (by posting
the graph's own explanation), never an exception that could stop a plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel

from integrations.errors import IntegrationError

__all__ = ["FAILURES", "LLMResult", "Outcome", "StructuredMode", "Usage"]

T = TypeVar("T", bound=BaseModel)


class Outcome(StrEnum):
    """How a call ended (the ``outcome`` label of ``backout_llm_calls_total``)."""

    OK = "ok"
    REFUSED = "refused"  # the model declined (message.refusal)
    TRUNCATED = "truncated"  # finish_reason "length": the answer hit max_tokens
    FILTERED = "filtered"  # finish_reason "content_filter"
    INVALID = "invalid"  # malformed JSON, schema-invalid, no content (tool calls)
    UNSUPPORTED = "unsupported"  # the endpoint accepts no structured-output mode
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"  # connection failures, 5xx
    RATE_LIMITED = "rate_limited"
    REJECTED = "rejected"  # 4xx: credentials, unknown model, bad request
    CIRCUIT_OPEN = "circuit_open"  # skipped: the endpoint failed repeatedly
    DEADLINE = "deadline"  # skipped or cut: the plan's time for the model ran out


FAILURES = frozenset({Outcome.TIMEOUT, Outcome.UNAVAILABLE, Outcome.RATE_LIMITED, Outcome.REJECTED})
"""The outcomes that count against the endpoint in the circuit breaker; the others mean it
answered (or was not asked)."""


class StructuredMode(StrEnum):
    """How the answer's shape is asked for, in order of preference."""

    JSON_SCHEMA = "json_schema"  # response_format json_schema, strict (chat.completions.parse)
    JSON_OBJECT = "json_object"  # response_format json_object, the schema in the prompt
    NONE = "none"  # the endpoint refuses both: no model result


@dataclass(frozen=True)
class Usage:
    """Tokens a call used, as the endpoint reported them (0 when it did not)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True)
class LLMResult(Generic[T]):
    """One call's result.

    Attributes:
        outcome: how it ended.
        value: the validated answer; set exactly when ``outcome`` is ``ok``.
        prompt: the prompt's key (``explain_plan.v1``).
        model: the configured model.
        mode: the structured-output mode of the last request (``None`` if none was sent).
        usage: tokens over every request of the call (retries and fallbacks included).
        latency_seconds: from the call to its result.
        cost: from the configured prices, or ``None`` without prices.
        attempts: HTTP requests sent.
        detail: why, in a sentence, when not ``ok`` (redacted; safe to log and show).
        error: the error it would have been, in the ``integrations.errors`` tree.
    """

    outcome: Outcome
    value: T | None
    prompt: str
    model: str
    mode: StructuredMode | None
    usage: Usage
    latency_seconds: float
    cost: float | None
    attempts: int
    detail: str = ""
    error: IntegrationError | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK
