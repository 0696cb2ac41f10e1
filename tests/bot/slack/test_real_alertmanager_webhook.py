"""A real Alertmanager's webhook receiver pointed at the running bot (issue 10, set-up a):
``webhook_configs`` with the shared secret as ``http_config.authorization`` bearer credentials,
posting to ``/webhooks/alertmanager``. Alertmanager is the Debian ``prometheus-alertmanager``
(:mod:`tests.support.alertmanager`): skipped on a laptop without it, failed in CI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle import PlanKind
from fakes import signing
from fakes.world import BotWorld
from tests.support.alertmanager import Alertmanager, running_alertmanager

INCIDENT = "C0INCIDENT"
SECRET = "webhook-shared-secret-0123456789"
CART = {"alertname": "CartHighErrorRate", "service": "cartservice", "severity": "critical"}
SUMMARY = {"summary": "cartservice gRPC error ratio above 5%"}


@pytest.fixture
def alertmanager() -> Iterator[Alertmanager]:
    with running_alertmanager() as running:
        yield running


@pytest.fixture
def world(tmp_path: Path, alertmanager: Alertmanager) -> Iterator[BotWorld]:
    extra = {"webhooks": {"secret": SECRET, "incident_channel": INCIDENT}}
    with BotWorld(tmp_path, extra=extra) as running:
        webhook = {
            "url": f"{running.server.url}/webhooks/alertmanager",
            "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer", "credentials": SECRET}},
        }
        # repeat_interval 1 s: the firing group is sent again every second, as it would be
        # every few hours in production; the bot must not take a repeat for a new incident.
        alertmanager.configure(
            receivers=[{"name": "backout", "webhook_configs": [webhook]}], repeat_interval="1s"
        )
        yield running


def record_bad_deploy(world: BotWorld) -> None:
    event = {
        "type": "message",
        "channel": world.deploys_channel,
        "bot_id": "B0CI",
        "username": "ci",
        "text": "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>",
        "ts": f"{(datetime.now(UTC) - timedelta(minutes=10)).timestamp():.6f}",
    }
    world.post(signing.event_callback(event, secret=world.secret))
    world.wait_for(lambda: world.services.store.incidents.changes_of("cartservice"))


def live_plans(world: BotWorld) -> list[Any]:
    return [p for p in world.services.store.plans.recent() if p.kind == PlanKind.LIVE]


def posts(world: BotWorld, channel: str) -> list[dict[str, Any]]:
    return [
        c.args for c in world.slack.calls_to("chat.postMessage") if c.args["channel"] == channel
    ]


def summaries(world: BotWorld) -> list[dict[str, Any]]:
    return [p for p in posts(world, INCIDENT) if str(p.get("text")).startswith("Post-incident")]


def test_a_firing_alert_opens_one_incident_and_its_resolution_brings_one_summary(
    world: BotWorld, alertmanager: Alertmanager
) -> None:
    """Alertmanager delivers the firing alert (and repeats it); the bot opens exactly one
    incident and posts exactly one plan in the incident channel. Once Alertmanager delivers the
    resolution, the incident is resolved and exactly one summary follows in the plan's thread."""
    record_bad_deploy(world)
    alertmanager.fire(CART, annotations=SUMMARY)
    (plan,) = world.wait_for(lambda: live_plans(world), timeout=30)
    # Alertmanager has sent the group three times (the first notification and two repeats).
    world.wait_for(lambda: alertmanager.sent("webhook") >= 3, timeout=30)
    world.settle()

    assert [p.id for p in live_plans(world)] == [plan.id]
    assert plan.plan.incident.services == ("cartservice",)
    assert plan.plan.suspects[0].service == "cartservice"
    (posted,) = posts(world, INCIDENT)  # the plan, and nothing else yet
    assert "thread_ts" not in posted
    message = world.services.store.conversations.plan_message(plan.id)
    assert message is not None
    assert message.channel == INCIDENT

    sent_before = alertmanager.sent("webhook")
    alertmanager.resolve(CART, annotations=SUMMARY)
    incidents = world.services.store.incidents
    world.wait_for(
        lambda: (i := incidents.incident(plan.plan.incident.id)) and i.status == "resolved",
        timeout=30,
    )
    world.wait_for(lambda: summaries(world), timeout=30)
    world.wait_for(lambda: alertmanager.sent("webhook") > sent_before, timeout=30)
    world.settle()

    (summary,) = summaries(world)
    assert summary["thread_ts"] == message.ts
    assert len(live_plans(world)) == 1
    assert alertmanager.failed("webhook") == 0, alertmanager.log()
