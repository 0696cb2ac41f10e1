"""The executor contract, checked for every executor against its fake.

Each executor runs against a stateful fake (FakeArgoCD, a fake ``helm`` script, FakeFlagService
in both dialects, a loopback webhook receiver, SimulatedExecutor's own targets): a preview
changes nothing, an execute reaches the target, and failures arrive as ``integrations.errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakes.argocd import FakeArgoCD
from fakes.flags import FakeFlagService
from fakes.helm import FakeHelm
from fakes.webhook import WebhookReceiver
from integrations.base import Executor, Operation
from integrations.errors import (
    ConflictError,
    IntegrationError,
    NotFoundError,
    UnauthorizedError,
    UnavailableError,
)
from integrations.executors.argocd import ArgoCDExecutor
from integrations.executors.feature_flags import HttpFlagExecutor
from integrations.executors.helm import HelmExecutor
from integrations.executors.simulated import SimulatedExecutor
from integrations.executors.webhook import WebhookExecutor
from planners.model import Action

ARGO_CREDENTIAL = "t0ken"
FLAG_CREDENTIAL = "flag-key"

ERRORS: dict[int, type[IntegrationError]] = {
    401: UnauthorizedError,
    404: NotFoundError,
    409: ConflictError,
    500: UnavailableError,
}

HELM_STDERR = {
    401: "Error: query: failed to query with labels: Unauthorized",
    404: "Error: release: not found",
    409: "Error: another operation (install/upgrade/rollback) is in progress",
    500: 'Error: Kubernetes cluster unreachable: Get "https://10.0.0.1:6443/version": '
    "dial tcp 10.0.0.1:6443: connect: connection refused",
}


@dataclass
class Harness:
    """An executor wired to its fake, and the knobs the contract needs."""

    executor: Executor
    operation: Operation
    snapshot: Callable[[], object]
    inject: Callable[[int], None]
    inject_timeout: Callable[[], None]


def _argocd(tmp_path: Path) -> Iterator[Harness]:
    with FakeArgoCD(token=ARGO_CREDENTIAL) as fake:
        fake.add_app("cartservice", revisions=["1111111", "2222222", "3333333"], auto_sync=True)
        executor = ArgoCDExecutor.from_config(
            {"url": fake.base_url, "token": ARGO_CREDENTIAL, "timeout": 0.5, "poll_interval": 0.01}
        )
        yield Harness(
            executor=executor,
            operation=_op(Action.ROLLBACK_DEPLOY, bad_version="3333333"),
            snapshot=lambda: (fake.app("cartservice"), fake.writes()),
            inject=lambda status: fake.fail_next(status),
            inject_timeout=lambda: fake.fail_next(200, delay=1.5),
        )


def _helm(tmp_path: Path) -> Iterator[Harness]:
    helm = FakeHelm(tmp_path)
    helm.add_release("cartservice", app_versions=["1.4.1", "1.4.2", "1.5.0"], namespace="shop")
    executor = HelmExecutor(helm_binary=helm.binary, wait_timeout="0.1s", command_timeout=0.5)
    yield Harness(
        executor=executor,
        operation=_op(Action.ROLLBACK_DEPLOY, target_version="v1.4.2", namespace="shop"),
        snapshot=lambda: helm.state()["releases"],
        inject=lambda status: helm.fail_next(HELM_STDERR[status]),
        inject_timeout=lambda: helm.fail_next("never printed", sleep=3.0),
    )


def _flags(preset: str) -> Callable[[Path], Iterator[Harness]]:
    def build(tmp_path: Path) -> Iterator[Harness]:
        with FakeFlagService(token=FLAG_CREDENTIAL) as fake:
            fake.add_flag("new-checkout", environments={"production": True, "staging": True})
            executor = HttpFlagExecutor.from_config(
                {
                    "preset": preset,
                    "base_url": fake.base_url,
                    "token": FLAG_CREDENTIAL,
                    "timeout": 0.5,
                }
            )
            yield Harness(
                executor=executor,
                operation=_op(Action.DISABLE_FLAG, flag="new-checkout"),
                snapshot=lambda: (fake.is_on("new-checkout"), fake.writes()),
                inject=lambda status: fake.fail_next(status),
                inject_timeout=lambda: fake.fail_next(200, delay=1.5),
            )

    return build


def _webhook(tmp_path: Path) -> Iterator[Harness]:
    with WebhookReceiver() as receiver:
        executor = WebhookExecutor.from_config(
            {
                "url": f"{receiver.base_url}/hook",
                "secret": "s3cret",
                "state_url": f"{receiver.base_url}/state",
                "timeout": 0.5,
            }
        )
        yield Harness(
            executor=executor,
            operation=_op(Action.ROLLBACK_DEPLOY, target_version="v1.4.2"),
            snapshot=lambda: list(receiver.received),
            inject=lambda status: receiver.fail_next(status),
            inject_timeout=lambda: receiver.fail_next(200, delay=1.5),
        )


def _simulated(tmp_path: Path) -> Iterator[Harness]:
    executor = SimulatedExecutor(versions={"cartservice": "v1.5.0"}, sleep=lambda _: None)

    def inject(status: int) -> None:
        executor.fail(
            "cartservice", error=ERRORS[status](f"injected {status}", integration="simulated")
        )

    yield Harness(
        executor=executor,
        operation=_op(Action.ROLLBACK_DEPLOY, target_version="v1.4.2"),
        snapshot=lambda: (executor.version("cartservice"), list(executor.executed)),
        inject=inject,
        inject_timeout=lambda: executor.fail(
            "cartservice", error=UnavailableError("timed out", integration="simulated")
        ),
    )


BUILDERS: dict[str, Callable[[Path], Iterator[Harness]]] = {
    "argocd": _argocd,
    "helm": _helm,
    "unleash": _flags("unleash"),
    "launchdarkly": _flags("launchdarkly"),
    "webhook": _webhook,
    "simulated": _simulated,
}


@pytest.fixture(params=sorted(BUILDERS))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield from BUILDERS[request.param](tmp_path)


def _op(action: Action, **fields: str) -> Operation:
    params = {"namespace": fields.pop("namespace")} if "namespace" in fields else {}
    return Operation(
        step_id="s1",
        action=action,
        service="cartservice",
        params=params,
        key="plan-7:s1",
        **fields,
    )


def test_preview_changes_nothing(harness: Harness) -> None:
    """A preview describes a change and leaves the target exactly as it was."""
    before = harness.snapshot()
    preview = harness.executor.preview(harness.operation)
    assert preview.summary
    assert not preview.already_done
    assert harness.snapshot() == before


def test_execute_reaches_the_target(harness: Harness) -> None:
    """After execute, current_state reports the target reached (and not before)."""
    assert not harness.executor.current_state(harness.operation).at_target
    outcome = harness.executor.execute(harness.operation)
    assert outcome.summary
    assert harness.executor.current_state(harness.operation).at_target


@pytest.mark.parametrize("status", sorted(ERRORS))
def test_failures_map_to_integration_errors(harness: Harness, status: int) -> None:
    """A 401, 404, 409 or 500 (or the CLI's equivalent) raises the matching error type."""
    harness.inject(status)
    with pytest.raises(ERRORS[status]) as caught:
        harness.executor.execute(harness.operation)
    assert caught.value.integration == harness.executor.kind


def test_a_timeout_is_unavailable(harness: Harness) -> None:
    """A target that does not answer in time raises UnavailableError, which is retried."""
    harness.inject_timeout()
    with pytest.raises(UnavailableError):
        harness.executor.execute(harness.operation)


def test_kinds_are_distinct_registry_keys() -> None:
    """Every executor has its own kind, the registry key the catalog names."""
    kinds = [
        ArgoCDExecutor.kind,
        HelmExecutor.kind,
        HttpFlagExecutor.kind,
        WebhookExecutor.kind,
        SimulatedExecutor.kind,
    ]
    assert sorted(kinds) == ["argocd", "feature_flags", "helm", "simulated", "webhook"]
