"""Slack's incoming webhooks, and the Events API deliveries of what they post, for the fake Slack
(:mod:`fakes.slack`): what an alerting tool such as Alertmanager's ``slack_configs`` talks to,
and how its message then reaches the bot.

Incoming webhooks, as Slack documents them (https://api.slack.com/messaging/webhooks): a webhook
is a secret URL, ``https://hooks.slack.com/services/T…/B…/<secret>``, that takes a ``POST`` of a
JSON message (``text``, ``blocks``, legacy ``attachments``; a form field ``payload=<json>`` is
read too) and posts it in the channel chosen when the webhook was created. It answers ``200`` with
the text ``ok``. Failures are plain-text error names with an HTTP status
(https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks):
``400 invalid_payload`` for a body that is not a JSON message, ``404 channel_not_found`` for a
channel that does not exist, and, from the current webhook docs (not re-checked against Slack),
``404 no_service`` for an unknown URL and ``400 no_text`` for a message with nothing to show. An
app's webhook cannot change its channel or its author at runtime; a legacy custom-integration
webhook may set ``username``, ``icon_emoji`` and ``icon_url``
(https://api.slack.com/legacy/custom-integrations/messaging/webhooks), which the fake honours for
a webhook made without an ``app_id``. The fake never moves a message to another channel (legacy
webhooks could; Backout never relies on it).

The posted message is a ``bot_message`` (https://api.slack.com/events/message/bot_message):
``subtype: bot_message``, the webhook's ``bot_id``, ``username`` and ``icons`` when set, the
content as sent; an app's webhook adds ``app_id`` and ``bot_profile``, as messages of current
Slack apps carry them.

Events API deliveries (https://api.slack.com/apis/events-api): after
:meth:`IncomingWebhooks.subscribe` (the app's Request URL and signing secret), every message a
webhook posts is sent there as a signed ``event_callback`` (:mod:`fakes.signing`), from one
background thread in posting order, as Slack would deliver ``message.channels``. Each answer is
recorded as a :class:`Delivery`. Slack retries a failed delivery up to three times; the fake
records the failure and does not retry. Messages posted through the Web API (the bot's own) are
not delivered back.
"""

from __future__ import annotations

import json
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx

from fakes.server import JSON, Incoming, Reply
from fakes.signing import event_callback
from fakes.slack_blocks import SlackError
from fakes.slack_workspace import Workspace

__all__ = ["Delivery", "IncomingWebhook", "IncomingWebhooks"]

_TEXT = "text/html"  # Slack answers webhooks with a bare word ("ok", "no_text")
_STATUS = {"channel_not_found": 404, "channel_is_archived": 410}
_DELIVERY_TIMEOUT = 10.0


@dataclass(frozen=True)
class IncomingWebhook:
    """One incoming webhook: its secret ``url``, the ``channel`` it posts in, the ``bot_id`` its
    messages carry, its ``name`` (the default author) and its app (``None``: a legacy custom
    integration, which may set its author per message)."""

    url: str
    channel: str
    bot_id: str
    name: str
    app_id: str | None = None


@dataclass(frozen=True)
class Delivery:
    """One Events API delivery: the event sent, and the bot's HTTP status (``None`` with
    ``error`` when the request failed)."""

    event: dict[str, Any]
    status: int | None
    error: str | None = None


