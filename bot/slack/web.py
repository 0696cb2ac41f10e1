"""The bot's HTTP face: ``POST /slack/events`` for everything Slack sends, plus ``/healthz``,
``/readyz`` and ``/metrics``, and the alert webhooks of :mod:`bot.slack.webhooks`. An ASGI app
served by uvicorn (``backout serve``, which can move ``/metrics`` to an internal port with
:func:`without_metrics` and :func:`metrics_web`; in Socket Mode it serves :func:`probes_web`).

Before Bolt sees a request, it must be signed with the app's signing secret within Slack's
five-minute window and not be a byte-for-byte replay of an earlier one: otherwise 401 and nothing
is processed. A signed body that cannot be parsed (or that Bolt cannot take apart) is a 400.
Bolt's ``dispatch`` runs on a worker thread, so it never blocks the event loop; nothing escapes
as a 500.

Slack's ``ssl_check=1`` probe (a form post it sends to check the certificate of a slash command's
URL) is answered 200 with an empty body before the signature is checked, and nothing else in
that body is read: Bolt does the same, its ``SslCheck`` middleware coming before its
``RequestVerification`` (``slackapi/bolt-python:slack_bolt/app/app.py``,
``_init_middleware_list``). A client that goes away before its body has arrived (or whose body
does not arrive in time, see :mod:`bot.runtime.serve`) is logged in one line and counted as 499
(nginx's "client closed request"), not as a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, parse_qsl

from slack_bolt import App, BoltRequest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.slack.metrics import Metrics
from bot.store import Store

__all__ = [
    "CLIENT_GONE",
    "MAX_BODY_BYTES",
    "METRICS_PATH",
    "build_web",
    "is_signed",
    "metrics_web",
    "probes_web",
    "read_body",
    "without_metrics",
]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
"""Slack's payloads are far smaller; anything bigger is refused (413)."""
_DRAIN_CAP = 16_000_000
"""Past this, an oversized body is no longer read at all: the connection is dropped."""
_WINDOW = 300
"""Slack's replay window: a request signed longer ago (or ahead) than this is refused."""
METRICS_PATH = "/metrics"
CLIENT_GONE = 499
"""The status counted for a request whose client went away before sending it whole (nginx's
"client closed request"); nobody receives it."""


def build_web(
    app: App,
    *,
    store: Store,
    metrics: Metrics,
    services: int,
    signing_secret: str,
    extra_routes: Sequence[Route] = (),
) -> Starlette:
    """The ASGI application around the Bolt app.

    Args:
        app: the Bolt app requests go to once verified.
        store: claims request signatures (replays are refused); readiness asks it.
        metrics: counts requests; served at ``/metrics``.
        services: how many services the topology holds (reported by ``/readyz``).
        signing_secret: the app's signing secret.
        extra_routes: more routes served beside Slack's (the alert webhooks).
    """
    key = signing_secret.encode()
    metrics.watch_outbox(store.conversations.pending_count)
    metrics.watch_jobs(store.jobs.counts)

    async def slack_events(request: Request) -> Response:
        started = time.perf_counter()
        kind = "unknown"
        response: Response | None = None
        try:
            try:
                body = await read_body(request)
            except ClientDisconnect:
                response = _client_gone(request)
                return response
            if body is None:
                response = PlainTextResponse("request body too large", status_code=413)
                return response
            if _is_ssl_check(body, request.headers.get("content-type", "")):
                kind = "ssl_check"
                response = Response(status_code=200)
                return response
            headers: dict[str, str | Sequence[str]] = dict(request.headers)
            if not is_signed(body, request.headers, key=key, now=time.time()):
                response = PlainTextResponse("invalid or stale signature", status_code=401)
                return response
            kind = _kind(body, request.headers.get("content-type", ""))
            # An exact replay is refused. Slack's own event retries are deduplicated by event_id
            # (bot.slack.app), so they skip this check.
            retry = "x-slack-retry-num" in headers and kind == "event_callback"
            signature = request.headers.get("x-slack-signature", "")
            if not retry and not await run_in_threadpool(
                store.handled.claim_event, f"sig:{signature}"
            ):
                response = PlainTextResponse("replayed request", status_code=401)
                return response
            if kind == "malformed":
                response = PlainTextResponse("malformed body", status_code=400)
                return response
            bolt_request = BoltRequest(
                body=body.decode("utf-8"), query=dict(request.query_params), headers=headers
            )
            try:
                bolt_response = await run_in_threadpool(app.dispatch, bolt_request)
            except Exception:  # a body Bolt could not take apart: the request's fault, logged
                ref = uuid.uuid4().hex[:8]
                log.exception("could not dispatch a %s request (ref %s)", kind, ref)
                response = PlainTextResponse(f"unprocessable request (ref {ref})", 400)
                return response
            response = Response(
                content=bolt_response.body,
                status_code=bolt_response.status,
                headers=bolt_response.first_headers_without_set_cookie(),
            )
            return response
        finally:
            status = response.status_code if response is not None else 500
            metrics.requests.labels(kind=kind, status=str(status)).inc()
            metrics.ack_seconds.labels(kind=kind).observe(time.perf_counter() - started)

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            *_probe_routes(store, services),
            _metrics_route(metrics),
            *extra_routes,
        ],
        exception_handlers={ClientDisconnect: _client_disconnected},
    )


