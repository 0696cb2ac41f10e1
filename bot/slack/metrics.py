"""The bot's own metrics, served at ``/metrics`` in Prometheus' text format.

One :class:`Metrics` per running bot (its own registry, no process-global state), so tests and
replicas in one process do not mix counts. The outbox's size and the jobs by status are read from
the store each time ``/metrics`` is scraped. The model client's calls are counted on the same
registry (:class:`integrations.llm.PrometheusRecorder`), and so are the model-answer cache's
results (:class:`LLMCacheCounter`, the cache's :class:`bot.core.llm_cache.CacheRecorder`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["LLMCacheCounter", "Metrics"]


class Metrics:
    """Counters and histograms of the Slack requests the bot answers, the model-answer cache's
    results, the outbox's size and the jobs by status."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "backout_slack_requests_total",
            "Slack requests received, by kind and HTTP status.",
            ["kind", "status"],
            registry=self.registry,
        )
        self.ack_seconds = Histogram(
            "backout_slack_ack_seconds",
            "Time from receiving a Slack request to answering it.",
            ["kind"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0),
            registry=self.registry,
        )
        self.llm_cache = LLMCacheCounter(self.registry)

        self.outbox_pending = Gauge(
            "backout_outbox_pending",
            "Slack calls waiting in the outbox to be sent (again).",
            registry=self.registry,
        )

        self._jobs = _JobsCollector()
        self.registry.register(self._jobs)

    def watch_outbox(self, pending: Callable[[], int]) -> None:
        """Read the outbox's size from ``pending`` each time the metrics are scraped."""
        self.outbox_pending.set_function(pending)

    def watch_jobs(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Read how many jobs are in each status from ``counts`` each time the metrics are
        scraped (``backout_jobs{status=…}``)."""
        self._jobs.counts = counts

    def render(self) -> bytes:
        """Everything, in the text exposition format."""
        return generate_latest(self.registry)


class LLMCacheCounter:
    """``backout_llm_cache_total{prompt, result}``: the model-answer cache's calls by prompt and
    result (``hit``, ``miss``, ``failure_hit``, ``error``; :mod:`bot.core.llm_cache`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._counter = Counter(
            "backout_llm_cache_total",
            "Model answers asked of the cache, by prompt and result "
            "(hit, miss, failure_hit: a stored failure served, error: the database failed).",
            ["prompt", "result"],
            registry=registry,
        )

    def record(self, *, prompt: str, result: str) -> None:
        """Count one call's result."""
        self._counter.labels(prompt, result).inc()


class _JobsCollector(Collector):
    """``backout_jobs{status=…}``, read when scraped from the function :meth:`Metrics.watch_jobs`
    was given (nothing before)."""

    def __init__(self) -> None:
        self.counts: Callable[[], Mapping[str, int]] | None = None

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        if self.counts is not None:
            for status, count in sorted(self.counts().items()):
                family.add_metric([str(status)], count)
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "backout_jobs",
            "Jobs (due work stored as rows) by status; failed ones are kept.",
            labels=["status"],
        )
