"""What the grouping and storm tests share: a running bot whose clock the test moves, with the
Alertmanager webhook on, and Alertmanager bodies built from ``(fingerprint, service)`` pairs.

The bot is a whole :class:`fakes.world.BotWorld` (the fake Slack, the real HTTP server, a SQLite
store, the Online Boutique topology). Plan-message refreshes are coalesced per
:data:`INTERVAL` of the bot's clock: a test sends its alerts, moves the clock on by the interval,
calls :func:`flush` and then reads what the fake Slack received; nothing sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.lifecycle import PlanKind
from bot.store import StoredPlan
from fakes import signing
from fakes.world import BotWorld
from tests.support.alert_payloads import am_alert, am_group
from tests.support.store import Clock

INCIDENT = "C0INCIDENT"
SECRET = "webhook-shared-secret-0123456789"
BEARER = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
INTERVAL = 60.0
"""``incidents.update_interval_seconds`` in these tests: longer than any test runs, so only
the test's clock ends an interval."""


@contextmanager
def storm_world(tmp_path: Path, *, window_minutes: float = 30) -> Iterator[tuple[BotWorld, Clock]]:
    """A running bot with webhooks on and a clock that stands still until the test moves it."""
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    extra = {
        "webhooks": {"secret": SECRET, "incident_channel": INCIDENT, "max_body_bytes": 20_000_000},
        "incidents": {"update_interval_seconds": INTERVAL, "group_window_minutes": window_minutes},
    }
    with BotWorld(tmp_path, clock=clock, extra=extra) as world:
        yield world, clock


def body(
    alerts: Sequence[tuple[str, str]], *, at: datetime, status: str = "firing"
) -> dict[str, Any]:
    """An Alertmanager body with one alert per ``(fingerprint, service)``, started at ``at``."""
    started = at.isoformat().replace("+00:00", "Z")
    entries = [
        am_alert(
            status=status,
            fingerprint=fingerprint,
            startsAt=started,
            labels={"alertname": "HighErrorRate", "service": service, "pod": fingerprint},
        )
        for fingerprint, service in alerts
    ]
    return am_group(*entries, status=status)


def send(world: BotWorld, payload: dict[str, Any]) -> str | None:
    """POST the body to ``/webhooks/alertmanager``; the plan id the bot answers with."""
    response = world.http.post(
        "/webhooks/alertmanager", content=json.dumps(payload).encode(), headers=BEARER
    )
    assert response.status_code == 200, response.text
    plan: str | None = response.json()["plan"]
    return plan


def flush(world: BotWorld, clock: Clock) -> None:
    """End the coalescing interval: move the clock on, start what is due, wait for it."""
    clock.advance(INTERVAL)
    world.services.use_cases.planning.flush_updates()
    world.settle()


def record_bad_deploy(world: BotWorld, clock: Clock) -> None:
    """CI announces cartservice v1.4.3, ten minutes before the clock: the suspect."""
    event = {
        "type": "message",
        "channel": world.deploys_channel,
        "bot_id": "B0CI",
        "username": "ci",
        "text": "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>",
        "ts": f"{(clock.now - timedelta(minutes=10)).timestamp():.6f}",
    }
    world.post(signing.event_callback(event, secret=world.secret))
    world.wait_for(lambda: world.services.store.incidents.changes_of("cartservice"))


def live_plans(world: BotWorld) -> list[StoredPlan]:
    return [p for p in world.services.store.plans.recent(limit=200) if p.kind == PlanKind.LIVE]


def incident_plan(world: BotWorld, plan_id: str) -> StoredPlan:
    """The newest live plan of the incident ``plan_id`` was drafted for."""
    store = world.services.store
    found = store.plans.for_incident(store.plans.get(plan_id).plan.incident.id)
    assert found is not None
    return found


def posts(world: BotWorld, channel: str = INCIDENT) -> list[dict[str, Any]]:
    """The ``chat.postMessage`` calls into ``channel``."""
    calls = world.slack.calls_to("chat.postMessage")
    return [c.args for c in calls if c.args.get("channel") == channel]


def updates(world: BotWorld, ts: str) -> list[dict[str, Any]]:
    """The ``chat.update`` calls on message ``ts``."""
    return [c.args for c in world.slack.calls_to("chat.update") if c.args.get("ts") == ts]


def message_ts(world: BotWorld, plan_id: str) -> str:
    """The ts of the Slack message showing the plan (once Slack has taken it)."""
    conversations = world.services.store.conversations
    found = world.wait_for(
        lambda: (m := conversations.plan_message(plan_id)) and not m.ts.startswith("pending:") and m
    )
    ts: str = found.ts
    return ts
