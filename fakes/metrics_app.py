"""A tiny service for a real Prometheus to scrape, whose error rate the test controls.

The stand-in for "the service we just rolled back" in the health tests and the demo, on the
loopback base of :mod:`fakes.server` (bound at construction, so the port is known before it
serves). ``/metrics`` serves the Prometheus text exposition format
(https://prometheus.io/docs/instrumenting/exposition_formats/, ``text/plain; version=0.0.4``) with
two counters per service, ``app_requests_total{service=...}`` and ``app_errors_total{service=...}``;
each scrape advances them by ``requests_per_scrape`` and ``ratio * requests_per_scrape``, so
``rate(errors) / rate(requests)`` over any window equals the ratio set with
:meth:`HealthApp.set_error_ratio`. ``/healthz`` answers the status set with
:meth:`HealthApp.set_healthz`, after an optional stall (to make a probe time out).

Failure states: an error ratio up to 1, counters that stand still (``requests_per_scrape=0``: the
ratio is NaN), any ``/healthz`` status, a ``/healthz`` that stalls past a probe's timeout, 404
elsewhere and 501 for methods other than GET.
"""

from __future__ import annotations

import threading
from http import HTTPStatus

from fakes.server import Incoming, LoopbackServer, Reply

__all__ = ["METRICS_CONTENT_TYPE", "HealthApp"]

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HealthApp(LoopbackServer):
    """The test app; use ``with HealthApp() as app:`` and point Prometheus at ``app.port``."""

    methods = frozenset({"GET"})

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._services: dict[str, _Counters] = {}
        self._healthz_status = 200
        self._healthz_stall = 0.0
        self._scrapes = 0
        self._released = threading.Event()
        self._bind()  # the port is known before the app serves

    @property
    def scrapes(self) -> int:
        """How many times ``/metrics`` has been served."""
        with self._lock:
            return self._scrapes

    def set_error_ratio(
        self, service: str, ratio: float, *, requests_per_scrape: float = 100.0
    ) -> None:
        """From the next scrape on, ``service`` fails ``ratio`` of its requests.

        Args:
            service: the ``service`` label; it appears on ``/metrics`` from now on.
            ratio: between 0 and 1.
            requests_per_scrape: how far ``app_requests_total`` advances per scrape; 0 makes
                both counters stand still (their rates are 0, and the ratio is NaN).
        """
        if not 0 <= ratio <= 1:
            raise ValueError(f"ratio must be between 0 and 1, got {ratio}")
        if requests_per_scrape < 0:
            raise ValueError(f"requests_per_scrape must not be negative, got {requests_per_scrape}")
        with self._lock:
            counters = self._services.setdefault(service, _Counters())
            counters.ratio = ratio
            counters.per_scrape = requests_per_scrape

    def set_healthz(self, status: int, *, stall: float = 0.0) -> None:
        """``/healthz`` answers ``status``, after waiting ``stall`` seconds (cut short on exit)."""
        with self._lock:
            self._healthz_status = status
            self._healthz_stall = stall

    def stop(self) -> None:
        """Cut stalled ``/healthz`` answers short, then stop serving."""
        self._released.set()
        super().stop()

    def _respond(self, request: Incoming) -> Reply:
        path = request.target.split("?", 1)[0]
        if path == "/metrics":
            return Reply(200, self._scrape(), content_type=METRICS_CONTENT_TYPE)
        if path == "/healthz":
            status = self._healthz()
            return Reply(status, HTTPStatus(status).phrase + "\n", content_type="text/plain")
        return Reply(404, "not found\n", content_type="text/plain")

    def _scrape(self) -> str:
        with self._lock:
            self._scrapes += 1
            for counters in self._services.values():
                counters.requests += counters.per_scrape
                counters.errors += counters.per_scrape * counters.ratio
            services = sorted(self._services.items())
        lines: list[str] = []
        for metric, help_text, field in (
            ("app_requests_total", "Requests served.", "requests"),
            ("app_errors_total", "Requests that failed.", "errors"),
        ):
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
            lines += [
                f'{metric}{{service="{_escape(name)}"}} {getattr(counters, field)!r}'
                for name, counters in services
            ]
        return "\n".join(lines) + "\n"

    def _healthz(self) -> int:
        with self._lock:
            status, stall = self._healthz_status, self._healthz_stall
        if stall > 0:
            self._released.wait(stall)
        return status


class _Counters:
    def __init__(self) -> None:
        self.requests = 0.0
        self.errors = 0.0
        self.ratio = 0.0
        self.per_scrape = 100.0


def _escape(value: str) -> str:
    """A label value in the text format: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
