"""HelmExecutor against a fake ``helm`` script: revision choice, the command line, error mapping."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from fakes.helm import FakeHelm
from integrations.base import Operation
from integrations.errors import (
    ConfigError,
    NotFoundError,
    PermanentIntegrationError,
    UnavailableError,
)
from integrations.executors.helm import HelmExecutor
from planners.model import Action


@pytest.fixture
def helm(tmp_path: Path) -> FakeHelm:
    fake = FakeHelm(tmp_path)
    fake.add_release("cart", app_versions=["1.4.1", "1.4.2", "1.5.0"], namespace="shop")
    return fake


def rollback(target_version: str | None = None, **params: str) -> Operation:
    return Operation(
        step_id="s1",
        action=Action.ROLLBACK_DEPLOY,
        service="cart",
        params={"namespace": "shop", **params},
        target_version=target_version,
        key="plan-1:s1",
    )


def test_an_integer_target_version_is_the_revision(helm: FakeHelm) -> None:
    """target_version "1" rolls back to revision 1 with --wait, the timeout and the namespace."""
    outcome = HelmExecutor(helm_binary=helm.binary).execute(rollback("1"))
    assert helm.calls()[-1] == [
        "rollback",
        "cart",
        "1",
        "--wait",
        "--timeout",
        "5m0s",
        "--namespace",
        "shop",
    ]
    assert helm.deployed("cart")["app_version"] == "1.4.1"
    assert outcome.details["revision"] == 1
    assert "Happy Helming" in outcome.details["output"]


def test_without_a_version_the_previous_good_revision_is_chosen(tmp_path: Path) -> None:
    """A failed revision is skipped: the target is the last deployed/superseded one before."""
    helm = FakeHelm(tmp_path)
    helm.add_release(
        "cart",
        app_versions=["1.0", "1.1", "1.2", "1.3"],
        statuses=["superseded", "superseded", "failed", "deployed"],
    )
    operation = Operation(step_id="s1", action=Action.ROLLBACK_DEPLOY, service="cart")
    HelmExecutor(helm_binary=helm.binary).execute(operation)
    assert helm.calls()[-1][:3] == ["rollback", "cart", "2"]
    assert helm.deployed("cart")["app_version"] == "1.1"


def test_an_app_version_names_its_revision(helm: FakeHelm) -> None:
    """A "v1.4.2" target matches the revision whose app_version is 1.4.2."""
    executor = HelmExecutor(helm_binary=helm.binary)
    assert not executor.current_state(rollback("v1.4.2")).at_target
    executor.execute(rollback("v1.4.2"))
    assert helm.calls()[-1][:3] == ["rollback", "cart", "2"]
    assert executor.current_state(rollback("v1.4.2")).at_target


def test_a_rolled_back_release_is_at_target_and_not_rolled_back_again(helm: FakeHelm) -> None:
    """After a version-less rollback, the "Rollback to N" revision counts as the target."""
    executor = HelmExecutor(helm_binary=helm.binary)
    executor.execute(rollback())
    state = executor.current_state(rollback())
    again = executor.execute(rollback())
    assert state.at_target
    assert (
        again.summary
        == "release cart already runs revision 4 (cart-0.2.0, app 1.4.2, rollback to 2)"
    )
    assert [c[0] for c in helm.calls()].count("rollback") == 1
    assert helm.deployed("cart")["revision"] == 4


def test_preview_shows_the_command_and_runs_only_history(helm: FakeHelm) -> None:
    """The dry run names both revisions and the exact command, and changes nothing."""
    preview = HelmExecutor(helm_binary=helm.binary).preview(rollback())
    assert preview.summary == (
        "release cart: revision 3 (cart-0.3.0, app 1.5.0) -> revision 2 (cart-0.2.0, app 1.4.2)"
    )
    assert preview.changes == (
        f"{helm.binary} rollback cart 2 --wait --timeout 5m0s --namespace shop",
    )
    assert [c[0] for c in helm.calls()] == ["history"]
    assert helm.deployed("cart")["revision"] == 3


def test_a_pending_rollback_to_the_target_is_in_progress(tmp_path: Path) -> None:
    """A release whose latest revision is a pending rollback to the target is moving."""
    helm = FakeHelm(tmp_path)
    helm.add_release(
        "cart",
        app_versions=["1.0", "1.1", "1.0"],
        statuses=["superseded", "deployed", "pending-rollback"],
        descriptions={3: "Rollback to 1"},
    )
    operation = Operation(
        step_id="s1", action=Action.ROLLBACK_DEPLOY, service="cart", target_version="1"
    )
    state = HelmExecutor(helm_binary=helm.binary).current_state(operation)
    assert state.in_progress
    assert not state.at_target
    assert state.current == "revision 3 (cart-0.3.0, app 1.0, rollback to 1)"


def test_an_unknown_release_is_not_found(helm: FakeHelm) -> None:
    """helm's "release: not found" becomes NotFoundError, also for the wrong namespace."""
    executor = HelmExecutor(helm_binary=helm.binary)
    with pytest.raises(NotFoundError):
        executor.execute(rollback(release="nope"))
    with pytest.raises(NotFoundError):
        executor.execute(rollback(namespace="other"))