class IncomingWebhooks:
    """The incoming webhooks of one fake workspace, and the deliveries of what they post.

    Args:
        workspace: where the messages are posted.
        base_url: the fake's ``base_url`` (read when a webhook is created).
        team_id: the workspace id, the first part of a webhook's path.
    """

    def __init__(self, *, workspace: Workspace, base_url: Callable[[], str], team_id: str) -> None:
        self._workspace = workspace
        self._base_url = base_url
        self._team_id = team_id
        self._lock = threading.Lock()
        self._hooks: dict[str, IncomingWebhook] = {}
        self._received: list[dict[str, Any]] = []
        self._deliveries: list[Delivery] = []
        self._queue: queue.Queue[tuple[dict[str, Any], str, str] | None] = queue.Queue()
        self._target: tuple[str, str] | None = None
        self._worker: threading.Thread | None = None

    def create(
        self, channel: str, *, name: str, bot_id: str, app_id: str | None = None
    ) -> IncomingWebhook:
        """A new webhook posting in ``channel``."""
        path = f"/services/{self._team_id}/{bot_id}/{secrets.token_hex(12)}"
        hook = IncomingWebhook(
            url=self._base_url() + path, channel=channel, bot_id=bot_id, name=name, app_id=app_id
        )
        with self._lock:
            self._hooks[path] = hook
        return hook

    def subscribe(self, request_url: str, *, signing_secret: str) -> None:
        """Deliver what the webhooks post from now on to ``request_url``, signed."""
        with self._lock:
            self._target = (request_url, signing_secret)
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._deliver_all, name="fake-slack-events", daemon=True
                )
                self._worker.start()

    @property
    def received(self) -> list[dict[str, Any]]:
        """The messages the webhooks accepted, as sent (copies of the decoded bodies)."""
        with self._lock:
            return [dict(body) for body in self._received]

    @property
    def deliveries(self) -> list[Delivery]:
        """The Events API deliveries made, in order."""
        with self._lock:
            return list(self._deliveries)

    def close(self) -> None:
        """Stop delivering (what is queued is still sent first); safe to call twice."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            self._queue.put(None)
            worker.join(timeout=_DELIVERY_TIMEOUT * 2)

    def answer(self, request: Incoming) -> Reply:
        """The answer to a ``POST /services/…``: post the message, or say why not."""
        with self._lock:
            hook = self._hooks.get(request.path)
        if hook is None:
            return Reply(404, "no_service", content_type=_TEXT)
        body = _message(request)
        if body is None:
            return Reply(400, "invalid_payload", content_type=_TEXT)
        author: dict[str, Any] = {"bot_id": hook.bot_id}
        if hook.app_id is None:  # a legacy webhook sets its author per message
            author["username"] = str(body.get("username") or hook.name)
            icons = {k: body[k] for k in ("icon_emoji", "icon_url") if isinstance(body.get(k), str)}
            if icons:
                author["icons"] = {k.removeprefix("icon_"): v for k, v in icons.items()}
        else:
            author["app_id"] = hook.app_id
            author["bot_profile"] = {
                "id": hook.bot_id,
                "app_id": hook.app_id,
                "name": hook.name,
                "team_id": self._team_id,
            }
        try:
            message = self._workspace.post_as_integration(hook.channel, body, author=author)
        except SlackError as exc:
            error = str(exc.body.get("error"))
            return Reply(_STATUS.get(error, 400), error, content_type=_TEXT)
        with self._lock:
            self._received.append(body)
            target = self._target
        if target is not None:
            event = message | {
                "channel": hook.channel,
                "event_ts": message["ts"],
                "channel_type": "channel",
            }
            self._queue.put((event, *target))
        return Reply(200, "ok", content_type=_TEXT)

    def _deliver_all(self) -> None:
        with httpx.Client(timeout=_DELIVERY_TIMEOUT, trust_env=False) as http:
            while (item := self._queue.get()) is not None:
                event, url, secret = item
                signed = event_callback(event, secret=secret)
                try:
                    response = http.post(url, content=signed.body, headers=signed.headers)
                    delivery = Delivery(event, response.status_code)
                except httpx.HTTPError as exc:  # the bot is gone: recorded, as Slack would
                    delivery = Delivery(event, None, f"{type(exc).__name__}: {exc}")
                with self._lock:
                    self._deliveries.append(delivery)


def _message(request: Incoming) -> dict[str, Any] | None:
    """The JSON message of a webhook body (JSON, or a form's ``payload`` field)."""
    body: Any = request.body
    if request.content_type != JSON and not isinstance(body, dict):
        fields = dict(parse_qsl(request.raw.decode("utf-8", "replace")))
        try:
            body = json.loads(fields["payload"])
        except (KeyError, ValueError):
            return None
    return body if isinstance(body, dict) else None
