"""ArgoCDExecutor against FakeArgoCD: target choice, the auto-sync refusal, waiting, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from fakes.argocd import REFUSAL, FakeArgoCD
from integrations.base import Operation
from integrations.errors import (
    ConfigError,
    ConflictError,
    PermanentIntegrationError,
    TemporaryIntegrationError,
    UnauthorizedError,
    UnavailableError,
)
from integrations.executors.argocd import ArgoCDExecutor
from planners.model import Action
from tests.support.argocd import CREDENTIAL, REVISIONS, executor_for, rollback


@pytest.fixture
def fake() -> Iterator[FakeArgoCD]:
    with FakeArgoCD(token=CREDENTIAL) as server:
        server.add_app("cart", revisions=REVISIONS, auto_sync=True)
        yield server


@pytest.mark.parametrize("status", [400, 500])
def test_the_auto_sync_refusal_is_recognised_by_its_message(status: int) -> None:
    """Whether Argo CD refuses with 400 or 500, auto-sync is disabled and the rollback retried."""
    with FakeArgoCD(token=CREDENTIAL, refusal_status=status) as fake:
        fake.add_app("cart", revisions=REVISIONS, auto_sync=True)
        outcome = executor_for(fake).execute(rollback())
        assert fake.deployed_revision("cart") == "b" * 40
        assert not fake.auto_sync("cart")
        methods = [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.writes()]
        assert methods == [("POST", "rollback"), ("PATCH", "cart"), ("POST", "rollback")]
        patch = fake.writes()[1].body
        assert patch["patchType"] == "merge"
        assert json.loads(patch["patch"]) == {"spec": {"syncPolicy": {"automated": None}}}
        assert outcome.details["previous_automated"] == {"prune": True, "selfHeal": True}


def test_the_notes_warn_that_auto_sync_is_off_and_git_holds_the_bad_revision(
    fake: FakeArgoCD,
) -> None:
    """The humans learn that auto-sync is off, why, and that turning it back on is up to them."""
    outcome = executor_for(fake).execute(rollback())
    notes = " ".join(outcome.notes)
    assert "Auto-sync is now OFF for app cart" in notes
    assert "Git still holds the bad revision ccccccc" in notes
    assert "revert it in git" in notes
    assert "separate, explicit step" in notes


def test_without_auto_sync_nothing_is_patched_and_no_notes(fake: FakeArgoCD) -> None:
    """An application without auto-sync is rolled back with one request and no warnings."""
    fake.add_app("cart", revisions=REVISIONS, auto_sync=False)
    outcome = executor_for(fake).execute(rollback())
    assert [r.method for r in fake.writes()] == ["POST"]
    assert outcome.notes == ()
    assert outcome.summary == "app cart rolled back: revision ccccccc -> bbbbbbb (history id 1)"


def test_a_refusal_is_a_conflict_when_disabling_auto_sync_is_not_allowed(fake: FakeArgoCD) -> None:
    """With disable_auto_sync off, the refusal stops the step and auto-sync stays on."""
    with pytest.raises(ConflictError, match="auto-sync is enabled"):
        executor_for(fake, disable_auto_sync=False).execute(rollback())
    assert fake.auto_sync("cart")
    assert fake.deployed_revision("cart") == "c" * 40


def test_other_400s_are_not_taken_for_the_refusal(fake: FakeArgoCD) -> None:
    """A 400 with another message is a permanent error, and auto-sync is left alone."""
    fake.fail_next(400, method="POST", body={"error": "application cart does not have deployment"})
    with pytest.raises(PermanentIntegrationError, match="does not have deployment"):
        executor_for(fake).execute(rollback())
    assert fake.auto_sync("cart")
    assert [r.method for r in fake.writes()] == ["POST"]


def test_a_500_without_the_message_is_unavailable_and_patches_nothing(fake: FakeArgoCD) -> None:
    """A server error is retried later; it does not turn auto-sync off."""
    fake.fail_next(500, method="POST", body={"error": "etcdserver: request timed out"})
    with pytest.raises(UnavailableError):
        executor_for(fake).execute(rollback())
    assert fake.auto_sync("cart")


def test_a_failure_after_disabling_auto_sync_still_reports_it(fake: FakeArgoCD) -> None:
    """If the retried rollback fails, the error still says that auto-sync is now off."""
    fake.fail_next(400, method="POST", body={"error": REFUSAL})
    fake.fail_next(503, method="POST", body={"error": "upstream connect error"})
    with pytest.raises(UnavailableError, match="Auto-sync is now OFF for app cart") as caught:
        executor_for(fake).execute(rollback())
    assert "Git still holds the bad revision ccccccc" in str(caught.value)
    assert not fake.auto_sync("cart")


def test_a_refusal_that_persists_after_disabling_is_a_conflict(fake: FakeArgoCD) -> None:
    """If auto-sync comes back (an ApplicationSet re-enables it), the step fails clearly."""
    fake.fail_next(400, method="POST", body={"error": REFUSAL})
    fake.fail_next(400, method="POST", body={"error": REFUSAL})
    fake.add_app("cart", revisions=REVISIONS, auto_sync=False)
    with pytest.raises(ConflictError, match="still refuses"):
        executor_for(fake).execute(rollback())
    assert fake.deployed_revision("cart") == "c" * 40


def test_target_version_picks_its_history_entry(fake: FakeArgoCD) -> None:
    """A target_version (a short SHA here) names the entry to return to, not just the previous."""
    outcome = executor_for(fake).execute(rollback(target_version="aaaaaaa"))
    assert fake.deployed_revision("cart") == "a" * 40
    assert outcome.details["history_id"] == 0


def test_bad_version_picks_the_entry_before_it() -> None:
    """With only the bad version known, the target is the revision deployed before it."""
    with FakeArgoCD(token=CREDENTIAL) as fake:
        fake.add_app("cart", revisions=["r1", "r2", "r3", "r4"])
        executor_for(fake).execute(rollback(bad_version="r3"))
        assert fake.deployed_revision("cart") == "r2"


def test_preview_names_revisions_history_id_and_the_auto_sync_change(fake: FakeArgoCD) -> None:
    """The dry run reads like an operator's summary and warns about auto-sync."""
    preview = executor_for(fake).preview(rollback())
    assert preview.summary == "app cart: revision ccccccc -> bbbbbbb (history id 1)"
    assert any("auto-sync is on and would be disabled" in c for c in preview.changes)
    assert fake.writes() == []


