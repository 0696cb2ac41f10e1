"""GitHub ``deployment_status`` events: what a finished deployment records, what is ignored, and
what is refused with the field named."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from integrations.deploys import ChangeFormatError, Ignored
from integrations.deploys.github import parse_deployment_status
from planners.model import Change, ChangeKind
from tests.support.paths import FIXTURES

FIXTURE = FIXTURES / "deploys" / "github_deployment_status.json"


def event(**status: Any) -> dict[str, Any]:
    """The fixture's event, its ``deployment_status`` fields replaced by ``status``."""
    body: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    body = copy.deepcopy(body)
    body["deployment_status"].update(status)
    return body


def parsed(body: dict[str, Any]) -> Change:
    change = parse_deployment_status(body)
    assert isinstance(change, Change)
    return change


def test_the_fixture_is_a_deploy_of_checkoutservice():
    """A successful deployment is a deploy of the repository's service from the previous image's
    tag to the new one, at the status time, with its environment and commit as labels."""
    change = parsed(event())
    assert change.id == "github-1873201456-success"
    assert (change.service, change.kind) == ("checkoutservice", ChangeKind.DEPLOY)
    assert (change.from_version, change.to_version) == ("v1.8.1", "v1.8.2")
    assert change.at == datetime(2026, 3, 17, 13, 55, 41, tzinfo=UTC)
    assert change.actor == "github-actions[bot]"
    assert change.source == "github"
    assert change.labels == ("env:production", "sha:9f3c2e1b7a5d4c0e8f6a2b1c3d4e5f60718293a4")
    assert change.summary.startswith("Deployed v1.8.2 to production (4/4 pods ready) (https://")
    assert change.failed is False


@pytest.mark.parametrize("state", ["failure", "error"])
def test_a_failed_deployment_is_a_failed_deploy_with_its_own_id(state):
    """``failure`` and ``error`` record the deploy, marked failed, under an id of its own."""
    change = parsed(event(state=state))
    assert change.failed is True
    assert change.id == f"github-1873201456-{state}"
    assert change.to_version == "v1.8.2"


@pytest.mark.parametrize("state", ["pending", "queued", "in_progress", "inactive"])
def test_a_deployment_not_finished_records_nothing(state):
    """A deployment under way (or made inactive by a later one) is ignored, saying its state."""
    result = parse_deployment_status(event(state=state))
    assert isinstance(result, Ignored)
    assert repr(state) in result.reason


def test_the_workflow_may_name_the_service_and_version():
    """``deployment.payload.service`` and ``version`` win over the repository and the image."""
    body = event()
    body["deployment"]["payload"].update({"service": "cartservice", "version": "2.0.0"})
    change = parsed(body)
    assert (change.service, change.to_version) == ("cartservice", "2.0.0")


def test_without_the_workflow_s_keys_the_ref_or_the_commit_is_the_version():
    """A version tag as ``ref`` is the version; a branch is not, and the commit is taken."""
    body = event()
    body["deployment"]["payload"] = "free text"  # GitHub allows a string payload
    assert parsed(body).to_version == "v1.8.2"  # the ref
    assert parsed(body).from_version is None
    body["deployment"]["ref"] = "main"
    assert parsed(body).to_version == "9f3c2e1b7a5d4c0e8f6a2b1c3d4e5f60718293a4"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.pop("deployment_status"), "deployment_status is missing"),
        (lambda b: b["deployment_status"].update(state="exploded"), "not a GitHub deployment"),
        (lambda b: b["deployment_status"].update(created_at="yesterday"), "not a timestamp"),
        (lambda b: b["deployment_status"].update(created_at="2026-03-17T13:55:41"), "timezone"),
        (lambda b: b["deployment"].update(id=None), "deployment.id is missing"),
        (lambda b: b["repository"].update(name=["x"]), "repository.name is not a string"),
        (lambda b: b.update(deployment="v1.8.2"), "deployment is not an object"),
    ],
)
def test_a_malformed_event_is_refused_naming_the_field(mutate, message):
    """Each problem raises ChangeFormatError naming the sender and the field."""
    body = event()
    mutate(body)
    with pytest.raises(ChangeFormatError, match=message) as caught:
        parse_deployment_status(body)
    assert str(caught.value).startswith("GitHub deployment_status: ")


@pytest.mark.parametrize("payload", [[], "deployment", None, 7])
def test_a_body_that_is_no_object_is_refused(payload):
    """A list, a string, null or a number is not an event."""
    with pytest.raises(ChangeFormatError, match="not a JSON object"):
        parse_deployment_status(payload)
