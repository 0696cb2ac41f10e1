"""A fake webhook receiver: the team's own automation at the other end of Backout's webhook
executor, on the loopback base of :mod:`fakes.server`.

It imitates no product. The contract is Backout's own, defined by the sender,
:mod:`integrations.executors.webhook`: a JSON ``POST`` signed with HMAC-SHA256 over the raw body
in ``X-Backout-Signature: sha256=<hex>`` (the scheme GitHub documents for
``X-Hub-Signature-256``, https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries),
with ``X-Backout-Timestamp`` and an ``Idempotency-Key`` header (named after the IETF httpapi
draft "The Idempotency-Key HTTP Header Field"); it is not the Standard Webhooks format
(``webhook-id``/``webhook-signature``). The receiver checks none of this: it records every
delivery's headers and raw bytes so that tests verify the signature themselves, answers
``POST /hook`` with ``status`` (200 unless a test sets another), and answers the executor's state
URL, ``GET /state?key=K``, with ``{"at_target": true}`` once a delivery carried key ``K``.

Failure states: any status set in ``status`` (a permanent 4xx, a retryable 5xx), and one-off
faults from :meth:`WebhookReceiver.fail_next` (any status, optionally after a delay that outlasts
the client's timeout) that record nothing, as if the receiver never saw the request; unknown paths
get 404.
"""

from __future__ import annotations

import threading
from typing import Any

from fakes.server import Faults, Incoming, LoopbackServer, Reply

__all__ = ["WebhookReceiver"]


class WebhookReceiver(LoopbackServer):
    """A loopback webhook endpoint: ``POST /hook`` records and answers ``status``;
    ``GET /state?key=K`` answers ``{"at_target": <K was received>}``."""

    methods = frozenset({"GET", "POST"})

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.state_queries: list[dict[str, str]] = []
        self.status = 200
        self._faults = Faults()
        self._lock = threading.Lock()

    def fail_next(self, status: int, *, delay: float = 0.0) -> None:
        """Answer the next request with ``status`` after ``delay`` seconds, recording nothing."""
        with self._lock:
            self._faults.add(status, body={"error": "injected"}, delay=delay)

    def keys(self) -> list[str]:
        """The ``Idempotency-Key`` of every POST received."""
        return [headers.get("idempotency-key", "") for headers, _ in self.received]

    def _respond(self, request: Incoming) -> Reply:
        with self._lock:
            fault = self._faults.take(request.method, request.path)
            if fault is not None:
                return Reply(fault.status, fault.body, delay=fault.delay)
            if request.method == "POST" and request.path == "/hook":
                self.received.append((request.headers, request.raw))
                return Reply(self.status, {"ok": True})
            if request.method == "GET" and request.path == "/state":
                self.state_queries.append(request.query)
                answer: dict[str, Any] = {"at_target": request.query.get("key") in self.keys()}
                return Reply(200, answer)
            return Reply(404, {"error": "no such path"})
