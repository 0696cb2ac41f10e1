"""ArgoCDExecutor with operations already running and multi-source applications, against
FakeArgoCD keeping them as Argo CD does (one operation at a time; ``revisions`` lists)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.argocd import FakeArgoCD
from integrations.errors import (
    ConflictError,
    PermanentIntegrationError,
    TemporaryIntegrationError,
)
from integrations.executors.argocd import ArgoCDExecutor
from tests.support.argocd import CREDENTIAL, REVISIONS, executor_for, rollback

MULTI = [["a" * 40, "1.0.0"], ["b" * 40, "1.1.0"], ["c" * 40, "1.2.0"]]


@pytest.fixture
def fake() -> Iterator[FakeArgoCD]:
    with FakeArgoCD(token=CREDENTIAL) as server:
        server.add_app("cart", revisions=REVISIONS)
        yield server


def test_another_running_operation_is_not_taken_for_the_rollback(fake: FakeArgoCD) -> None:
    """A sync of the bad revision still running is not "in progress" towards the target, and
    without permission to terminate it the step fails at once, saying how to fix it."""
    fake.start_operation("cart", "c" * 40)
    executor = executor_for(fake)
    state = executor.current_state(rollback())
    assert not state.in_progress and not state.at_target
    assert "blocks the rollback" in " ".join(executor.preview(rollback()).changes)
    with pytest.raises(ConflictError, match="terminate_running_operation: true"):
        executor.execute(rollback())
    assert fake.writes() == []


def test_an_allowed_terminate_ends_the_operation_then_rolls_back(fake: FakeArgoCD) -> None:
    """With terminate_running_operation, the plan says so, the operation is terminated through
    DELETE .../operation, and the rollback then runs; the humans are told."""
    fake.start_operation("cart", "c" * 40)
    executor = executor_for(fake, terminate_running_operation=True)
    assert "would be terminated first" in " ".join(executor.preview(rollback()).changes)
    outcome = executor.execute(rollback())
    writes = [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.writes()]
    assert writes == [("DELETE", "operation"), ("POST", "rollback")]
    assert fake.deployed_revision("cart") == "b" * 40
    assert "terminated an operation syncing ccccccc" in " ".join(outcome.notes)


def test_from_config_reads_terminate_running_operation(fake: FakeArgoCD) -> None:
    """The option is off unless the configuration turns it on."""
    fake.start_operation("cart", "c" * 40)
    config = {"url": fake.base_url, "token": CREDENTIAL, "terminate_running_operation": True}
    ArgoCDExecutor.from_config(config).execute(rollback())
    assert fake.deployed_revision("cart") == "b" * 40


def test_a_multi_source_app_is_rolled_back_and_recognised_there() -> None:
    """History entries with revisions[] and no revision: target, wait and at_target all work."""
    with FakeArgoCD(token=CREDENTIAL, running_polls=1) as fake:
        fake.add_app("cart", revisions=MULTI)
        executor = executor_for(fake)
        executor.execute(rollback())
        assert fake.deployed_revision("cart") == f"{'b' * 40},1.1.0"
        assert executor.current_state(rollback(target_version="b" * 40)).at_target


def test_a_multi_source_running_rollback_is_in_progress() -> None:
    """The running operation's revisions[] are compared with the target's."""
    with FakeArgoCD(token=CREDENTIAL, running_polls=5) as fake:
        fake.add_app("cart", revisions=MULTI)
        executor = executor_for(fake, wait_timeout=0.0)
        with pytest.raises(TemporaryIntegrationError):
            executor.execute(rollback())  # gives up at once: the operation keeps running
        assert executor.current_state(rollback()).in_progress


def test_a_failed_multi_source_rollback_is_permanent_at_once() -> None:
    """A Failed operation whose revisions[] are the target's is recognised: no waiting out."""
    ticks = iter(range(0, 10_000, 10))
    with FakeArgoCD(token=CREDENTIAL) as fake:
        fake.add_app("cart", revisions=MULTI)
        fake.fail_next_operation("cart", "Deployment.apps cart is invalid")
        executor = executor_for(fake, wait_timeout=30.0, clock=lambda: float(next(ticks)))
        with pytest.raises(PermanentIntegrationError, match="is invalid") as caught:
            executor.execute(rollback())
        assert "not finished" not in str(caught.value)
