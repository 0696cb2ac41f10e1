"""Translation of the ``openai`` package's exceptions into an :class:`Outcome` and an error of
the ``integrations.errors`` tree, and recognition of an endpoint refusing a structured-output
mode (which is a reason to fall back, not a failure, and never retried).

What the SDK raises was read in openai 3.57's ``_exceptions.py`` and ``_base_client.py``: status
errors carry the ``httpx2.Response``; ``APITimeoutError`` is an ``APIConnectionError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import openai

from integrations.errors import (
    IntegrationError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
)
from integrations.llm.errors import ModelRequestError, StructuredOutputUnsupportedError
from integrations.llm.outcome import Outcome
from prompts import Redactor

__all__ = ["Failure", "refuses_format", "translate"]

INTEGRATION = "llm"

# llama.cpp's server: 'response_format type must be one of "text" or "json_object", but got:
# json_schema' (ggml-org/llama.cpp#9522); pydantic-based servers: "Input should be 'text' or
# 'json_object'". OpenAI: "Invalid parameter: 'response_format' of type 'json_schema' is not
# supported with this model."
_FORMAT_REFUSALS = (
    re.compile(r"""["']text["'] or ["']json_object["']"""),
    re.compile(r"response_format.{0,80}(?:not supported|unsupported|must be one of)", re.I),
    re.compile(r"(?:json_schema|json_object).{0,40}(?:not supported|unsupported)", re.I),
)


@dataclass(frozen=True)
class Failure:
    """A failed request: its outcome, its error, whether to retry, the server's wait hint."""

    outcome: Outcome
    error: IntegrationError
    retryable: bool
    retry_after: float | None = None


def refuses_format(exc: openai.APIStatusError) -> bool:
    """Whether this status error says the endpoint does not accept the ``response_format``."""
    if exc.status_code not in (400, 422, 500, 501):
        return False
    text = _body_text(exc)
    return any(pattern.search(text) for pattern in _FORMAT_REFUSALS)


def translate(exc: openai.OpenAIError, *, redact: Redactor) -> Failure:
    """The outcome and error for an exception of the SDK's request machinery."""
    if isinstance(exc, openai.APITimeoutError):
        return Failure(Outcome.TIMEOUT, _err(UnavailableError, "the model timed out"), True)
    if isinstance(exc, openai.APIConnectionError):
        message = f"cannot reach the model: {exc.__cause__ or exc}"
        return Failure(Outcome.UNAVAILABLE, _err(UnavailableError, redact(message)), True)
    if not isinstance(exc, openai.APIStatusError):
        return Failure(Outcome.REJECTED, _err(ModelRequestError, redact(str(exc))), False)
    status, text = exc.status_code, redact(_body_text(exc))[:300]
    message = f"the model endpoint answered HTTP {status}" + (f": {text}" if text else "")
    if refuses_format(exc):
        return Failure(Outcome.UNSUPPORTED, _err(StructuredOutputUnsupportedError, message), False)
    if status == 429:
        wait = _retry_after(exc)
        error = RateLimitedError(message, integration=INTEGRATION, retry_after=wait)
        return Failure(Outcome.RATE_LIMITED, error, True, wait)
    if status in (401, 403):
        return Failure(Outcome.REJECTED, _err(UnauthorizedError, message), False)
    if status == 404:
        return Failure(Outcome.REJECTED, _err(NotFoundError, message), False)
    if status >= 500 or status in (408, 409):
        wait = _retry_after(exc)
        down = UnavailableError(message, integration=INTEGRATION, retry_after=wait)
        return Failure(Outcome.UNAVAILABLE, down, True, wait)
    return Failure(Outcome.REJECTED, _err(ModelRequestError, message), False)


def _err(kind: type[IntegrationError], message: str) -> IntegrationError:
    return kind(message, integration=INTEGRATION)


def _body_text(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)
    return exc.response.text if body is None else str(body)


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            continue  # an HTTP date: rare from model servers; the default backoff applies
        if seconds >= 0:
            return seconds
    return None
