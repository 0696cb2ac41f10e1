"""KubernetesExecutor doing what ``kubectl rollout undo`` does beyond the template: annotations,
``--to-revision``, the resourceVersion conflict, and the workloads it does not roll back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fakes.kubernetes import FakeKubernetes
from integrations.errors import ConfigError, NotFoundError, TemporaryIntegrationError
from integrations.executors.kubernetes import KubernetesExecutor
from integrations.http import make_client
from tests.support.kubernetes import rollback

IMAGE = "gcr.io/shop/cart"
DEPLOYMENT = "/apis/apps/v1/namespaces/shop/deployments/cartservice"
CAUSE = "kubernetes.io/change-cause"


_OPEN: list[httpx.Client] = []


@pytest.fixture
def k8s() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as fake:
        fake.add_deployment(
            "shop",
            "cartservice",
            image=f"{IMAGE}:v1.4.3",
            revisions=[f"{IMAGE}:v1.4.1", f"{IMAGE}:v1.4.2"],
            change_causes=["deploy 1.4.1", "deploy 1.4.2", "deploy 1.4.3"],
        )
        yield fake
        while _OPEN:
            _OPEN.pop().close()


def executor_for(k8s: FakeKubernetes, **hooks: Any) -> KubernetesExecutor:
    client = make_client(k8s.base_url)
    client.event_hooks = hooks
    _OPEN.append(client)
    return KubernetesExecutor(client=client, sleep=lambda _: None)


def deployment_annotations(k8s: FakeKubernetes) -> dict[str, str]:
    return dict(k8s.deployment("shop", "cartservice")["metadata"]["annotations"])


def image(k8s: FakeKubernetes) -> str:
    spec = k8s.deployment("shop", "cartservice")["spec"]["template"]["spec"]
    return str(spec["containers"][0]["image"])


def test_the_change_cause_comes_back_with_the_template(k8s: FakeKubernetes) -> None:
    """As with kubectl, the Deployment takes the target ReplicaSet's annotations."""
    executor_for(k8s).execute(rollback())
    assert deployment_annotations(k8s)[CAUSE] == "deploy 1.4.2"
    assert deployment_annotations(k8s)["deployment.kubernetes.io/revision"] == "4"


@pytest.mark.parametrize("target", ["revision:1", "revision 1", "1"])
def test_a_revision_number_is_a_target(k8s: FakeKubernetes, target: str) -> None:
    """``revision:N`` (or a bare N no image tag matches) picks that revision, like
    ``kubectl rollout undo --to-revision=N``."""
    executor = executor_for(k8s)
    executor.execute(rollback(target))
    assert image(k8s) == f"{IMAGE}:v1.4.1"
    with pytest.raises(NotFoundError, match="no revision 9"):
        executor.preview(rollback("revision:9"))


def test_a_changed_deployment_is_a_temporary_conflict_then_succeeds(k8s: FakeKubernetes) -> None:
    """Someone writes the Deployment between Backout's read and its patch: the 409 is
    temporary, and the retry (a fresh read) rolls back."""
    other = make_client(k8s.base_url)
    _OPEN.append(other)
    raced: list[bool] = []

    def race(request: httpx.Request) -> None:
        if request.method == "PATCH" and not raced:
            raced.append(True)
            scale = {"metadata": {"labels": {"app": "cartservice", "team": "shop"}}}
            other.patch(
                DEPLOYMENT,
                json=scale,
                headers={"Content-Type": "application/merge-patch+json"},
            )

    executor = executor_for(k8s, request=[race])
    with pytest.raises(TemporaryIntegrationError):
        executor.execute(rollback())
    assert image(k8s) == f"{IMAGE}:v1.4.3"
    executor.execute(rollback())
    assert image(k8s) == f"{IMAGE}:v1.4.2"


@pytest.mark.parametrize("kind", ["statefulsets", "daemonsets"])
def test_a_statefulset_or_daemonset_is_refused_with_the_way_to_do_it(
    k8s: FakeKubernetes, kind: str
) -> None:
    """Not a misleading 404: the workload's kind is named, with kubectl's command."""
    k8s.add_workload(kind, "shop", "db")
    singular = kind.removesuffix("s")
    with pytest.raises(ConfigError, match=f"shop/db is a {singular}.*rollout undo {singular}/db"):
        executor_for(k8s).preview(rollback(deployment="db"))
    with pytest.raises(ConfigError, match="Deployments only"):
        executor_for(k8s).preview(rollback(kind="StatefulSet"))
    with pytest.raises(NotFoundError):
        executor_for(k8s).preview(rollback(deployment="nothing"))
