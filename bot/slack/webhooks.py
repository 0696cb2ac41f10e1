"""Alert webhooks on the bot's HTTP server: ``POST /webhooks/alertmanager``, for teams that point
Alertmanager's webhook receiver at Backout instead of (or beside) its Slack receiver.

The inbound edge next to ``/slack/events`` (:mod:`bot.slack.web` mounts these routes): the request
must carry the shared secret (``Authorization: Bearer <secret>``, as Alertmanager's
``http_config.authorization`` sends it, or ``X-Backout-Token``, or ``?token=`` in the URL),
else 401. A body over the limit is 413; a body that is not an Alertmanager payload (truncated
JSON, an HTML error page, absurd nesting, wrong fields) is 400 with the reason; nothing escapes
as a 500. The alerts (:func:`integrations.alerts.parse_alerts`, identified by Alertmanager's
fingerprints) go to :meth:`bot.core.usecases.Planning.alerts_posted` with the configured incident
channel: a firing alert already in an open incident there adds nothing, a new one gets a plan
posted in the channel, a resolved one closes its incident and brings the summary.

Reference: Alertmanager's webhook receiver sends the version 4 JSON body documented at
https://prometheus.io/docs/alerting/latest/configuration/#webhook_config (the shape of
``../shared/fixtures/alertmanager.json``).
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.core.usecases import Planning
from bot.slack.web import read_body
from integrations.alerts import AlertFormatError, detect_format, parse_alerts
from planners.model import Alert

__all__ = ["webhook_routes"]

log = logging.getLogger(__name__)

_DRAIN_CAP_FACTOR = 4
"""An oversized body is read (and dropped) up to this many times the limit, so the sender gets
the 413; past that the connection is dropped."""


def webhook_routes(
    *,
    planning: Planning,
    secret: str | None,
    channel: str | None,
    service_labels: Sequence[str],
    max_body_bytes: int = 5_000_000,
) -> list[Route]:
    """The webhook routes; each answers 404 while no ``secret`` and ``channel`` are set.

    Args:
        planning: where the alerts go.
        secret: the shared secret senders present.
        channel: the incident channel id where webhook-opened incidents post their plans.
        service_labels: the labels naming an alert's service, first present wins.
        max_body_bytes: the body size limit (413 above it).
    """
    key = secret.encode() if secret else None
    labels = tuple(service_labels)

    async def alertmanager(request: Request) -> Response:
        if key is None or not channel:
            return PlainTextResponse(
                "webhooks are not configured (set webhooks.secret and webhooks.incident_channel)",
                status_code=404,
            )
        if not _authorised(request, key):
            return PlainTextResponse(
                "missing or wrong webhook secret (Authorization: Bearer <secret>, "
                "X-Backout-Token, or ?token=)",
                status_code=401,
            )
        body = await read_body(
            request, limit=max_body_bytes, drain_cap=max_body_bytes * _DRAIN_CAP_FACTOR
        )
        if body is None:
            return PlainTextResponse(
                f"request body too large (limit {max_body_bytes} bytes)", status_code=413
            )
        alerts, problem = _alertmanager_alerts(body, labels)
        if problem:
            return PlainTextResponse(problem, status_code=400)
        try:
            plan_id = await run_in_threadpool(
                planning.alerts_posted, alerts, channel=channel, ts=None
            )
        except Exception:  # the job wrapper: logged with a reference, never a 500 page
            ref = uuid.uuid4().hex[:8]
            log.exception("alertmanager webhook could not be handled (ref %s)", ref)
            return PlainTextResponse(
                f"accepted but not processed (ref {ref}); see the bot's log", status_code=503
            )
        return JSONResponse({"alerts": len(alerts), "plan": plan_id}, status_code=200)

    return [Route("/webhooks/alertmanager", alertmanager, methods=["POST"])]


def _authorised(request: Request, key: bytes) -> bool:
    """The shared secret, from the first place that carries one, compared in constant time."""
    offered = ""
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        offered = credentials.strip()
    else:
        offered = request.headers.get("x-backout-token", "") or request.query_params.get(
            "token", ""
        )
    return bool(offered) and hmac.compare_digest(offered.encode("utf-8", "replace"), key)


def _alertmanager_alerts(body: bytes, labels: Sequence[str]) -> tuple[list[Alert], str]:
    """The alerts of an Alertmanager body, or ``([], reason)`` saying why it cannot be read."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return [], "body is not UTF-8 text: Alertmanager sends JSON"
    stripped = text.lstrip()
    if not stripped:
        return [], "empty body: expected Alertmanager's webhook JSON"
    if stripped.startswith("<"):
        return [], "body is an HTML or XML page, not JSON: is a proxy answering for the sender?"
    try:
        payload = json.loads(text)
    except RecursionError:
        return [], "JSON nested too deeply to be an Alertmanager payload"
    except ValueError as exc:
        return [], f"malformed JSON (truncated?): {exc}"
    try:
        if detect_format(payload) != "alertmanager":
            return [], "not an Alertmanager payload (this route takes Alertmanager's webhook)"
        return parse_alerts(payload, service_labels=labels), ""
    except AlertFormatError as exc:
        return [], str(exc)
    except RecursionError:
        return [], "JSON nested too deeply to be an Alertmanager payload"
