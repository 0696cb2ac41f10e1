"""Argo CD notifications made by Backout's template: a finished sync is a deploy of the service
the application names, at the version of its image."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from integrations.deploys import ChangeFormatError, Ignored
from integrations.deploys.argocd import parse_notification
from planners.model import Change, ChangeKind
from tests.support.paths import FIXTURES

FIXTURE = FIXTURES / "deploys" / "argocd_notification.json"


def notification(**fields: Any) -> dict[str, Any]:
    """The fixture's body with ``fields`` replaced."""
    body: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    body = copy.deepcopy(body)
    body.update(fields)
    return body


def parsed(body: dict[str, Any]) -> Change:
    change = parse_notification(body)
    assert isinstance(change, Change)
    return change


def test_the_fixture_is_a_deploy_of_checkoutservice_in_prod():
    """``checkoutservice-prod`` is checkoutservice in prod; its image's tag is the version; the
    sync finished at ``finished_at``; the synced revision is kept as a label."""
    change = parsed(notification())
    assert change.id.startswith("argocd-checkoutservice-prod-")
    assert (change.service, change.kind, change.to_version) == (
        "checkoutservice",
        ChangeKind.DEPLOY,
        "v1.8.2",
    )
    assert change.at == datetime(2026, 3, 17, 13, 56, 48, tzinfo=UTC)
    assert change.labels == ("env:prod", "revision:4be1c0d9f2a3e6b7c8d9e0f1a2b3c4d5e6f7a8b9")
    assert change.source == "argocd"
    assert "successfully synced" in change.summary
    assert change.failed is False


def test_the_same_notification_has_the_same_id_and_another_sync_another():
    """Argo CD sends once per revision: a repeat is the same change, a new sync a new one."""
    first = parsed(notification())
    assert parsed(notification()).id == first.id
    assert parsed(notification(sync_revision="0" * 40)).id != first.id


@pytest.mark.parametrize("phase", ["Failed", "Error"])
def test_a_failed_sync_is_a_failed_deploy(phase):
    """A sync operation that failed records the deploy, marked failed."""
    assert parsed(notification(operation_phase=phase)).failed is True


@pytest.mark.parametrize("phase", ["Running", "Terminating", None])
def test_a_sync_not_finished_records_nothing(phase):
    """A running sync, or none at all, is ignored, saying so."""
    result = parse_notification(notification(operation_phase=phase))
    assert isinstance(result, Ignored)
    assert "not finished" in result.reason


def test_the_version_comes_from_the_service_s_image_or_the_revision():
    """Among several images the service's tag wins; without a usable image, the revision."""
    images = ["docker.io/library/redis:7.2", "registry:5000/shop/checkoutservice:v1.9.0@sha256:ab"]
    assert parsed(notification(images=images)).to_version == "v1.9.0"
    assert (
        parsed(notification(images=None)).to_version == "4be1c0d9f2a3e6b7c8d9e0f1a2b3c4d5e6f7a8b9"
    )
    untagged = notification(images=["registry:5000/shop/checkoutservice", "x/y:1"])
    assert parsed(untagged).to_version == "4be1c0d9f2a3e6b7c8d9e0f1a2b3c4d5e6f7a8b9"


def test_a_template_may_name_the_service_and_environment():
    """An app without an environment suffix is the service itself; ``service`` and
    ``environment`` keys, when the team's template adds them, win."""
    assert parsed(notification(app="cartservice")).service == "cartservice"
    assert parsed(notification(app="cartservice")).labels[0].startswith("revision:")
    named = parsed(notification(app="shop-eu", service="frontend", environment="production"))
    assert (named.service, named.labels[0]) == ("frontend", "env:production")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"app": None}, "app is missing"),
        ({"app": "Checkout Service!"}, "not an Argo CD application name"),
        ({"source": "github"}, "expected 'argocd'"),
        ({"operation_phase": "Exploded"}, "not an Argo CD operation phase"),
        ({"finished_at": None, "started_at": None}, "finished_at is missing"),
        ({"finished_at": "13:56"}, "not a timestamp"),
        ({"images": "checkoutservice:v1"}, "not a list of strings"),
    ],
)
def test_a_body_not_from_our_template_is_refused_naming_the_field(fields, message):
    """Each problem raises ChangeFormatError naming the field."""
    with pytest.raises(ChangeFormatError, match=message) as caught:
        parse_notification(notification(**fields))
    assert str(caught.value).startswith("Argo CD notification: ")