def probes_web(*, store: Store, metrics: Metrics, services: int) -> Starlette:
    """Only ``/healthz``, ``/readyz`` and ``/metrics``: what ``backout serve --socket-mode``
    serves, where Slack's traffic comes over the WebSocket and no ``/slack/events`` exists."""
    metrics.watch_outbox(store.conversations.pending_count)
    metrics.watch_jobs(store.jobs.counts)
    return Starlette(routes=[*_probe_routes(store, services), _metrics_route(metrics)])


def _probe_routes(store: Store, services: int) -> list[Route]:
    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        try:
            await run_in_threadpool(store.plans.recent, limit=1)
        except Exception as exc:  # readiness reports any failure of the database as not ready
            log.warning("not ready: %s", exc)
            return JSONResponse({"ready": False, "database": "unreachable"}, status_code=503)
        return JSONResponse({"ready": True, "services": services})

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]


def metrics_web(metrics: Metrics) -> Starlette:
    """An app serving only ``/metrics``, for an internal port."""
    return Starlette(routes=[_metrics_route(metrics)])


def without_metrics(web: Starlette) -> Starlette:
    """``web`` without its ``/metrics`` route (served on an internal port instead)."""
    routes = [r for r in web.routes if not (isinstance(r, Route) and r.path == METRICS_PATH)]
    return Starlette(routes=routes, exception_handlers=web.exception_handlers)


def _metrics_route(metrics: Metrics) -> Route:
    async def metrics_page(_: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    return Route(METRICS_PATH, metrics_page, methods=["GET"])


def _client_gone(request: Request) -> Response:
    """Log, in one line, a client that went away mid-request; the response is never sent."""
    client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
    log.info("%s went away before its %s request arrived whole", client, request.url.path)
    return Response(status_code=CLIENT_GONE)


async def _client_disconnected(request: Request, _: Exception) -> Response:
    """The same, for the routes beside Slack's (the webhooks read their bodies too)."""
    return _client_gone(request)


async def read_body(
    request: Request, *, limit: int = MAX_BODY_BYTES, drain_cap: int = _DRAIN_CAP
) -> bytes | None:
    """The body, or None when it is over ``limit`` (read and dropped up to ``drain_cap``, so the
    client gets the 413 instead of a reset connection)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > drain_cap:
            break
        if size <= limit:
            chunks.append(chunk)
    return b"".join(chunks) if size <= limit else None


def is_signed(body: bytes, headers: Mapping[str, str], *, key: bytes, now: float) -> bool:
    """Slack's v0 signature over ``v0:timestamp:body``, within the five-minute window.

    Any malformed header (missing, not a number, another scheme) is simply not signed.
    """
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not timestamp.isdigit() or len(timestamp) > 12 or abs(now - int(timestamp)) > _WINDOW:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(key, base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def _is_ssl_check(body: bytes, content_type: str) -> bool:
    """Slack's certificate probe, recognised as Bolt's ``SslCheck`` does: a form (not JSON, no
    ``payload``) whose ``ssl_check`` is ``1``, the last value winning (``parse_body``)."""
    if content_type.startswith("application/json") or body.startswith(b"{") or b"payload" in body:
        return False
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return False
    return form.get("ssl_check") == "1"


def _interaction_ok(payload: Mapping[str, object]) -> bool:
    """A button click must say who clicked what."""
    if payload.get("type") != "block_actions":
        return True
    user, actions = payload.get("user"), payload.get("actions")
    return (
        isinstance(user, dict)
        and isinstance(user.get("id"), str)
        and isinstance(actions, list)
        and bool(actions)
        and all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions)
    )


def _kind(body: bytes, content_type: str) -> str:
    """What Slack sent (``command``, ``block_actions``, ``event_callback``…), or ``malformed``."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            data = json.loads(text)
            return str(data.get("type", "unknown")) if isinstance(data, dict) else "malformed"
        form = parse_qs(text, strict_parsing=bool(text))
        if "payload" in form:
            payload = json.loads(form["payload"][0])
            if not isinstance(payload, dict) or not _interaction_ok(payload):
                return "malformed"
            return str(payload.get("type", "unknown"))
        if "command" in form:
            return "command"
        return "malformed"
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: absurd nesting
        return "malformed"
