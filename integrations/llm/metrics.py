"""The metrics port of the model client: one :class:`CallRecord` per call, given to a
:class:`CallRecorder`. :class:`PrometheusRecorder` turns them into the ``backout_llm_*`` series
on a registry the bot serves at ``/metrics``; :class:`RecordedCalls` keeps them in a list (tests,
the demo); the client records nothing by default.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["CallRecord", "CallRecorder", "PrometheusRecorder", "RecordedCalls"]


@dataclass(frozen=True)
class CallRecord:
    """What one call cost and how it ended (no prompt text, no answer)."""

    prompt: str
    model: str
    host: str
    outcome: str
    mode: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_seconds: float
    cost: float | None
    attempts: int


class CallRecorder(Protocol):
    """Where the client reports each call; must not raise."""

    def record(self, call: CallRecord) -> None: ...


class RecordedCalls:
    """Keeps every record in ``calls``, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[CallRecord] = []

    def record(self, call: CallRecord) -> None:
        with self._lock:
            self.calls.append(call)


class PrometheusRecorder:
    """Counts calls by prompt and outcome, tokens by model, prompt and direction, cost by model,
    and the latency histogram by prompt, on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "backout_llm_calls_total",
            "Model calls, by prompt and outcome.",
            ["prompt", "outcome"],
            registry=registry,
        )
        self.tokens = Counter(
            "backout_llm_tokens_total",
            "Tokens used, by model, prompt and direction (input or output).",
            ["model", "prompt", "direction"],
            registry=registry,
        )
        self.cost = Counter(
            "backout_llm_cost_total",
            "Cost of the model calls from the configured per-million-token prices.",
            ["model"],
            registry=registry,
        )
        self.latency = Histogram(
            "backout_llm_call_seconds",
            "Time from a model call to its result (retries and fallbacks included).",
            ["prompt"],
            buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0),
            registry=registry,
        )

    def record(self, call: CallRecord) -> None:
        self.calls.labels(call.prompt, call.outcome).inc()
        self.tokens.labels(call.model, call.prompt, "input").inc(call.prompt_tokens)
        self.tokens.labels(call.model, call.prompt, "output").inc(call.completion_tokens)
        if call.cost is not None:
            self.cost.labels(call.model).inc(call.cost)
        self.latency.labels(call.prompt).observe(call.latency_seconds)
