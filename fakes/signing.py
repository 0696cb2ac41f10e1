"""Slack requests as Slack sends them, signed: for the tests and the demo, which drive the bot's
real HTTP endpoint exactly as Slack would.

Bodies are built the way Slack documents them (a form for slash commands,
https://api.slack.com/interactivity/slash-commands; ``payload=<json>`` for interactions,
https://api.slack.com/reference/interaction-payloads; JSON ``event_callback`` envelopes for the
Events API, https://api.slack.com/apis/events-api) and signed with v0 HMAC-SHA256 over
``v0:timestamp:body`` (https://api.slack.com/authentication/verifying-requests-from-slack).
Only the fields Backout reads are filled in. Failure states are whatever a test builds: a wrong
secret or an old timestamp makes a request the bot must refuse.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

__all__ = [
    "SignedRequest",
    "block_action",
    "event_callback",
    "sign",
    "slash_command",
]

TEAM = "T0BACKOUT"


class SignedRequest:
    """A body with its headers, ready to POST to ``/slack/events``."""

    def __init__(self, body: bytes, headers: Mapping[str, str]) -> None:
        self.body = body
        self.headers = dict(headers)


def sign(
    body: bytes, *, secret: str, content_type: str, timestamp: int | None = None
) -> SignedRequest:
    """Sign ``body`` as Slack does (``timestamp`` defaults to now)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return SignedRequest(
        body,
        {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": f"v0={digest}",
        },
    )


def slash_command(
    text: str,
    *,
    user: str,
    channel: str,
    secret: str,
    timestamp: int | None = None,
    response_url: str = "http://127.0.0.1:9/unused",
) -> SignedRequest:
    """``/rollback <text>`` typed by ``user`` in ``channel``; its answers may go to
    ``response_url`` (:meth:`fakes.slack.FakeSlack.response_url` records them; by default a
    port nothing listens on)."""
    body = urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "channel_id": channel,
            "channel_name": "incident",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/rollback",
            "text": text,
            "api_app_id": "A0BACKOUT",
            "response_url": response_url,
            "trigger_id": uuid.uuid4().hex,
        }
    ).encode()
    return sign(
        body, secret=secret, content_type="application/x-www-form-urlencoded", timestamp=timestamp
    )


def block_action(
    action_id: str,
    value: str,
    *,
    user: str,
    channel: str,
    message_ts: str,
    secret: str,
    timestamp: int | None = None,
) -> SignedRequest:
    """``user`` clicks the button ``action_id`` (``value``) on the message at ``message_ts``."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": "A0BACKOUT",
        "team": {"id": TEAM, "domain": "backout-demo"},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
        "channel": {"id": channel, "name": "incident"},
        "message": {"ts": message_ts, "type": "message", "text": ""},
        "trigger_id": uuid.uuid4().hex,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "plan_actions",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return sign(
        body, secret=secret, content_type="application/x-www-form-urlencoded", timestamp=timestamp
    )


def event_callback(
    event: Mapping[str, Any],
    *,
    secret: str,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> SignedRequest:
    """An Events API delivery wrapping ``event``."""
    envelope = {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "api_app_id": "A0BACKOUT",
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {"team_id": TEAM, "user_id": "U0BACKOUT", "is_bot": True, "enterprise_id": None}
        ],
    }
    body = json.dumps(envelope, separators=(",", ":")).encode()
    return sign(body, secret=secret, content_type="application/json", timestamp=timestamp)
