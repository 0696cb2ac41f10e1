"""The bot's own metrics, served at ``/metrics`` in Prometheus' text format.

One :class:`Metrics` per running bot (its own registry, no process-global state), so tests and
replicas in one process do not mix counts.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]


class Metrics:
    """Counters and histograms of the Slack requests the bot answers, and the outbox's size."""

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

        self.outbox_pending = Gauge(
            "backout_outbox_pending",
            "Slack calls waiting in the outbox to be sent (again).",
            registry=self.registry,
        )

    def watch_outbox(self, pending: Callable[[], int]) -> None:
        """Read the outbox's size from ``pending`` each time the metrics are scraped."""
        self.outbox_pending.set_function(pending)

    def render(self) -> bytes:
        """Everything, in the text exposition format."""
        return generate_latest(self.registry)
