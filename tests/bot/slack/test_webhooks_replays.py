"""PagerDuty and GitHub sign no timestamp, so each delivery is handled once by its id (the
README's old limitation): a retry, a redelivery or a replay of a captured request is answered
``200 {"ok": true, "duplicate": true}`` and changes nothing, on the running bot, after a restart
too; an unsigned request uses up no id, a delivery whose handling failed is handled when sent
again, and a PagerDuty event too old to be anything but a replay is refused."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle import PlanKind
from fakes.world import BotWorld
from tests.support.paths import FIXTURES

INCIDENT = "C0INCIDENT"
PD_SECRET = "pd-test-ChLrS8vYw2KzQ4nB"  # the fixtures' test secrets (../shared/fixtures/README.md)
GH_SECRET = "gh-test-webhook-secret-5e1d"
GH_FIXTURE = (FIXTURES / "deploys" / "github_deployment_status.json").read_bytes()
WEBHOOKS = {"incident_channel": INCIDENT, "pagerduty_secret": PD_SECRET, "github_secret": GH_SECRET}
DUPLICATE = {"ok": True, "duplicate": True}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[BotWorld]:
    with BotWorld(tmp_path, extra={"webhooks": WEBHOOKS}) as running:
        yield running


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def pagerduty_event(
    event_id: str = "01JPB6YQ3T9M2K7W5X8N4R1ZHC",
    event_type: str = "incident.triggered",
    *,
    age: timedelta = timedelta(minutes=1),
) -> bytes:
    """The fixture's event, with ``event_id`` and ``event_type``, that occurred ``age`` ago."""
    body: dict[str, Any] = copy.deepcopy(
        json.loads((FIXTURES / "alerts" / "pagerduty_v3.json").read_bytes())
    )
    occurred = (datetime.now(UTC) - age).isoformat().replace("+00:00", "Z")
    body["event"].update(id=event_id, event_type=event_type, occurred_at=occurred)
    if event_type == "incident.resolved":
        body["event"]["data"]["status"] = "resolved"
    return json.dumps(body).encode()


def pagerduty(world: BotWorld, body: bytes, **headers: str) -> Any:
    """Deliver ``body`` as PagerDuty does: signed with the subscription's secret."""
    signed = {"X-PagerDuty-Signature": f"v1={sign(PD_SECRET, body)}"}
    return world.http.post(
        "/webhooks/pagerduty",
        content=body,
        headers={"Content-Type": "application/json", **signed, **headers},
    )


def github(world: BotWorld, delivery: str, body: bytes = GH_FIXTURE) -> Any:
    """Deliver ``body`` as GitHub does: signed, as ``deployment_status``, GUID ``delivery``."""
    return world.http.post(
        "/webhooks/github",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "deployment_status",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": f"sha256={sign(GH_SECRET, body)}",
        },
    )


def plans(world: BotWorld, kind: PlanKind = PlanKind.LIVE) -> list[Any]:
    world.settle()
    return [p for p in world.services.store.plans.recent() if p.kind == kind]


def incident_status(world: BotWorld, plan_id: str) -> str:
    incident_id = world.services.store.plans.get(plan_id).plan.incident.id
    incident = world.services.store.incidents.incident(incident_id)
    assert incident is not None
    return str(incident.status)


def test_a_pagerduty_event_delivered_twice_opens_one_incident(world):
    """PagerDuty's retry of an event already handled (it delivers at least once) is answered as
    a duplicate: one incident, one plan."""
    body = pagerduty_event()
    first = pagerduty(world, body)
    assert first.status_code == 200
    assert first.json()["alerts"] == 1
    again = pagerduty(world, body)
    assert again.status_code == 200
    assert again.json() == DUPLICATE
    assert [p.id for p in plans(world)] == [first.json()["plan"]]


def test_a_trigger_replayed_after_the_resolution_opens_no_new_incident(world):
    """The README's case: ``incident.triggered`` captured and sent again after the incident
    resolved, even under another ``X-Webhook-Id`` (an unsigned header), is a duplicate."""
    trigger = pagerduty_event("01TRIGGER")
    plan_id = pagerduty(world, trigger, **{"X-Webhook-Id": "w-1"}).json()["plan"]
    resolved = pagerduty(world, pagerduty_event("01RESOLVED", "incident.resolved"))
    assert resolved.json() == {"alerts": 1, "plan": None}
    assert incident_status(world, plan_id) == "resolved"
    replay = pagerduty(world, trigger, **{"X-Webhook-Id": "w-2"})
    assert replay.status_code == 200
    assert replay.json() == DUPLICATE
    assert [p.id for p in plans(world)] == [plan_id]
    assert incident_status(world, plan_id) == "resolved"


