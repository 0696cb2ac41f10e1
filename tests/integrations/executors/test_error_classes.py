"""How the executors classify what servers answer: Retry-After as a date, 408, a 403 that is a
missing permission (not bad credentials), Unleash's change requests, LaunchDarkly's headers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from fakes.argocd import FakeArgoCD
from fakes.flags import FakeFlagService
from integrations.base import Operation
from integrations.errors import (
    ConflictError,
    ForbiddenError,
    RateLimitedError,
    UnavailableError,
)
from integrations.executors.argocd import ArgoCDExecutor
from integrations.executors.feature_flags import HttpFlagExecutor
from integrations.http import retry_after
from planners.model import Action

CREDENTIAL = "flag-api-key"


@pytest.fixture
def flags() -> Iterator[FakeFlagService]:
    with FakeFlagService(token=CREDENTIAL) as server:
        server.add_flag("new-checkout")
        yield server


def flag_executor(fake: FakeFlagService, **config: Any) -> HttpFlagExecutor:
    return HttpFlagExecutor.from_config({"base_url": fake.base_url, "token": CREDENTIAL, **config})


def disable() -> Operation:
    return Operation(
        step_id="s1", action=Action.DISABLE_FLAG, service="checkout", flag="new-checkout"
    )


def test_retry_after_may_be_an_http_date() -> None:
    """RFC 9110 allows Retry-After as an HTTP date: it becomes the seconds until then."""
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert retry_after({"retry-after": later}, now=now.timestamp) == 90.0
    assert retry_after({"retry-after": "12"}) == 12.0
    assert retry_after({"retry-after": "soon"}) is None


def test_a_408_is_temporary(flags: FakeFlagService) -> None:
    """Request Timeout means "try again", not "this will never work"."""
    flags.fail_next(408, method="POST")
    with pytest.raises(UnavailableError):
        flag_executor(flags, preset="unleash").execute(disable())


def test_a_rate_limit_with_a_date_gets_its_wait(flags: FakeFlagService) -> None:
    """A 429 whose Retry-After is a date is retried after that wait, not the default."""
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    flags.fail_next(429, method="POST", headers={"Retry-After": later})
    with pytest.raises(RateLimitedError) as caught:
        flag_executor(flags, preset="unleash").execute(disable())
    assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 120


def test_launchdarkly_sends_its_api_version_and_honours_its_reset(flags: FakeFlagService) -> None:
    """LD-API-Version goes with every call; X-Ratelimit-Reset (epoch ms) sets the wait."""
    reset = int((datetime.now(UTC) + timedelta(seconds=60)).timestamp() * 1000)
    flags.fail_next(429, method="PATCH", headers={"X-Ratelimit-Reset": str(reset)})
    executor = flag_executor(flags, preset="launchdarkly")
    with pytest.raises(RateLimitedError) as caught:
        executor.execute(disable())
    assert caught.value.retry_after is not None and 40 < caught.value.retry_after <= 60
    executor.execute(disable())
    assert all(r.headers.get("ld-api-version") == "20240415" for r in flags.requests)


def test_unleash_change_requests_are_not_a_credentials_problem(flags: FakeFlagService) -> None:
    """Unleash's 403 for an environment with change requests says what to do about it."""
    flags.change_requests.add(("default", "production"))
    with pytest.raises(ConflictError, match="requires a change request"):
        flag_executor(flags, preset="unleash").execute(disable())


def test_argocd_permission_denied_is_a_missing_permission() -> None:
    """Argo CD's 403 "permission denied" is a ForbiddenError that says the token was accepted."""
    with FakeArgoCD(token="t") as fake:
        fake.add_app("cart", revisions=["a" * 40, "b" * 40])
        executor = ArgoCDExecutor.from_config({"url": fake.base_url, "token": "t"})
        operation = Operation(
            step_id="s1", action=Action.ROLLBACK_DEPLOY, service="cart", params={"project": "x"}
        )
        with pytest.raises(ForbiddenError, match="accepted but lack this permission"):
            executor.current_state(operation)
