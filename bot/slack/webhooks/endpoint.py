"""The way every webhook request goes, whatever its sender: one pipeline, so no route repeats it.

A :class:`Hook` says what a route needs (its settings, how its sender authenticates, how its body
is handled); :func:`route` turns it into a Starlette route that answers, in this order: 404 while
its settings are missing (naming them), 413 for a body over the limit, 401 when the sender is not
authenticated, 400 with the reason for a body it cannot take (:mod:`.bodies`, or the handler's
:class:`Rejected`), else the handler's :class:`Answer`. The handler runs on a worker thread (the
use cases are synchronous); an unexpected exception there is logged with a short reference and
answered 503, never a 500 page.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.slack.web import read_body
from bot.slack.webhooks.auth import Authenticator
from bot.slack.webhooks.bodies import NESTED_TOO_DEEPLY, Rejected, decode_json

__all__ = ["Answer", "Delivery", "Handler", "Hook", "route"]

log = logging.getLogger(__name__)

_DRAIN_CAP_FACTOR = 4
"""An oversized body is read (and dropped) up to this many times the limit, so the sender gets
the 413; past that the connection is dropped."""
_CLIENT_GONE = 499
"""Logged for a sender that went away mid-body (nginx's "client closed request"); nobody reads
the answer."""


@dataclass(frozen=True)
class Delivery:
    """An authenticated request's decoded JSON body and its headers (lower-case names)."""

    payload: object
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Answer:
    """What the sender is told: a status and a JSON body."""

    status: int
    body: Mapping[str, object]


Handler = Callable[[Delivery], Answer]
"""Handles a delivery on a worker thread; raises :class:`Rejected` for a body it cannot take."""


@dataclass(frozen=True, kw_only=True)
class Hook:
    """One webhook route.

    Attributes:
        path: where senders post.
        sender: who sends it, as the reasons for a bad body name it (``"Grafana"``).
        handle: what is done with an authenticated, decoded body.
        auth: how the sender is authenticated; None while its secret is not set.
        missing: the settings still to set before the route works (it answers 404 naming them).
        json_hint: said after "malformed JSON" (how to fix the sender's template).
        methods: the HTTP methods it accepts.
    """

    path: str
    sender: str
    handle: Handler
    auth: Authenticator | None
    missing: tuple[str, ...] = ()
    json_hint: str = ""
    methods: tuple[str, ...] = ("POST",)


def route(hook: Hook, *, max_body_bytes: int) -> Route:
    """The Starlette route serving ``hook`` (see the module docstring for its answers)."""

    async def endpoint(request: Request) -> Response:
        if hook.missing or hook.auth is None:
            settings = " and ".join(hook.missing) or "its secret"
            return PlainTextResponse(
                f"{hook.path} is not configured (set {settings})", status_code=404
            )
        try:
            body = await read_body(
                request, limit=max_body_bytes, drain_cap=max_body_bytes * _DRAIN_CAP_FACTOR
            )
        except ClientDisconnect:
            log.info("webhook %s: the sender went away before its body arrived", hook.path)
            return Response(status_code=_CLIENT_GONE)
        if body is None:
            return PlainTextResponse(
                f"request body too large (limit {max_body_bytes} bytes)", status_code=413
            )
        if not hook.auth.accepts(request, body):
            return PlainTextResponse(hook.auth.hint, status_code=401)
        try:
            payload = decode_json(body, sender=hook.sender, hint=hook.json_hint)
            delivery = Delivery(payload, dict(request.headers))
            answer = await run_in_threadpool(hook.handle, delivery)
        except Rejected as exc:
            return PlainTextResponse(str(exc), status_code=400)
        except RecursionError:
            return PlainTextResponse(NESTED_TOO_DEEPLY, status_code=400)
        except Exception:  # the request's last resort: logged with a reference, never a 500 page
            ref = uuid.uuid4().hex[:8]
            log.exception("webhook %s could not be handled (ref %s)", hook.path, ref)
            return PlainTextResponse(
                f"accepted but not processed (ref {ref}); see the bot's log", status_code=503
            )
        return JSONResponse(dict(answer.body), status_code=answer.status)

    return Route(hook.path, endpoint, methods=list(hook.methods))