def test_an_unsigned_or_badly_signed_delivery_uses_up_no_id(world):
    """Only a verified delivery claims its id: the forged ones are 401, and the real one after
    them is handled, not taken for a duplicate."""
    body = pagerduty_event()
    unsigned = world.http.post(
        "/webhooks/pagerduty", content=body, headers={"Content-Type": "application/json"}
    )
    forged = pagerduty(world, body, **{"X-PagerDuty-Signature": f"v1={sign('guess', body)}"})
    assert (unsigned.status_code, forged.status_code) == (401, 401)
    real = pagerduty(world, body)
    assert real.status_code == 200
    assert real.json()["alerts"] == 1
    assert real.json()["plan"] is not None


def test_a_pagerduty_event_older_than_a_week_is_refused_as_a_replay(world):
    """An event whose signed ``occurred_at`` is more than seven days old (PagerDuty retries for
    about 20 minutes) is answered 202 "ignored" and opens nothing, whether or not its id is still
    remembered; one a day old is handled."""
    stale = pagerduty(world, pagerduty_event("01STALE", age=timedelta(days=8)))
    assert stale.status_code == 202
    assert "a replay" in stale.json()["ignored"]
    assert plans(world) == []
    late = pagerduty(world, pagerduty_event("01LATE", age=timedelta(days=1)))
    assert late.status_code == 200
    assert late.json()["plan"] is not None


def test_a_pagerduty_event_without_an_id_is_handled_and_logged(world, caplog):
    """No ``event.id``: the signed event is handled each time it comes (its alert joins the open
    incident the second time), and the log says it could not be de-duplicated."""
    body: dict[str, Any] = json.loads(pagerduty_event())
    del body["event"]["id"]
    content = json.dumps(body).encode()
    with caplog.at_level(logging.WARNING, logger="bot.slack.webhooks"):
        first = pagerduty(world, content)
        again = pagerduty(world, content)
    assert first.json()["plan"] is not None
    assert again.json() == {"alerts": 1, "plan": None}
    assert sum("no delivery id in event.id" in r.getMessage() for r in caplog.records) == 2


def test_a_github_redelivery_is_a_duplicate_and_a_forged_guid_records_nothing(world):
    """GitHub's "Redeliver" reuses the delivery's GUID: a duplicate. The GUID is not signed, so
    a replay under a new one is handled again, and records nothing: the change is stored once."""
    guid = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    first = github(world, guid)
    assert first.status_code == 200
    assert first.json()["recorded"] is True
    assert github(world, guid).json() == DUPLICATE
    forged = github(world, str(uuid.uuid4()))
    assert forged.status_code == 200
    assert forged.json()["recorded"] is False
    assert len(world.services.store.incidents.changes_of("checkoutservice")) == 1
    assert [p.id for p in plans(world, PlanKind.STANDBY)] == [first.json()["standby_plan"]]


def test_a_delivery_that_failed_is_handled_when_delivered_again(world):
    """A delivery answered 503 (the store failed) gives its id back: GitHub's redelivery of it,
    once the store works, records the deploy."""
    guid = str(uuid.uuid4())
    with world.services.store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE changes RENAME TO changes_gone")
    failed = github(world, guid)
    with world.services.store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE changes_gone RENAME TO changes")
    assert failed.status_code == 503
    redelivered = github(world, guid)
    assert redelivered.status_code == 200
    assert redelivered.json()["recorded"] is True


def test_a_bad_body_gives_its_id_back(world):
    """A delivery refused with 400 claims nothing: sent again, it is refused again with the
    reason, not answered as a duplicate."""
    guid = str(uuid.uuid4())
    body = b'{"deployment_status": {"state": "success"}}'
    assert github(world, guid, body).status_code == 400
    again = github(world, guid, body)
    assert again.status_code == 400
    assert "deployment is missing" in again.text


def test_delivery_ids_are_remembered_across_a_restart(tmp_path):
    """The ids are in the database: a bot restarted on it still knows the delivery."""
    guid = str(uuid.uuid4())
    with BotWorld(tmp_path, extra={"webhooks": WEBHOOKS}) as before:
        assert github(before, guid).json()["recorded"] is True
    with BotWorld(tmp_path, extra={"webhooks": WEBHOOKS}) as after:
        assert github(after, guid).json() == DUPLICATE
