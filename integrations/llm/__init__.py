"""The LLM adapter (``integrations.llm``): a client for any OpenAI-compatible endpoint that asks
for structured output only and turns every way a model can fail into an outcome.

* :class:`OpenAIChatClient` (:mod:`.client`) sends a rendered prompt and returns an
  :class:`LLMResult` (:mod:`.outcome`).
* :class:`LLMConfig` (:mod:`.config`): the endpoint, model, limits and prices.
* :class:`Deadline` and :class:`CircuitBreaker` (:mod:`.breaker`); :class:`ModeMemory`
  (:mod:`.modes`) remembers which structured-output mode each endpoint accepts.
* :class:`CallRecorder` and :class:`PrometheusRecorder` (:mod:`.metrics`): per-call tokens,
  latency, cost and outcome.

Like every adapter it shares only ``integrations.errors`` with the others. What the model says
is a proposal: the planner's guard decides what of it survives.
"""

from __future__ import annotations

from integrations.llm.breaker import BreakerState, CircuitBreaker, Deadline
from integrations.llm.client import OpenAIChatClient
from integrations.llm.config import OPENAI_BASE_URL, LLMConfig
from integrations.llm.errors import (
    DeadlineExceededError,
    ModelRequestError,
    StructuredOutputUnsupportedError,
)
from integrations.llm.metrics import CallRecord, CallRecorder, PrometheusRecorder, RecordedCalls
from integrations.llm.modes import ModeMemory
from integrations.llm.outcome import FAILURES, LLMResult, Outcome, StructuredMode, Usage

__all__ = [
    "FAILURES",
    "OPENAI_BASE_URL",
    "BreakerState",
    "CallRecord",
    "CallRecorder",
    "CircuitBreaker",
    "Deadline",
    "DeadlineExceededError",
    "LLMConfig",
    "LLMResult",
    "ModeMemory",
    "ModelRequestError",
    "OpenAIChatClient",
    "Outcome",
    "PrometheusRecorder",
    "RecordedCalls",
    "StructuredMode",
    "StructuredOutputUnsupportedError",
    "Usage",
]
