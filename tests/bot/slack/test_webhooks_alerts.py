"""The alert webhooks on the running bot (issue 10, build 1): each sender's real body, on its own
route, opens one incident whose plan is posted in the incident channel; what reports a recovery
or says something about an incident (a Grafana ``ok``, a Datadog "Recovered", a PagerDuty note or
ping) never opens one."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle import PlanKind
from fakes.world import BotWorld
from tests.support.paths import FIXTURES

INCIDENT = "C0INCIDENT"
SECRET = "webhook-shared-secret-0123456789"
PD_SECRET = "pd-test-ChLrS8vYw2KzQ4nB"  # the fixtures' test secret (../shared/fixtures/README.md)
PD_FIXTURE_SIGNATURE = "v1=725858d8c20c76645eb1213d85f221d53673f8861b8ffee642f8e67ca6309f6b"
BEARER = {"Authorization": f"Bearer {SECRET}"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[BotWorld]:
    webhooks = {"secret": SECRET, "incident_channel": INCIDENT, "pagerduty_secret": PD_SECRET}
    with BotWorld(tmp_path, extra={"webhooks": webhooks}) as running:
        yield running


def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "alerts" / f"{name}.json").read_text())
    return copy.deepcopy(body)


def post(world: BotWorld, route: str, body: bytes | dict[str, Any], method: str = "POST") -> Any:
    """Send ``body`` to ``/webhooks/<route>`` with the route's proof."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **BEARER}
    if route == "pagerduty":
        digest = hmac.new(PD_SECRET.encode(), content, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-PagerDuty-Signature": f"v1={digest}"}
    return world.http.request(method, f"/webhooks/{route}", content=content, headers=headers)


def live_plans(world: BotWorld) -> list[Any]:
    world.settle()
    return [p for p in world.services.store.plans.recent() if p.kind == PlanKind.LIVE]


def running_from(start: datetime) -> Callable[[], datetime]:
    """A clock that reads a minute after ``start`` now, and runs."""
    offset = start + timedelta(minutes=1) - datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


def posted_in_incident_channel(world: BotWorld, plan_id: str) -> bool:
    message = world.services.store.conversations.plan_message(plan_id)
    return message is not None and (message.channel, message.thread_ts) == (INCIDENT, None)


def test_pagerduty_s_signed_fixture_opens_an_incident_in_the_channel(tmp_path):
    """The fixture's exact bytes with its documented signature, a minute after its event: one
    firing alert on checkoutservice, whose plan is posted in the incident channel."""
    body = (FIXTURES / "alerts" / "pagerduty_v3.json").read_bytes()
    occurred = datetime.fromisoformat(json.loads(body)["event"]["occurred_at"])
    webhooks = {"secret": SECRET, "incident_channel": INCIDENT, "pagerduty_secret": PD_SECRET}
    with BotWorld(tmp_path, extra={"webhooks": webhooks}, clock=running_from(occurred)) as world:
        response = world.http.post(
            "/webhooks/pagerduty",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-PagerDuty-Signature": PD_FIXTURE_SIGNATURE,
            },
        )
        assert response.status_code == 200
        assert response.json()["alerts"] == 1
        (plan,) = live_plans(world)
        assert plan.id == response.json()["plan"]
        assert plan.plan.incident.services == ("checkoutservice",)
        assert posted_in_incident_channel(world, plan.id)


@pytest.mark.parametrize(
    ("route", "method", "service"),
    [
        ("alertmanager", "POST", "checkoutservice"),
        ("grafana", "POST", "frontend"),
        ("grafana", "PUT", "frontend"),
        ("datadog", "POST", "checkoutservice"),
    ],
)
def test_each_sender_s_fixture_opens_an_incident_posted_in_the_channel(
    world, route, method, service
):
    """Alertmanager, Grafana (which may PUT) and Datadog bodies, with the shared secret: one
    incident on the alert's service, its plan in the incident channel; sent again, nothing new."""
    body = (FIXTURES / "alerts" / f"{route}.json").read_bytes()
    first = post(world, route, body, method)
    assert first.status_code == 200
    assert first.json()["alerts"] == 1
    (plan,) = live_plans(world)
    assert plan.id == first.json()["plan"]
    assert plan.plan.incident.services == (service,)
    assert posted_in_incident_channel(world, plan.id)
    again = post(world, route, body, method)
    assert again.json() == {"alerts": 1, "plan": None}
    assert [p.id for p in live_plans(world)] == [plan.id]


