"""The change webhooks on the running bot (issue 10, builds 1 and 3): GitHub's signed
``deployment_status``, Argo CD's notification and Backout's own change list each record a deploy
with its standby plan; CI and Argo CD announcing the same deploy make one change; a failed
deploy's plans say to check what actually runs; what is not a finished production deploy of a
known service is answered 202 with the reason and records nothing."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle import PlanKind
from fakes.world import BotWorld
from tests.support.paths import FIXTURES

INCIDENT = "C0INCIDENT"
SECRET = "webhook-shared-secret-0123456789"
GH_SECRET = (
    "gh-test-webhook-secret-5e1d"  # the fixture's test secret (../shared/fixtures/README.md)
)
GH_FIXTURE = (FIXTURES / "deploys" / "github_deployment_status.json").read_bytes()
GH_FIXTURE_SIGNATURE = "sha256=663ba98daf712b36bf928f80c7f7311b9f999cac5ed2cd50b670a7e6c8364560"
ARGOCD_FIXTURE = (FIXTURES / "deploys" / "argocd_notification.json").read_bytes()
BEARER = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
FAILED_NOTE = "was reported as a failed deploy: check what is actually running on checkoutservice"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[BotWorld]:
    webhooks = {"secret": SECRET, "incident_channel": INCIDENT, "github_secret": GH_SECRET}
    with BotWorld(tmp_path, extra={"webhooks": webhooks}) as running:
        yield running


def github(world: BotWorld, body: bytes = GH_FIXTURE, event: str = "deployment_status") -> Any:
    """Deliver ``body`` as GitHub does: signed, the event named in its header, a new delivery
    GUID each time."""
    signature = "sha256=" + hmac.new(GH_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return world.http.post(
        "/webhooks/github",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": signature,
        },
    )


def github_event(**status: Any) -> bytes:
    """The fixture's event with ``deployment_status`` fields replaced (re-serialised)."""
    body: dict[str, Any] = json.loads(GH_FIXTURE)
    body = copy.deepcopy(body)
    body["deployment_status"].update(status)
    return json.dumps(body).encode()


def post(world: BotWorld, route: str, body: bytes | Any) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return world.http.post(f"/webhooks/{route}", content=content, headers=BEARER)


def changes(world: BotWorld) -> list[Any]:
    return world.services.store.incidents.changes_of("checkoutservice")


def plans(world: BotWorld, kind: PlanKind) -> list[Any]:
    world.settle()
    return [p for p in world.services.store.plans.recent() if p.kind == kind]


def test_github_s_signed_fixture_records_the_deploy_with_a_standby_plan(world):
    """The fixture's exact bytes under its documented signature: the deploy of checkoutservice
    v1.8.1 → v1.8.2 is recorded, and its standby plan would roll it back to v1.8.1."""
    response = world.http.post(
        "/webhooks/github",
        content=GH_FIXTURE,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "deployment_status",
            "X-Hub-Signature-256": GH_FIXTURE_SIGNATURE,
        },
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["change"] == "github-1873201456-success"
    assert answer["recorded"] is True
    (change,) = changes(world)
    assert (change.id, change.from_version, change.to_version) == (
        answer["change"],
        "v1.8.1",
        "v1.8.2",
    )
    (standby,) = plans(world, PlanKind.STANDBY)
    assert standby.id == answer["standby_plan"]
    assert [s.change_id for s in standby.plan.suspects] == [change.id]
    assert [s.target_version for s in standby.plan.steps] == ["v1.8.1"]
    assert not any(FAILED_NOTE in note for note in standby.plan.notes)


def test_github_s_ping_is_200_and_other_events_are_ignored(world):
    """The ping GitHub sends when the hook is made answers 200; a push or a workflow run is
    202 "ignored"; nothing is recorded."""
    ping = github(world, b'{"zen": "Keep it logically awesome.", "hook_id": 1}', event="ping")
    assert ping.status_code == 200
    assert ping.json() == {"event": "ping", "ok": True}
    push = github(world, b'{"ref": "refs/heads/main"}', event="push")
    assert push.status_code == 202
    assert "only deployment_status" in push.json()["ignored"]
    assert changes(world) == []


@pytest.mark.parametrize("state", ["pending", "queued", "in_progress", "inactive"])
def test_a_deployment_not_finished_is_ignored(world, state):
    """A status of a deployment under way (or made inactive) is 202 with its state."""
    response = github(world, github_event(state=state))
    assert response.status_code == 202
    assert repr(state) in response.json()["ignored"]
    assert changes(world) == []
    assert plans(world, PlanKind.STANDBY) == []


