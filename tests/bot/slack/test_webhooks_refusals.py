"""Every webhook route refuses what it must (issue 10, build 1), over real HTTP on the running
bot: 404 naming the setting while it is missing, 401 without the sender's proof (the shared
secret, PagerDuty's and GitHub's body signatures, checked against the fixtures' documented
values), 413 over the limit, 400 with the reason for a body it cannot take, and 503 with a logged
reference, never a 500, when handling fails. Nothing refused changes anything."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from fakes.world import BotWorld
from tests.support.paths import FIXTURES

INCIDENT = "C0INCIDENT"
SECRET = "webhook-shared-secret-0123456789"
PD_SECRET = "pd-test-ChLrS8vYw2KzQ4nB"  # the fixtures' test secrets (../shared/fixtures/README.md)
GH_SECRET = "gh-test-webhook-secret-5e1d"
PD_FIXTURE = (FIXTURES / "alerts" / "pagerduty_v3.json").read_bytes()
GH_FIXTURE = (FIXTURES / "deploys" / "github_deployment_status.json").read_bytes()
PD_FIXTURE_SIGNATURE = "v1=725858d8c20c76645eb1213d85f221d53673f8861b8ffee642f8e67ca6309f6b"
GH_FIXTURE_SIGNATURE = "sha256=663ba98daf712b36bf928f80c7f7311b9f999cac5ed2cd50b670a7e6c8364560"
WEBHOOKS = {
    "secret": SECRET,
    "incident_channel": INCIDENT,
    "pagerduty_secret": PD_SECRET,
    "github_secret": GH_SECRET,
    "max_body_bytes": 16_384,
}
ROUTES = (
    "alertmanager",
    "grafana",
    "pagerduty",
    "datadog",
    "opsgenie",
    "github",
    "argocd",
    "changes",
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotWorld]:
    """One bot for the module: a refused request changes nothing, so they can share it."""
    with BotWorld(tmp_path_factory.mktemp("refusals"), extra={"webhooks": WEBHOOKS}) as running:
        yield running


def hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def proof(route: str, body: bytes) -> dict[str, str]:
    """The headers that authenticate ``body`` to ``/webhooks/<route>``."""
    if route == "pagerduty":
        return {"X-PagerDuty-Signature": f"v1={hmac_hex(PD_SECRET, body)}"}
    if route == "github":
        return {
            "X-Hub-Signature-256": f"sha256={hmac_hex(GH_SECRET, body)}",
            "X-GitHub-Event": "deployment_status",
        }
    return {"Authorization": f"Bearer {SECRET}"}


def post(world: BotWorld, route: str, body: bytes, **headers: str) -> Any:
    return world.http.post(
        f"/webhooks/{route}",
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )


def nothing_recorded(world: BotWorld) -> bool:
    """No plan and no change were stored."""
    world.settle()
    store = world.services.store
    return store.plans.recent() == [] and store.incidents.changes_of("checkoutservice") == []


def test_the_fixtures_signatures_are_the_documented_ones():
    """The documented signatures are HMAC-SHA256 of the fixture bytes with the test secrets, so
    a route that accepts them verifies what PagerDuty and GitHub really send."""
    assert f"v1={hmac_hex(PD_SECRET, PD_FIXTURE)}" == PD_FIXTURE_SIGNATURE
    assert f"sha256={hmac_hex(GH_SECRET, GH_FIXTURE)}" == GH_FIXTURE_SIGNATURE


@pytest.mark.parametrize(
    ("webhooks", "route", "setting"),
    [
        ({}, "alertmanager", "webhooks.secret and webhooks.incident_channel"),
        ({}, "argocd", "webhooks.secret"),
        ({}, "changes", "webhooks.secret"),
        ({}, "pagerduty", "webhooks.pagerduty_secret and webhooks.incident_channel"),
        ({}, "github", "webhooks.github_secret"),
        ({"secret": SECRET}, "grafana", "webhooks.incident_channel"),
        (
            {"secret": SECRET, "incident_channel": INCIDENT},
            "pagerduty",
            "webhooks.pagerduty_secret",
        ),
        ({"secret": SECRET, "incident_channel": INCIDENT}, "github", "webhooks.github_secret"),
    ],
)
def test_a_route_whose_settings_are_missing_answers_404_naming_them(
    tmp_path, webhooks, route, setting
):
    """Until its secret (and, for alerts, the incident channel) is set, a route is not there,
    and says what to set."""
    with BotWorld(tmp_path, extra={"webhooks": webhooks}) as unconfigured:
        body = b'{"hello": "world"}'
        response = post(unconfigured, route, body, **proof(route, body))
        assert response.status_code == 404
        assert f"/webhooks/{route} is not configured (set {setting}" in response.text


@pytest.mark.parametrize("route", ROUTES)
def test_a_request_without_proof_is_401_saying_where_the_proof_goes(world, route):
    """No secret or signature: 401 naming the header the sender must send, nothing recorded."""
    response = post(world, route, b'{"hello": "world"}')
    assert response.status_code == 401
    expected = {
        "pagerduty": "X-PagerDuty-Signature",
        "github": "X-Hub-Signature-256",
    }.get(route, "Authorization: Bearer <secret>")
    assert expected in response.text
    assert nothing_recorded(world)


@pytest.mark.parametrize(
    ("route", "body", "headers"),
    [
        ("pagerduty", PD_FIXTURE, {"X-PagerDuty-Signature": f"v1={hmac_hex('wrong', PD_FIXTURE)}"}),
        ("pagerduty", PD_FIXTURE + b" ", {"X-PagerDuty-Signature": PD_FIXTURE_SIGNATURE}),
        ("pagerduty", PD_FIXTURE, {"X-PagerDuty-Signature": PD_FIXTURE_SIGNATURE[3:]}),
        ("pagerduty", PD_FIXTURE, {"Authorization": f"Bearer {SECRET}"}),
        ("github", GH_FIXTURE, {"X-Hub-Signature-256": f"sha256={hmac_hex('x', GH_FIXTURE)}"}),
        ("github", GH_FIXTURE, {"X-Hub-Signature": f"sha1={hmac_hex(GH_SECRET, GH_FIXTURE)}"}),
        ("github", GH_FIXTURE + b"\n", {"X-Hub-Signature-256": GH_FIXTURE_SIGNATURE}),
        ("github", GH_FIXTURE, {"X-Hub-Signature-256": GH_FIXTURE_SIGNATURE.upper()}),
        ("argocd", b"{}", {"Authorization": "Bearer wrong"}),
        ("changes", b"[]", {"X-Backout-Token": SECRET[:-1]}),
        ("datadog", b"{}", {"Authorization": f"Basic {SECRET}"}),
    ],
    ids=[
        "pd-wrong-secret",
        "pd-body-changed",
        "pd-no-v1-prefix",
        "pd-shared-secret-instead",
        "gh-wrong-secret",
        "gh-sha1-only",
        "gh-body-changed",
        "gh-uppercase",
        "shared-wrong",
        "shared-truncated",
        "shared-basic-scheme",
    ],
)
def test_a_forged_proof_is_401(world, route, body, headers):
    """A signature of another body or with another secret, a legacy SHA-1 signature, the shared
    secret on a signing sender's route, a wrong or mangled secret: all 401."""
    assert post(world, route, body, **headers).status_code == 401
    assert nothing_recorded(world)