def test_execute_twice_rolls_back_once(fake: FakeArgoCD) -> None:
    """A retried step finds the app rolled back already and sends nothing more."""
    executor = executor_for(fake)
    executor.execute(rollback())
    again = executor.execute(rollback())
    assert "already runs revision bbbbbbb" in again.summary
    assert [r.path.endswith("/rollback") for r in fake.writes()].count(True) == 2  # refused + retry
    assert executor.current_state(rollback()).at_target
    assert executor.preview(rollback()).already_done


def test_a_running_rollback_is_in_progress_and_waited_for() -> None:
    """While the rollback operation runs, current_state says in progress; execute waits for it."""
    with FakeArgoCD(token=CREDENTIAL, running_polls=2) as fake:
        fake.add_app("cart", revisions=REVISIONS)
        seen = []
        executor = executor_for(fake)
        executor._sleep = lambda _: seen.append(executor.current_state(rollback()))
        executor.execute(rollback())
        assert seen[0].in_progress and not seen[0].at_target
        assert fake.deployed_revision("cart") == "b" * 40


def test_a_rollback_that_never_finishes_is_unavailable() -> None:
    """After wait_timeout without Succeeded, the step raises UnavailableError (retried later)."""
    ticks = iter(range(0, 10_000, 10))
    with FakeArgoCD(token=CREDENTIAL, running_polls=1_000) as fake:
        fake.add_app("cart", revisions=REVISIONS)
        executor = executor_for(fake, wait_timeout=30.0, clock=lambda: float(next(ticks)))
        with pytest.raises(UnavailableError, match="not finished after 30s"):
            executor.execute(rollback())


def test_a_failed_sync_operation_is_permanent(fake: FakeArgoCD) -> None:
    """A rollback whose sync fails reports Argo CD's message."""
    fake.add_app("cart", revisions=REVISIONS)
    fake.fail_next_operation("cart", "Deployment.apps cart is invalid")
    with pytest.raises(PermanentIntegrationError, match="is invalid"):
        executor_for(fake).execute(rollback())


def test_another_operation_in_progress_is_temporary(fake: FakeArgoCD) -> None:
    """Argo CD's "another operation" answer is retried later, not a hard failure."""
    fake.add_app("cart", revisions=REVISIONS)
    fake.fail_next(400, method="POST", body={"error": "another operation is already in progress"})
    with pytest.raises(TemporaryIntegrationError):
        executor_for(fake).execute(rollback())


def test_application_namespace_and_project_are_sent(fake: FakeArgoCD) -> None:
    """The catalog's application, app_namespace and project reach every request."""
    fake.add_app("cart-prod", revisions=REVISIONS, project="shop")
    params = {"application": "cart-prod", "app_namespace": "teams", "project": "shop"}
    executor_for(fake).execute(rollback(params=params))
    get = fake.requests[0]
    assert get.path == "/api/v1/applications/cart-prod"
    assert get.query == {"appNamespace": "teams", "project": "shop"}
    body = fake.writes()[0].body
    assert body["appNamespace"] == "teams" and body["project"] == "shop"
    assert body["prune"] is False and body["id"] == 1


def test_a_wrong_project_is_refused(fake: FakeArgoCD) -> None:
    """An application outside the configured project answers 403: unauthorised."""
    with pytest.raises(UnauthorizedError):
        executor_for(fake).current_state(rollback(params={"project": "other"}))


def test_a_wrong_token_is_unauthorised(fake: FakeArgoCD) -> None:
    """from_config sends the token as a bearer token; a wrong one is refused."""
    executor = ArgoCDExecutor.from_config({"url": fake.base_url, "token": "wrong"})
    with pytest.raises(UnauthorizedError):
        executor.preview(rollback())


def test_from_config_requires_url_and_token() -> None:
    """A missing URL or token is a configuration error, not a KeyError."""
    with pytest.raises(ConfigError, match="url"):
        ArgoCDExecutor.from_config({"token": "x"})
    with pytest.raises(ConfigError, match="token"):
        ArgoCDExecutor.from_config({"url": "http://127.0.0.1:9"})


def test_other_actions_are_refused(fake: FakeArgoCD) -> None:
    """Argo CD rolls deploys back; asked to disable a flag it raises ConfigError."""
    operation = Operation(step_id="s2", action=Action.DISABLE_FLAG, service="cart", flag="f")
    with pytest.raises(ConfigError):
        executor_for(fake).execute(operation)
    assert fake.writes() == []
