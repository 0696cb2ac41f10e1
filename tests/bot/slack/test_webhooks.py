"""``POST /webhooks/alertmanager`` on the running bot (issue 10, build 1): authenticated by the
shared secret, bad bodies refused with a clear 4xx, alerts deduplicated by fingerprint into one
incident whose plan is posted in the incident channel and whose resolution brings the summary."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle import PlanKind
from fakes.world import BotWorld
from tests.support.paths import FIXTURES

INCIDENT = "C0INCIDENT"
SECRET = "webhook-shared-secret-0123456789"
BEARER = {"Authorization": f"Bearer {SECRET}"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[BotWorld]:
    extra = {"webhooks": {"secret": SECRET, "incident_channel": INCIDENT, "max_body_bytes": 4096}}
    with BotWorld(tmp_path, extra=extra) as running:
        yield running


def payload(status: str = "firing", service: str = "cartservice") -> dict[str, Any]:
    """The Alertmanager fixture with its alert on ``service``, started a minute ago."""
    body: dict[str, Any] = json.loads((FIXTURES / "alerts" / "alertmanager.json").read_text())
    body = copy.deepcopy(body)
    started = datetime.now(UTC) - timedelta(minutes=1)
    body["status"] = status
    for alert in body["alerts"]:
        alert["status"] = status
        alert["labels"].update({"service": service, "app": service})
        alert["startsAt"] = started.isoformat().replace("+00:00", "Z")
        if status == "resolved":
            alert["endsAt"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    body["commonLabels"] = {**body.get("commonLabels", {}), "service": service, "app": service}
    return body


def post(world: BotWorld, body: bytes | dict[str, Any], **headers: str) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return world.http.post(
        "/webhooks/alertmanager",
        content=content,
        headers={"Content-Type": "application/json", **headers},
    )


def live_plans(world: BotWorld) -> list[Any]:
    return [p for p in world.services.store.plans.recent() if p.kind == PlanKind.LIVE]


def record_bad_deploy(world: BotWorld) -> None:
    from fakes import signing as slack

    event = {
        "type": "message",
        "channel": world.deploys_channel,
        "bot_id": "B0CI",
        "username": "ci",
        "text": "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>",
        "ts": f"{(datetime.now(UTC) - timedelta(minutes=10)).timestamp():.6f}",
    }
    world.post(slack.event_callback(event, secret=world.secret))
    world.wait_for(lambda: world.services.store.incidents.changes_of("cartservice"))


def test_without_a_secret_the_route_is_not_there(tmp_path):
    """Webhooks are off until a secret and an incident channel are configured: 404, saying so."""
    with BotWorld(tmp_path) as world:
        response = post(world, payload(), **BEARER)
        assert response.status_code == 404
        assert "webhooks.secret" in response.text


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({}, ""),
        ({"Authorization": "Bearer wrong"}, ""),
        ({"X-Backout-Token": "wrong"}, ""),
        ({}, "?token=wrong"),
        ({"Authorization": f"Basic {SECRET}"}, ""),
    ],
)
def test_a_request_without_the_secret_is_401_and_changes_nothing(world, headers, query):
    """Missing, wrong, or offered under another scheme: 401, and no plan."""
    response = world.http.post(
        f"/webhooks/alertmanager{query}", content=json.dumps(payload()).encode(), headers=headers
    )
    assert response.status_code == 401
    world.settle()
    assert live_plans(world) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"receiver": "backout", "alerts": [', "malformed JSON"),
        (b"<html><body>502 Bad Gateway</body></html>", "HTML"),
        (b"[" * 2000 + b"]" * 2000, "JSON"),
        (b"", "empty body"),
        (b"\xff\xfe", "UTF-8"),
        (b'{"hello": "world"}', "payload"),
        (b'{"version": "4", "status": "firing", "alerts": "many"}', "alerts"),
    ],
)
def test_a_body_that_is_no_alertmanager_payload_is_400_with_the_reason(world, body, reason):
    """Truncated JSON, an HTML error page, deep nesting, junk: 400 saying why, never a 500."""
    response = post(world, body, **BEARER)
    assert response.status_code == 400
    assert reason in response.text
    world.settle()
    assert live_plans(world) == []


def test_a_body_over_the_limit_is_413(world):
    """Above ``webhooks.max_body_bytes`` the body is refused before it is read as JSON."""
    response = post(world, b"{" + b" " * 10_000 + b"}", **BEARER)
    assert response.status_code == 413
    assert "too large" in response.text


def test_an_alert_opens_one_incident_posted_in_the_channel_and_resolves_with_a_summary(world):
    """The firing alert gets one plan in the incident channel, however often Alertmanager sends
    it again (same fingerprint); its resolution closes the incident and the summary follows in
    the plan's thread. Every secret carrier is accepted."""
    record_bad_deploy(world)
    first = post(world, payload(), **BEARER)
    assert first.status_code == 200
    assert first.json()["plan"]
    assert post(world, payload(), **{"X-Backout-Token": SECRET}).status_code == 200
    assert world.http.post(
        f"/webhooks/alertmanager?token={SECRET}", content=json.dumps(payload()).encode()
    ).is_success
    world.settle()
    (plan,) = live_plans(world)
    message = world.services.store.conversations.plan_message(plan.id)
    assert message is not None
    assert (message.channel, message.thread_ts) == (INCIDENT, None)
    assert plan.plan.incident.services == ("cartservice",)

    assert post(world, payload("resolved"), **BEARER).status_code == 200
    summary = world.wait_for(
        lambda: [
            c.args
            for c in world.slack.calls_to("chat.postMessage")
            if str(c.args.get("text", "")).startswith("Post-incident summary")
        ]
    )
    assert summary[0]["channel"] == INCIDENT
    assert summary[0]["thread_ts"] == message.ts
    incident = world.services.store.incidents.incident(plan.plan.incident.id)
    assert incident is not None
    assert incident.status == "resolved"