def test_pagerduty_s_rotation_header_passes_when_any_signature_matches(tmp_path):
    """During a secret rotation PagerDuty lists several signatures: one matching is enough."""
    event = json.loads(PD_FIXTURE)
    event["event"]["occurred_at"] = datetime.now(UTC).isoformat()
    body = json.dumps(event).encode()
    with BotWorld(tmp_path, extra={"webhooks": WEBHOOKS}) as fresh:
        rotating = f"v1={hmac_hex('old-secret', body)},v1={hmac_hex(PD_SECRET, body)}"
        response = post(fresh, "pagerduty", body, **{"X-PagerDuty-Signature": rotating})
        assert response.status_code == 200
        assert response.json()["alerts"] == 1


@pytest.mark.parametrize("route", ROUTES)
def test_a_body_over_the_limit_is_413(world, route):
    """Above ``webhooks.max_body_bytes`` every route refuses the body, whatever its proof."""
    body = b"{" + b" " * 20_000 + b"}"
    response = post(world, route, body, **proof(route, body))
    assert response.status_code == 413
    assert "too large (limit 16384 bytes)" in response.text


BAD_BODIES = [
    (b'{"receiver": "backout", "alerts": [', "malformed JSON (truncated?)"),
    (b"<html><body>502 Bad Gateway</body></html>", "HTML"),
    (b"[" * 2000 + b"]" * 2000, "JSON nested too deeply"),
    (b"", "empty body"),
    (b"  \n", "empty body"),
    (b"\xff\xfe{}", "not UTF-8"),
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("body", "reason"), BAD_BODIES, ids=lambda v: str(v)[:12])
def test_a_body_that_is_no_json_is_400_with_the_reason(world, route, body, reason):
    """Truncated JSON, a proxy's HTML page, absurd nesting, nothing, bytes that are no text:
    400 saying which, on every route, never a 500."""
    response = post(world, route, body, **proof(route, body))
    assert response.status_code == 400
    assert reason in response.text
    assert nothing_recorded(world)


