"""HttpFlagExecutor against FakeFlagService: both presets, escaping, templates, auth, state."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from fakes.flags import FakeFlagService
from integrations.base import Operation
from integrations.errors import (
    ConfigError,
    NotFoundError,
    UnauthorizedError,
    UnavailableError,
)
from integrations.executors.feature_flags import HttpFlagExecutor
from planners.model import Action

CREDENTIAL = "flag-api-key"


@pytest.fixture
def fake() -> Iterator[FakeFlagService]:
    with FakeFlagService(token=CREDENTIAL) as server:
        server.add_flag("new-checkout", environments={"production": True, "staging": True})
        yield server


def executor_for(fake: FakeFlagService, **config: Any) -> HttpFlagExecutor:
    return HttpFlagExecutor.from_config({"base_url": fake.base_url, "token": CREDENTIAL, **config})


def disable(flag: str | None = "new-checkout", **params: str) -> Operation:
    return Operation(
        step_id="s1", action=Action.DISABLE_FLAG, service="checkout", params=params, flag=flag
    )


def test_unleash_turns_the_flag_off_in_one_environment(fake: FakeFlagService) -> None:
    """The Unleash preset POSTs to .../environments/production/off with the raw token."""
    outcome = executor_for(fake, preset="unleash").execute(disable())
    write = fake.writes()[0]
    assert (write.method, write.raw_path) == (
        "POST",
        "/api/admin/projects/default/features/new-checkout/environments/production/off",
    )
    assert write.headers["authorization"] == CREDENTIAL
    assert not fake.is_on("new-checkout")
    assert fake.is_on("new-checkout", environment="staging")
    assert outcome.summary == "flag new-checkout turned off in production"


def test_launchdarkly_sends_a_semantic_patch(fake: FakeFlagService) -> None:
    """The LaunchDarkly preset PATCHes turnFlagOff with the semantic-patch content type."""
    executor_for(fake, preset="launchdarkly").execute(disable())
    write = fake.writes()[0]
    assert (write.method, write.raw_path) == ("PATCH", "/api/v2/flags/default/new-checkout")
    assert write.headers["content-type"] == (
        "application/json; domain-model=launchdarkly.semanticpatch"
    )
    assert write.body == {
        "environmentKey": "production",
        "comment": "Backout step s1",
        "instructions": [{"kind": "turnFlagOff"}],
    }
    assert not fake.is_on("new-checkout")


@pytest.mark.parametrize("preset", ["unleash", "launchdarkly"])
def test_flag_names_are_path_escaped(fake: FakeFlagService, preset: str) -> None:
    """A flag with a slash and a space stays one path segment and reaches the right flag."""
    fake.add_flag("team/new checkout", project="web shop")
    executor = executor_for(fake, preset=preset, project="web shop")
    executor.execute(disable("team/new checkout"))
    write = fake.writes()[0]
    assert "/web%20shop/" in write.raw_path
    assert "team%2Fnew%20checkout" in write.raw_path
    assert not fake.is_on("team/new checkout", project="web shop")
    assert fake.is_on("new-checkout")


def test_body_values_are_substituted_into_parsed_json(fake: FakeFlagService) -> None:
    """Quotes and braces in a flag name end up verbatim in a JSON string, never in raw JSON."""
    tricky = 'say "hi" {environment}", "kind": "x'
    fake.add_flag(tricky)
    executor = executor_for(
        fake,
        url="/api/v2/flags/{project}/{flag}",
        method="PATCH",
        content_type="application/json; domain-model=launchdarkly.semanticpatch",
        body='{"environmentKey": "{environment}", "comment": "off: {flag}",'
        ' "instructions": [{"kind": "turnFlagOff"}]}',
    )
    executor.execute(disable(tricky))
    body = fake.writes()[0].body
    assert body["comment"] == f"off: {tricky}"
    assert body["instructions"] == [{"kind": "turnFlagOff"}]
    assert not fake.is_on(tricky)


def test_current_state_reads_the_environment_from_params(fake: FakeFlagService) -> None:
    """The operation's environment param picks which environment's state counts."""
    executor = executor_for(fake, preset="unleash")
    operation = disable(environment="staging")
    assert executor.current_state(operation).current == "on"
    executor.execute(operation)
    assert executor.current_state(operation).at_target
    assert not executor.current_state(disable()).at_target


def test_preview_is_already_done_when_the_flag_is_off(fake: FakeFlagService) -> None:
    """A flag that is already off previews as done, and the preview sends no write."""
    fake.add_flag("new-checkout", environments={"production": False})
    preview = executor_for(fake, preset="launchdarkly").preview(disable())
    assert preview.already_done
    assert fake.writes() == []


def test_without_a_state_url_the_state_is_unknown(fake: FakeFlagService) -> None:
    """A custom request with no state_url is never reported at target, but still executes."""
    executor = executor_for(
        fake, url="/api/admin/projects/{project}/features/{flag}/environments/{environment}/off"
    )
    state = executor.current_state(disable())
    executor.execute(disable())
    assert not state.at_target and "state unknown" in state.detail
    assert not fake.is_on("new-checkout")


def test_an_accepted_request_that_leaves_the_flag_on_is_unavailable(fake: FakeFlagService) -> None:
    """If the service says OK but the flag reads on, the step is retried rather than trusted."""
    fake.fail_next(200, method="POST", body={})
    with pytest.raises(UnavailableError, match="still on"):
        executor_for(fake, preset="unleash").execute(disable())


def test_an_unknown_flag_is_not_found(fake: FakeFlagService) -> None:
    """A flag the service does not know answers 404: NotFoundError."""
    with pytest.raises(NotFoundError):
        executor_for(fake, preset="launchdarkly").execute(disable("no-such-flag"))


def test_an_unknown_environment_is_not_found(fake: FakeFlagService) -> None:
    """A state_path selection that matches no environment raises NotFoundError."""
    with pytest.raises(NotFoundError, match="name=qa"):
        executor_for(fake, preset="unleash").current_state(disable(environment="qa"))


def test_a_step_without_a_flag_is_a_config_error(fake: FakeFlagService) -> None:
    """disable_flag needs operation.flag; other actions are refused too. Nothing is sent."""
    executor = executor_for(fake, preset="unleash")
    with pytest.raises(ConfigError, match="names no flag"):
        executor.execute(disable(None))
    rollback = Operation(step_id="s2", action=Action.ROLLBACK_DEPLOY, service="checkout")
    with pytest.raises(ConfigError):
        executor.execute(rollback)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("auth", "accepted"),
    [
        ({"type": "bearer", "token": "abc"}, "Bearer abc"),
        ({"type": "basic", "username": "ops", "password": "pw"}, "Basic b3BzOnB3"),
        ({"type": "header", "name": "Authorization", "value": "raw-key"}, "raw-key"),
    ],
)
def test_auth_styles_reach_the_service(auth: dict[str, str], accepted: str) -> None:
    """Bearer, basic and named-header credentials are sent as configured."""
    assert base64.b64decode("b3BzOnB3") == b"ops:pw"
    with FakeFlagService(token=accepted) as fake:
        fake.add_flag("new-checkout")
        config = {"base_url": fake.base_url, "preset": "unleash", "auth": auth}
        HttpFlagExecutor.from_config(config).execute(disable())
        assert not fake.is_on("new-checkout")


def test_a_custom_header_is_sent_under_its_name(fake: FakeFlagService) -> None:
    """A header credential goes out under the configured name (the fake then refuses it)."""
    auth = {"type": "header", "name": "X-Api-Key", "value": "k1"}
    config = {"base_url": fake.base_url, "preset": "unleash", "auth": auth}
    with pytest.raises(UnauthorizedError):
        HttpFlagExecutor.from_config(config).execute(disable())
    assert fake.requests[0].headers["x-api-key"] == "k1"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"preset": "flagsmith"}, "unknown flag preset"),
        ({"url": "/flags/{flag}"}, "base_url"),
        ({"base_url": "http://127.0.0.1:9"}, "'url'"),
        ({"base_url": "http://127.0.0.1:9", "url": "/f", "body": "{not json"}, "not JSON"),
        ({"base_url": "http://127.0.0.1:9", "url": "/f", "auth": {"type": "magic"}}, "auth"),
        ({"base_url": "http://127.0.0.1:9", "url": "/f", "state_url": "/s"}, "state_path"),
    ],
)
def test_bad_configuration_is_a_config_error(config: dict[str, Any], message: str) -> None:
    """Misconfiguration is reported as ConfigError naming the problem."""
    with pytest.raises(ConfigError, match=message):
        HttpFlagExecutor.from_config(config)


def test_an_unknown_placeholder_is_a_config_error(fake: FakeFlagService) -> None:
    """A template naming a value nobody provides fails before any request is sent."""
    executor = executor_for(fake, url="/flags/{flag}/{region}")
    with pytest.raises(ConfigError, match="region"):
        executor.execute(disable())
    assert fake.requests == []


def test_a_state_path_that_is_not_a_boolean_is_a_config_error(fake: FakeFlagService) -> None:
    """state_path must lead to true/false; anything else is a configuration mistake."""
    executor = executor_for(fake, preset="launchdarkly", state_path="key")
    with pytest.raises(ConfigError, match="not true/false"):
        executor.current_state(disable())