def test_opsgenie_s_fixture_is_read_and_its_serviceless_alert_gets_an_abstaining_plan(world):
    """The Opsgenie fixture names no service label (only an entity): the plan posted says no
    alert names a service of the topology, rather than guessing one."""
    response = post(world, "opsgenie", fixture("opsgenie"))
    assert response.status_code == 200
    (plan,) = live_plans(world)
    assert plan.plan.abstained
    assert "no firing alert names a service in the topology" in plan.plan.abstain_reasons
    assert posted_in_incident_channel(world, plan.id)


def grafana_ok() -> dict[str, Any]:
    body = fixture("grafana")
    body.update(status="resolved", state="ok", title="[RESOLVED] FrontendCheckoutLatencyHigh")
    for alert in body["alerts"]:
        alert["status"] = "resolved"
    return body


def datadog_recovered() -> dict[str, Any]:
    body = fixture("datadog")
    body.update(alert_transition="Recovered", alert_type="success")
    body["title"] = body["title"].replace("[Triggered", "[Recovered")
    return body


def datadog_recovered_default_keys() -> dict[str, Any]:
    """Only Datadog's default keys, the monitor's priority before the transition in the title."""
    body = fixture("datadog")
    kept = ("id", "event_type", "body", "date", "last_updated", "org", "tags")
    trimmed = {key: body[key] for key in kept}
    trimmed["title"] = "[P2] [Recovered on {service:checkoutservice}] p95 latency high"
    return trimmed


def pagerduty_event(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """The fixture's event as ``event_type`` about ``data``, occurring now."""
    body = fixture("pagerduty_v3")
    occurred_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    body["event"].update(event_type=event_type, data=data, occurred_at=occurred_at)
    return body


NOTE = {"id": "PNOTE1", "type": "incident_note", "content": "looking into it"}
NOT_FIRING = {
    "grafana-ok": ("grafana", grafana_ok()),
    "datadog-recovered": ("datadog", datadog_recovered()),
    "datadog-recovered-default-keys": ("datadog", datadog_recovered_default_keys()),
    "pagerduty-note": ("pagerduty", pagerduty_event("incident.annotated", NOTE)),
    "pagerduty-note-untyped": (
        "pagerduty",
        pagerduty_event(
            "incident.annotated", {**fixture("pagerduty_v3")["event"]["data"], "type": None}
        ),
    ),
    "pagerduty-ping": ("pagerduty", pagerduty_event("pagey.ping", {})),
}


@pytest.mark.parametrize("name", NOT_FIRING)
def test_a_recovery_a_note_or_a_ping_never_opens_an_incident(world, name):
    """A Grafana ``ok``, a Datadog recovery (also told only by its title, after a priority), a
    PagerDuty note (also one whose data says nothing of its type) or ping: accepted, no plan."""
    route, body = NOT_FIRING[name]
    response = post(world, route, body)
    assert response.status_code == 200
    assert response.json()["plan"] is None
    assert live_plans(world) == []


@pytest.mark.parametrize(
    ("route", "firing", "resolved"),
    [
        ("grafana", fixture("grafana"), grafana_ok()),
        ("datadog", fixture("datadog"), datadog_recovered()),
    ],
)
def test_a_recovery_resolves_the_incident_its_alert_opened(world, route, firing, resolved):
    """The recovery of an alert that opened an incident resolves that incident."""
    plan_id = post(world, route, firing).json()["plan"]
    assert post(world, route, resolved).json() == {"alerts": 1, "plan": None}
    incident_id = world.services.store.plans.get(plan_id).plan.incident.id
    incident = world.services.store.incidents.incident(incident_id)
    assert incident is not None
    assert incident.status == "resolved"