WRONG_SHAPE = {
    "alertmanager": "not a recognised alert payload",
    "grafana": "not a recognised alert payload",
    "pagerduty": "not a recognised alert payload",
    "datadog": "not a recognised alert payload",
    "opsgenie": "not a recognised alert payload",
    "github": "GitHub deployment_status: deployment_status is missing",
    "argocd": "Argo CD notification: app is missing",
    "changes": "not Backout's change list: item 0: field 'id'",
}


@pytest.mark.parametrize("route", ROUTES)
def test_a_body_of_the_wrong_shape_for_its_route_is_400_naming_the_problem(world, route):
    """Valid JSON that is not what the route takes: 400 naming the sender and the field."""
    body = b'{"hello": "world"}'
    response = post(world, route, body, **proof(route, body))
    assert response.status_code == 400
    assert WRONG_SHAPE[route] in response.text
    assert nothing_recorded(world)


@pytest.mark.parametrize(
    ("route", "fixture", "belongs"),
    [
        ("alertmanager", "grafana", "Grafana's (post it to /webhooks/grafana)"),
        ("datadog", "opsgenie", "Opsgenie's (post it to /webhooks/opsgenie)"),
        ("grafana", "alertmanager", "Alertmanager's (post it to /webhooks/alertmanager)"),
        ("opsgenie", "datadog", "Datadog's (post it to /webhooks/datadog)"),
        ("pagerduty", "alertmanager", "Alertmanager's (post it to /webhooks/alertmanager)"),
    ],
)
def test_another_sender_s_alerts_are_400_naming_their_route(world, route, fixture, belongs):
    """An alert body of another format is refused, saying where it belongs."""
    body = (FIXTURES / "alerts" / f"{fixture}.json").read_bytes()
    response = post(world, route, body, **proof(route, body))
    assert response.status_code == 400
    assert belongs in response.text
    assert nothing_recorded(world)


def test_an_argocd_body_that_is_no_json_says_to_wrap_values_in_tojson(world):
    """Argo CD's catalog templates paste values unquoted (or break on a quote inside one): the
    400 says the template must use toJson."""
    body = b'{"app": checkoutservice-prod, "operation_message": "sync "failed""}'
    response = post(world, "argocd", body, **proof("argocd", body))
    assert response.status_code == 400
    assert "malformed JSON" in response.text
    assert "wrap every value in toJson" in response.text


def test_a_github_delivery_without_its_event_header_is_400(world):
    """A signed body without X-GitHub-Event cannot be read as any event."""
    response = post(world, "github", GH_FIXTURE, **{"X-Hub-Signature-256": GH_FIXTURE_SIGNATURE})
    assert response.status_code == 400
    assert "X-GitHub-Event" in response.text
    assert nothing_recorded(world)


def test_a_failure_while_handling_is_503_with_a_logged_reference(tmp_path, caplog):
    """When the store fails under a valid request, the sender gets 503 and a reference that the
    bot's log carries with the traceback; the route works again once the store does."""
    change = {"id": "c-1", "service": "cartservice", "at": "2026-12-01T10:00:00Z"}
    body = json.dumps(change).encode()
    with BotWorld(tmp_path, extra={"webhooks": WEBHOOKS}) as fresh:
        with fresh.services.store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE changes RENAME TO changes_gone")
        with caplog.at_level(logging.ERROR, logger="bot.slack.webhooks"):
            response = post(fresh, "changes", body, **proof("changes", body))
        assert response.status_code == 503
        ref = response.text.split("(ref ")[1].split(")")[0]
        logged = [r for r in caplog.records if ref in r.getMessage()]
        assert logged
        assert logged[0].exc_info is not None
        with fresh.services.store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE changes_gone RENAME TO changes")
        assert post(fresh, "changes", body, **proof("changes", body)).status_code == 200
