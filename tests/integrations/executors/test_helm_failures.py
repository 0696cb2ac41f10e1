"""HelmExecutor after failed upgrades, stuck releases, failed rollbacks and timeouts, against the
fake ``helm`` whose histories are the ones Helm's upgrade and rollback actions leave behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes.helm import FakeHelm
from integrations.base import Operation
from integrations.errors import ConfigError, UnavailableError
from integrations.executors.helm import HelmExecutor, helm_duration
from planners.model import Action

FAILED_UPGRADE = ["superseded", "deployed", "failed"]


def rollback(target_version: str | None = None) -> Operation:
    return Operation(
        step_id="s1",
        action=Action.ROLLBACK_DEPLOY,
        service="cart",
        target_version=target_version,
        key="plan-1:s1",
    )


def release(tmp_path: Path, statuses: list[str]) -> FakeHelm:
    helm = FakeHelm(tmp_path)
    helm.add_release("cart", app_versions=["1.4.1", "1.4.2", "1.5.0"], statuses=statuses)
    return helm


def rollbacks(helm: FakeHelm) -> list[list[str]]:
    return [c for c in helm.calls() if c[0] == "rollback"]


def test_after_a_failed_upgrade_the_revision_before_it_is_the_target(tmp_path: Path) -> None:
    """[1 superseded, 2 deployed, 3 failed]: revision 3 is current, so the rollback goes to 2
    (not to 1, one too far), as ``helm rollback cart`` would."""
    helm = release(tmp_path, FAILED_UPGRADE)
    executor = HelmExecutor(helm_binary=helm.binary)
    assert executor.preview(rollback()).summary.startswith(
        "release cart: revision 3 (cart-0.3.0, app 1.5.0) -> revision 2"
    )
    executor.execute(rollback())
    assert rollbacks(helm)[0][:3] == ["rollback", "cart", "2"]
    assert helm.history("cart")[-1]["app_version"] == "1.4.2"


def test_after_a_failed_upgrade_the_good_version_is_not_already_there(tmp_path: Path) -> None:
    """Given revision 2's version as target, the failed revision 3 is what runs: roll back."""
    helm = release(tmp_path, FAILED_UPGRADE)
    executor = HelmExecutor(helm_binary=helm.binary)
    assert not executor.current_state(rollback("1.4.2")).at_target
    assert not executor.preview(rollback("1.4.2")).already_done
    executor.execute(rollback("1.4.2"))
    assert rollbacks(helm)[0][:3] == ["rollback", "cart", "2"]
    assert executor.current_state(rollback("1.4.2")).at_target


@pytest.mark.parametrize("stuck", ["pending-upgrade", "pending-install"])
def test_a_release_stuck_pending_is_rolled_back_not_waited_for(tmp_path: Path, stuck: str) -> None:
    """A helm killed during --wait leaves pending-upgrade forever; rollback is the way out."""
    helm = release(tmp_path, ["superseded", "deployed", stuck])
    executor = HelmExecutor(helm_binary=helm.binary)
    state = executor.current_state(rollback())
    assert not state.in_progress
    assert not state.at_target
    assert f"revision 3 is {stuck}" in " ".join(executor.preview(rollback()).changes)
    executor.execute(rollback())
    assert rollbacks(helm)[0][:3] == ["rollback", "cart", "2"]
    assert helm.history("cart")[-1]["status"] == "deployed"


@pytest.mark.parametrize(
    "message", ["timed out waiting for the condition", "context deadline exceeded"]
)
def test_helm_3_and_4_timeouts_are_temporary(tmp_path: Path, message: str) -> None:
    """Helm 3's and Helm 4's words for a --wait that ran out are the same temporary error."""
    helm = release(tmp_path, FAILED_UPGRADE)
    helm.fail_next_rollback(message)
    with pytest.raises(UnavailableError, match=message):
        HelmExecutor(helm_binary=helm.binary).execute(rollback())


@pytest.mark.parametrize("stage", ["wait", "apply"])
def test_a_retry_after_a_failed_rollback_goes_to_the_same_revision(
    tmp_path: Path, stage: str
) -> None:
    """The retry re-reads the history (the failed rollback added revision 4) and rolls back to
    revision 2 again, never to the bad revision 3 that helm may have marked superseded."""
    helm = release(tmp_path, FAILED_UPGRADE)
    helm.fail_next_rollback(stage=stage)
    executor = HelmExecutor(helm_binary=helm.binary)
    with pytest.raises(UnavailableError):
        executor.execute(rollback())
    assert not executor.current_state(rollback()).at_target
    executor.execute(rollback())
    assert [c[2] for c in rollbacks(helm)] == ["2", "2"]
    assert helm.history("cart")[-1]["app_version"] == "1.4.2"
    assert executor.current_state(rollback()).at_target


def test_the_command_timeout_follows_the_wait_timeout(tmp_path: Path) -> None:
    """Without command_timeout, helm gets its --timeout plus 30 s; a shorter one is refused."""
    seen: list[float] = []
    helm = release(tmp_path, FAILED_UPGRADE)

    def runner(args: object, *, timeout: float) -> object:
        seen.append(timeout)
        raise OSError("not run")

    executor = HelmExecutor.from_config({"helm_binary": helm.binary, "wait_timeout": "10m"})
    executor._runner = runner  # type: ignore[assignment]
    with pytest.raises(ConfigError):
        executor.current_state(rollback())
    assert seen == [630.0]
    with pytest.raises(ConfigError, match="must exceed wait_timeout"):
        HelmExecutor.from_config({"wait_timeout": "5m", "command_timeout": 120})
    with pytest.raises(ConfigError, match="wait_timeout"):
        HelmExecutor.from_config({"wait_timeout": "five minutes"})
    assert helm_duration("1h2m3.5s") == 3723.5


def test_a_helm_past_its_time_gets_sigterm_first(tmp_path: Path) -> None:
    """A helm still running at command_timeout is sent SIGTERM (so it can record the release's
    failure) before anything harsher."""
    helm = release(tmp_path, FAILED_UPGRADE)
    helm.fail_next("late", sleep=30.0)
    executor = HelmExecutor(helm_binary=helm.binary, wait_timeout="0.1s", command_timeout=1.0)
    with pytest.raises(UnavailableError, match="was stopped"):
        executor.current_state(rollback())
    assert helm.state()["terminated"] == 1