@pytest.mark.parametrize("state", ["failure", "error"])
def test_a_failed_deployment_is_recorded_and_every_plan_naming_it_says_to_check(world, state):
    """A failed deployment is recorded as a failed deploy; its standby plan, and the plan of an
    incident that suspects it, say to check what is actually running before rolling back."""
    response = github(world, github_event(state=state))
    assert response.status_code == 200
    (change,) = changes(world)
    assert (change.id, change.failed) == (f"github-1873201456-{state}", True)
    (standby,) = plans(world, PlanKind.STANDBY)
    assert any(FAILED_NOTE in note for note in standby.plan.notes)

    alert = (FIXTURES / "alerts" / "alertmanager.json").read_bytes()
    assert post(world, "alertmanager", alert).status_code == 200
    (live,) = plans(world, PlanKind.LIVE)
    assert change.id in [s.change_id for s in live.plan.suspects]
    assert any(FAILED_NOTE in note and change.id in note for note in live.plan.notes)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ({"environment": "staging"}, "environment 'staging' is not production"),
        ({"environment": "prod-eu1"}, None),
    ],
)
def test_only_production_like_environments_count(world, status, reason):
    """A deploy to staging is ignored, naming the setting; ``prod-eu1`` counts as production."""
    response = github(world, github_event(**status))
    if reason is None:
        assert response.status_code == 200
        assert len(changes(world)) == 1
    else:
        assert response.status_code == 202
        assert reason in response.json()["ignored"]
        assert "channels.environments" in response.json()["ignored"]
        assert changes(world) == []


def test_a_deploy_of_a_service_outside_the_topology_is_ignored(world):
    """A repository that is no service of the topology records nothing, saying so."""
    body: dict[str, Any] = json.loads(GH_FIXTURE)
    body["repository"]["name"] = "checkoutservise"
    response = github(world, json.dumps(body).encode())
    assert response.status_code == 202
    assert (
        "unknown service 'checkoutservise' (did you mean checkoutservice"
        in (response.json()["ignored"])
    )
    assert plans(world, PlanKind.STANDBY) == []


def test_argocd_s_notification_records_the_deploy(world):
    """Our template's body, with the shared secret: the deploy of checkoutservice v1.8.2."""
    response = post(world, "argocd", ARGOCD_FIXTURE)
    assert response.status_code == 200
    assert response.json()["recorded"] is True
    (change,) = changes(world)
    assert (change.id, change.source, change.to_version) == (
        response.json()["change"],
        "argocd",
        "v1.8.2",
    )
    assert [p.id for p in plans(world, PlanKind.STANDBY)] == [response.json()["standby_plan"]]


def test_ci_and_argocd_announcing_one_deploy_make_one_change_and_one_suspect(world):
    """GitHub marks the deploy done, Argo CD reports its sync a minute later, then the alert
    fires: one change (GitHub's id, Argo CD's report kept), one standby plan, and the incident's
    plan suspects that one change, not two."""
    first = github(world)
    second = post(world, "argocd", ARGOCD_FIXTURE)
    assert first.json()["recorded"] is True
    assert second.status_code == 200
    assert second.json()["recorded"] is False
    (change,) = changes(world)
    assert change.id == "github-1873201456-success"
    (report,) = world.services.store.incidents.reports(change.id)
    assert (report.id, report.source) == (second.json()["change"], "argocd")
    assert len(plans(world, PlanKind.STANDBY)) == 1

    alert = (FIXTURES / "alerts" / "alertmanager.json").read_bytes()
    assert post(world, "alertmanager", alert).status_code == 200
    (live,) = plans(world, PlanKind.LIVE)
    assert [s.change_id for s in live.plan.suspects] == [change.id]
    assert report.id not in json.dumps(live.plan.to_json_dict())


def test_the_changes_route_takes_one_change_or_a_list(world):
    """Backout's normalised form: one object records one change; a list records each, saying
    for each whether it was recorded or why not; a repeat is not recorded twice."""
    one = {
        "id": "deploy-42",
        "service": "checkoutservice",
        "at": "2026-12-01T10:00:00Z",
        "from_version": "v1.8.2",
        "to_version": "v1.8.3",
        "source": "spinnaker",
    }
    response = post(world, "changes", one)
    assert response.status_code == 200
    assert response.json()["changes"][0]["recorded"] is True
    flag = {
        "id": "flag-7",
        "service": "cartservice",
        "kind": "feature_flag",
        "flag": "new-cart",
        "at": "2026-12-01T10:05:00Z",
    }
    staging = {**one, "id": "deploy-43", "labels": ["env:staging"]}
    answer = post(world, "changes", [one, flag, staging]).json()["changes"]
    assert [(a["change"], a.get("recorded")) for a in answer] == [
        ("deploy-42", False),
        ("flag-7", True),
        ("deploy-43", None),
    ]
    assert "is not production" in answer[2]["ignored"]
    assert [c.id for c in changes(world)] == ["deploy-42"]
    assert [c.id for c in world.services.store.incidents.changes_of("cartservice")] == ["flag-7"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "empty list"),
        ([{"id": "x", "service": "cartservice"}], "item 0: field 'at'"),
        ({"id": "x", "service": "cartservice", "at": "now"}, "field 'at'"),
        ([{"id": "x", "service": "a", "at": "2026-12-01T10:00:00Z"}] * 2, "duplicate change id"),
        ("deploy", "item 0: expected an object"),
    ],
)
def test_a_change_list_that_cannot_be_read_is_400_naming_the_item(world, body, reason):
    """An empty list, a missing or bad field, a repeated id, a string: 400 saying where."""
    response = post(world, "changes", body)
    assert response.status_code == 400
    assert reason in response.text
    assert world.services.store.incidents.changes_of("cartservice") == []