def test_an_unknown_revision_is_not_found(helm: FakeHelm) -> None:
    """A revision number the history does not have is refused before anything runs."""
    with pytest.raises(NotFoundError, match="no revision 9"):
        HelmExecutor(helm_binary=helm.binary).execute(rollback("9"))
    assert [c[0] for c in helm.calls()] == ["history"]


def test_a_missing_binary_is_a_config_error(tmp_path: Path) -> None:
    """A helm_binary that does not exist is Backout's configuration problem."""
    executor = HelmExecutor(helm_binary=str(tmp_path / "no-helm"))
    with pytest.raises(ConfigError, match="cannot run helm binary"):
        executor.current_state(rollback())


def test_other_failures_carry_stderr(helm: FakeHelm) -> None:
    """An unrecognised helm failure is permanent, and its stderr is in the message."""
    helm.fail_next("Error: UPGRADE FAILED: template: cart/templates/x.yaml:3: bad")
    with pytest.raises(PermanentIntegrationError, match="template: cart/templates") as caught:
        HelmExecutor(helm_binary=helm.binary).execute(rollback())
    assert type(caught.value) is PermanentIntegrationError


def test_a_slow_helm_is_killed_and_unavailable(helm: FakeHelm) -> None:
    """A helm that outlives command_timeout raises UnavailableError."""
    helm.fail_next("late", sleep=3.0)
    executor = HelmExecutor(helm_binary=helm.binary, wait_timeout="0.1s", command_timeout=0.3)
    with pytest.raises(UnavailableError, match=r"timed out after 0\.3s"):
        executor.execute(rollback())


def test_the_runner_gets_an_argv_list_with_context_flags(helm: FakeHelm) -> None:
    """Commands go to the runner as argv (no shell), with the kube context and kubeconfig."""
    seen: list[list[str]] = []

    def runner(args: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        seen.append(list(args))
        return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)

    executor = HelmExecutor(
        helm_binary=helm.binary, runner=runner, kube_context="prod", kubeconfig="/etc/kube"
    )
    executor.current_state(rollback())
    context = ["--kube-context", "prod", "--kubeconfig", "/etc/kube"]
    assert seen == [[helm.binary, "history", "cart", "-o", "json", "--namespace", "shop", *context]]


def test_names_that_look_like_flags_are_refused(helm: FakeHelm) -> None:
    """A release or namespace starting with "-" cannot smuggle an option into helm."""
    executor = HelmExecutor(helm_binary=helm.binary)
    with pytest.raises(ConfigError):
        executor.execute(rollback(release="--kubeconfig=/tmp/evil"))
    with pytest.raises(ConfigError):
        executor.execute(rollback(namespace="-n"))
    assert helm.calls() == []


def test_from_config_reads_its_keys(helm: FakeHelm) -> None:
    """from_config takes helm_binary and the helm wait timeout."""
    executor = HelmExecutor.from_config({"helm_binary": helm.binary, "wait_timeout": "90s"})
    executor.execute(rollback())
    assert helm.calls()[-1][3:6] == ["--wait", "--timeout", "90s"]
