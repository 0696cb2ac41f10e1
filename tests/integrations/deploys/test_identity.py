"""One deploy told by several sources: same service, version, environment, close in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.deploys import SAME_DEPLOY_WINDOW, environment_of, is_production, same_deploy
from integrations.deploys.environment import same_environment, split_environment
from integrations.deploys.identity import same_version
from planners.model import Change, ChangeKind

AT = datetime(2026, 3, 17, 13, 55, 41, tzinfo=UTC)


def deploy(
    change_id: str,
    *,
    version: str = "v1.8.2",
    minutes: float = 0,
    env: str | None = None,
    service: str = "checkoutservice",
    kind: ChangeKind = ChangeKind.DEPLOY,
    source: str | None = None,
) -> Change:
    """A deploy reported by ``source`` (by default named like its id)."""
    return Change(
        id=change_id,
        source=change_id if source is None else source,
        service=service,
        kind=kind,
        at=AT + timedelta(minutes=minutes),
        to_version=version,
        labels=(f"env:{env}",) if env else (),
    )


def test_ci_and_argocd_reports_of_one_release_are_one_deploy():
    """Same service and version, a minute apart, ``production`` and ``prod``: one deploy."""
    assert same_deploy(deploy("gh", env="production"), deploy("argo", minutes=1.1, env="prod"))


@pytest.mark.parametrize(
    ("other", "why"),
    [
        (deploy("b", version="v1.8.3"), "another version"),
        (deploy("b", service="cartservice"), "another service"),
        (deploy("b", env="staging"), "another environment"),
        (deploy("b", minutes=SAME_DEPLOY_WINDOW.total_seconds() / 60 + 1), "too far apart"),
        (deploy("b", kind=ChangeKind.CONFIG), "not a deploy"),
        (deploy("b", version=""), "no version"),
        (deploy("b", source="a"), "the same source"),
    ],
)
def test_records_that_differ_are_different_deploys(other, why):
    """Anything that tells them apart keeps them apart."""
    assert not same_deploy(deploy("a", env="production"), other), why


def test_an_environment_only_one_source_names_does_not_tell_them_apart():
    """A Slack message names no environment: it may be CI's deploy to production."""
    assert same_deploy(deploy("slack"), deploy("gh", env="production"))


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("v1.8.2", "1.8.2", True),
        ("V1.8.2", "v1.8.2", True),
        ("3f9c2ab", "3f9c2ab41d0e", True),
        ("3F9C2AB", "3f9c2ab", True),
        ("v1.8.2", "v1.8.20", False),
        ("1.8", "1.8.0", False),
        ("3f9c2ab", "3f9c2ac", False),
        ("release-v1", "release-1", False),
    ],
)
def test_versions_match_as_people_write_them(first, second, same):
    """A leading ``v`` and the case do not matter; a short sha matches its full form."""
    assert same_version(first, second) is same


def test_environments():
    """Labels carry the environment; production-like names and their variants count; the usual
    abbreviations name the same environment; an app's suffix names one."""
    assert environment_of(deploy("a", env="prod-eu1")) == "prod-eu1"
    assert environment_of(deploy("a")) is None
    assert is_production("prod-eu1") and is_production("Production") and is_production("live")
    assert not is_production("staging") and not is_production("preprod")
    assert is_production("prd", ["prd"])
    assert same_environment("prod", "Production") and not same_environment("prod", "prod-eu1")
    assert split_environment("checkoutservice-prod") == ("checkoutservice", "prod")
    assert split_environment("payments-eu") == ("payments-eu", None)
    with pytest.raises(TypeError):
        is_production("prod", "production")
