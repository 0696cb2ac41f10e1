"""The Kubernetes executor against the stateful fake API server on loopback (no mocks)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakes.kubernetes import REVISION, FakeKubernetes
from integrations.base import Executor, Operation
from integrations.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    UnauthorizedError,
    UnavailableError,
)
from integrations.executors.kubernetes import ROLLBACK_ANNOTATION, KubernetesExecutor
from integrations.http import make_client
from planners.model import Action
from tests.support.kubernetes import rollback

TOKEN = "s3cret-token"
IMAGE = "gcr.io/shop/cart"
DEPLOYMENT = "/apis/apps/v1/namespaces/shop/deployments/cartservice"


class FakeTime:
    """A clock that only moves when the executor sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def k8s(fake_time: FakeTime) -> Iterator[FakeKubernetes]:
    with FakeKubernetes(token=TOKEN, clock=fake_time.clock) as fake:
        fake.add_deployment(
            "shop",
            "cartservice",
            image=f"{IMAGE}:v1.4.3",
            revisions=[f"{IMAGE}:v1.4.1", f"{IMAGE}:v1.4.2"],
        )
        yield fake


@pytest.fixture
def client(k8s: FakeKubernetes) -> Iterator[httpx.Client]:
    with make_client(k8s.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        yield http


@pytest.fixture
def executor(client: httpx.Client, fake_time: FakeTime) -> KubernetesExecutor:
    return KubernetesExecutor(client=client, sleep=fake_time.sleep, clock=fake_time.clock)


def read(client: httpx.Client, path: str = DEPLOYMENT) -> dict[str, Any]:
    data: dict[str, Any] = client.get(path).json()
    return data


def image_of(deployment: dict[str, Any]) -> str:
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def revision_of(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["annotations"][REVISION])


def test_the_executor_satisfies_the_protocol(executor: KubernetesExecutor) -> None:
    """The executor registers under the kind ``kubernetes`` and is an ``Executor``."""
    port: Executor = executor
    assert port.kind == "kubernetes"


def test_rollback_restores_the_previous_image_by_reusing_its_replicaset(
    executor: KubernetesExecutor, client: httpx.Client, k8s: FakeKubernetes
) -> None:
    """The Deployment runs the previous image again as a new revision of the old ReplicaSet."""
    before = {rs["metadata"]["name"]: rs for rs in k8s.replicasets("shop")}
    outcome = executor.execute(rollback())
    deployment = read(client)
    after = {rs["metadata"]["name"]: rs for rs in k8s.replicasets("shop")}
    assert image_of(deployment) == f"{IMAGE}:v1.4.2"
    assert revision_of(deployment) == 4
    assert after.keys() == before.keys()
    reused = next(rs for rs in after.values() if image_of(rs) == f"{IMAGE}:v1.4.2")
    assert revision_of(reused) == 4
    assert deployment["metadata"]["annotations"][ROLLBACK_ANNOTATION] == "plan-7:s1"
    assert "pod-template-hash" not in deployment["spec"]["template"]["metadata"]["labels"]
    assert outcome.details["revision"] == 4
    assert outcome.details["previous_revision"] == 3
    assert outcome.summary == f"shop/cartservice rolled back to {IMAGE}:v1.4.2 (revision 4)"


def test_a_second_run_of_the_same_step_is_a_no_op(
    executor: KubernetesExecutor, client: httpx.Client, k8s: FakeKubernetes
) -> None:
    """After the rollback the step is at target, and running it again patches nothing."""
    executor.execute(rollback())
    mutations = k8s.mutations
    state = executor.current_state(rollback())
    again = executor.execute(rollback())
    assert state.at_target and not state.in_progress
    assert k8s.mutations == mutations
    assert again.details["patched"] is False
    assert revision_of(read(client)) == 4
    assert executor.preview(rollback()).already_done


def test_a_patch_with_an_identical_template_creates_nothing(
    client: httpx.Client, k8s: FakeKubernetes
) -> None:
    """The fake controller neither bumps the revision nor creates a ReplicaSet for a no-op."""
    before = read(client)
    patch = {"spec": {"template": before["spec"]["template"]}}
    headers = {"Content-Type": "application/strategic-merge-patch+json"}
    response = client.patch(DEPLOYMENT, json=patch, headers=headers)
    assert response.status_code == 200
    after = read(client)
    assert revision_of(after) == revision_of(before) == 3
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert len(k8s.replicasets("shop")) == 3


def test_target_version_selects_an_older_revision(
    executor: KubernetesExecutor, client: httpx.Client, k8s: FakeKubernetes
) -> None:
    """``target_version`` picks the ReplicaSet running that tag, skipping the previous one."""
    executor.execute(rollback("v1.4.1"))
    deployment = read(client)
    assert image_of(deployment) == f"{IMAGE}:v1.4.1"
    assert revision_of(deployment) == 4
    assert len(k8s.replicasets("shop")) == 3
    assert executor.current_state(rollback("v1.4.1")).at_target


def test_an_unknown_target_version_is_not_found(
    executor: KubernetesExecutor, k8s: FakeKubernetes
) -> None:
    """No ReplicaSet runs the version: NotFoundError, and nothing is patched."""
    with pytest.raises(NotFoundError, match=r"no revision running v0\.9"):
        executor.execute(rollback("v0.9"))
    assert k8s.mutations == 0


def test_a_deployment_without_history_has_nothing_to_roll_back_to(
    executor: KubernetesExecutor, k8s: FakeKubernetes
) -> None:
    """A Deployment with a single revision raises NotFoundError."""
    k8s.add_deployment("shop", "fresh", image=f"{IMAGE}:v1")
    with pytest.raises(NotFoundError, match="no earlier revision to roll back to"):
        executor.execute(rollback(deployment="fresh"))


def test_a_paused_deployment_is_refused(executor: KubernetesExecutor, k8s: FakeKubernetes) -> None:
    """Rolling back a paused Deployment raises ConflictError and changes nothing."""
    k8s.add_deployment(
        "shop", "paused", image=f"{IMAGE}:v2", revisions=[f"{IMAGE}:v1"], paused=True
    )
    with pytest.raises(ConflictError, match="shop/paused is paused"):
        executor.execute(rollback(deployment="paused"))
    assert k8s.mutations == 0
    assert image_of(k8s.deployment("shop", "paused")) == f"{IMAGE}:v2"


def test_a_missing_deployment_is_not_found(executor: KubernetesExecutor) -> None:
    """A 404 from the API server becomes NotFoundError naming the Deployment."""
    with pytest.raises(NotFoundError, match="deployment shop/ghost"):
        executor.current_state(rollback(deployment="ghost"))


def test_a_request_without_the_token_is_unauthorized(
    k8s: FakeKubernetes, fake_time: FakeTime
) -> None:
    """Without the bearer token the API server answers 401: UnauthorizedError."""
    with make_client(k8s.base_url) as anonymous:
        executor = KubernetesExecutor(client=anonymous, sleep=fake_time.sleep)
        with pytest.raises(UnauthorizedError):
            executor.execute(rollback())
    assert k8s.mutations == 0


def test_a_server_error_is_temporary_and_the_retry_succeeds(
    executor: KubernetesExecutor, client: httpx.Client, k8s: FakeKubernetes
) -> None:
    """A 500 raises UnavailableError with the server's Retry-After; the next attempt works."""
    k8s.fail_next("GET", r"/deployments/cartservice$", 500, retry_after=7)
    with pytest.raises(UnavailableError) as failure:
        executor.execute(rollback())
    assert failure.value.retry_after == 7.0
    assert k8s.mutations == 0
    executor.execute(rollback())
    assert image_of(read(client)) == f"{IMAGE}:v1.4.2"


def test_a_conflicting_write_is_temporary(
    executor: KubernetesExecutor, k8s: FakeKubernetes
) -> None:
    """A 409 on the patch (someone else changed the Deployment) is retried after a re-read."""
    k8s.fail_next("PATCH", r"/deployments/cartservice$", 409)
    with pytest.raises(UnavailableError, match="changed while Backout patched it"):
        executor.execute(rollback())


def test_a_stalled_rollout_times_out(
    executor: KubernetesExecutor, k8s: FakeKubernetes, fake_time: FakeTime
) -> None:
    """A rollout that never finishes raises UnavailableError once ``rollout_timeout`` passes."""
    k8s.stall("shop", "cartservice")
    with pytest.raises(UnavailableError, match=r"shop/cartservice did not finish within 300 s"):
        executor.execute(rollback())
    assert sum(fake_time.slept) == pytest.approx(300)
    assert k8s.mutations == 1
    assert executor.current_state(rollback()).in_progress


def test_an_exceeded_progress_deadline_fails_at_once(
    executor: KubernetesExecutor, k8s: FakeKubernetes, fake_time: FakeTime
) -> None:
    """A rollout whose Progressing condition says ProgressDeadlineExceeded fails without waiting."""
    k8s.stall("shop", "cartservice", deadline_exceeded=True)
    assert not executor.current_state(rollback()).at_target
    with pytest.raises(UnavailableError, match="exceeded its progress deadline"):
        executor.execute(rollback())
    assert fake_time.slept == []


def test_execute_waits_for_the_rollout(
    client: httpx.Client, k8s: FakeKubernetes, fake_time: FakeTime
) -> None:
    """With a 10 s rollout, execute polls every ``poll_interval`` until all replicas are new."""
    k8s.rollout_seconds = 10
    executor = KubernetesExecutor(
        client=client, poll_interval=3, sleep=fake_time.sleep, clock=fake_time.clock
    )
    executor.execute(rollback())
    status = read(client)["status"]
    assert fake_time.slept == [3, 3, 3, 3]
    assert status["updatedReplicas"] == status["availableReplicas"] == status["replicas"] == 3


def test_preview_describes_the_change_and_touches_nothing(
    executor: KubernetesExecutor, client: httpx.Client, k8s: FakeKubernetes
) -> None:
    """The preview names the image and revision change; no mutating request is sent."""
    preview = executor.preview(rollback())
    assert preview.summary == f"shop/cartservice: image {IMAGE}:v1.4.3 -> v1.4.2 (revision 3 -> 2)"
    assert not preview.already_done
    assert k8s.mutations == 0
    assert image_of(read(client)) == f"{IMAGE}:v1.4.3"


def test_replicasets_of_another_deployment_are_ignored(
    executor: KubernetesExecutor, client: httpx.Client, k8s: FakeKubernetes
) -> None:
    """Only ReplicaSets owned by the Deployment (by uid) are candidates, whatever their labels."""
    shared = {"app": "shared"}
    k8s.add_deployment(
        "shop", "blue", image="img:b3", revisions=["img:b1", "img:b2"], labels=shared
    )
    k8s.add_deployment("shop", "green", image="img:g2", revisions=["img:g1"], labels=shared)
    executor.execute(rollback(deployment="blue"))
    assert image_of(read(client, DEPLOYMENT.replace("cartservice", "blue"))) == "img:b2"
    with pytest.raises(NotFoundError):
        executor.preview(rollback("b1", deployment="green"))


def test_revert_config_restores_the_pod_template(
    executor: KubernetesExecutor, client: httpx.Client
) -> None:
    """A config change in the pod template (same image) is reverted, removing the new env var."""
    template = read(client)["spec"]["template"]
    template["spec"]["containers"][0]["env"] = [{"name": "CACHE", "value": "off"}]
    template["metadata"]["annotations"] = {"config/hash": "abc"}
    headers = {"Content-Type": "application/merge-patch+json"}
    client.patch(DEPLOYMENT, json={"spec": {"template": template}}, headers=headers)
    operation = Operation(
        step_id="s0",
        action=Action.REVERT_CONFIG,
        service="cartservice",
        params={"namespace": "shop"},
    )
    preview = executor.preview(operation)
    executor.execute(operation)
    after = read(client)
    assert preview.summary.startswith("shop/cartservice: pod template (same images")
    assert "env" not in after["spec"]["template"]["spec"]["containers"][0]
    assert "annotations" not in after["spec"]["template"]["metadata"]
    assert image_of(after) == f"{IMAGE}:v1.4.3"
    assert revision_of(after) == 5


def test_other_actions_are_a_configuration_error(executor: KubernetesExecutor) -> None:
    """The executor refuses actions it cannot perform, such as disabling a flag."""
    operation = Operation(step_id="s2", action=Action.DISABLE_FLAG, service="cartservice")
    with pytest.raises(ConfigError, match="kubernetes cannot disable_flag"):
        executor.preview(operation)


KUBECONFIG = """\
apiVersion: v1
kind: Config
current-context: prod
contexts:
  - name: staging
    context: {cluster: nowhere, user: nobody}
  - name: prod
    context: {cluster: c1, user: bot, namespace: shop}
clusters:
  - name: c1
    cluster: {server: "%(server)s"}
users:
  - name: bot
    user: {%(credential)s}
"""


def test_from_config_reads_a_kubeconfig_with_a_token(
    k8s: FakeKubernetes, client: httpx.Client, tmp_path: Path
) -> None:
    """The current context's server, user token and namespace are used."""
    kubeconfig = tmp_path / "config"
    credential = f"token: {TOKEN}"
    kubeconfig.write_text(KUBECONFIG % {"server": k8s.base_url, "credential": credential})
    operation = Operation(step_id="s1", action=Action.ROLLBACK_DEPLOY, service="cartservice")
    config = {"kubeconfig": str(kubeconfig), "rollout_timeout": 5}
    with closing(KubernetesExecutor.from_config(config)) as executor:
        executor.execute(operation)
    assert image_of(read(client)) == f"{IMAGE}:v1.4.2"


def test_from_config_reads_a_token_file_relative_to_the_kubeconfig(
    k8s: FakeKubernetes, tmp_path: Path
) -> None:
    """``tokenFile`` is resolved next to the kubeconfig and read on each request (rotation)."""
    (tmp_path / "token").write_text("stale\n")
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(KUBECONFIG % {"server": k8s.base_url, "credential": "tokenFile: token"})
    with closing(KubernetesExecutor.from_config({"kubeconfig": str(kubeconfig)})) as executor:
        with pytest.raises(UnauthorizedError):
            executor.current_state(rollback())
        (tmp_path / "token").write_text(TOKEN + "\n")
        assert not executor.current_state(rollback()).at_target


EXEC_PLUGIN = """\
import json, pathlib, sys
here = pathlib.Path(sys.argv[1])
with (here / "runs").open("a") as runs:
    runs.write("run\\n")
token = (here / "issued").read_text().strip()
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1beta1",
    "kind": "ExecCredential",
    "status": {"token": token},
}))
"""


def test_from_config_runs_a_kubeconfig_exec_plugin_and_again_on_a_401(
    k8s: FakeKubernetes, client: httpx.Client, tmp_path: Path
) -> None:
    """A cloud kubeconfig's ``exec`` plugin (as EKS, GKE and AKS use) gives the bearer token;
    when the API server refuses it later (401: the token expired), the plugin runs again."""
    (tmp_path / "plugin.py").write_text(EXEC_PLUGIN)
    (tmp_path / "issued").write_text(TOKEN)
    exec_entry = json.dumps(
        {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": [str(tmp_path / "plugin.py"), str(tmp_path)],
        }
    )
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        KUBECONFIG % {"server": k8s.base_url, "credential": f"exec: {exec_entry}"}
    )
    operation = Operation(step_id="s1", action=Action.ROLLBACK_DEPLOY, service="cartservice")
    with closing(KubernetesExecutor.from_config({"kubeconfig": str(kubeconfig)})) as executor:
        assert executor.current_state(operation) is not None
        k8s.token = "rotated-token"
        (tmp_path / "issued").write_text("rotated-token")
        executor.execute(operation)
    rotated = {"Authorization": "Bearer rotated-token"}
    with make_client(k8s.base_url, headers=rotated) as fresh:
        assert image_of(read(fresh)) == f"{IMAGE}:v1.4.2"
    assert (tmp_path / "runs").read_text().count("run") == 2


def test_from_config_reports_a_missing_context(tmp_path: Path) -> None:
    """A kubeconfig whose current context does not exist raises ConfigError."""
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("current-context: gone\ncontexts: []\nclusters: []\nusers: []\n")
    with pytest.raises(ConfigError, match="Context 'gone' not found"):
        KubernetesExecutor.from_config({"kubeconfig": str(kubeconfig)})


def test_from_config_refuses_in_cluster_outside_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """``in_cluster`` without ``KUBERNETES_SERVICE_HOST`` raises ConfigError."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_HOST is not set"):
        KubernetesExecutor.from_config({"in_cluster": True})


def test_from_config_takes_an_api_url_and_token(k8s: FakeKubernetes) -> None:
    """``api_url`` and ``token`` build a client that the API server accepts."""
    config = {"api_url": k8s.base_url, "token": TOKEN}
    with closing(KubernetesExecutor.from_config(config)) as executor:
        assert not executor.current_state(rollback()).at_target


def test_the_fake_runs_standalone(tmp_path: Path) -> None:
    """``python -m fakes.kubernetes`` prints its URL and serves the seeded state."""
    seed = tmp_path / "seed.json"
    entry = {"namespace": "shop", "name": "cartservice", "image": "img:v2", "revisions": ["img:v1"]}
    seed.write_text(json.dumps({"deployments": [entry]}))
    command = [
        sys.executable,
        "-m",
        "fakes.kubernetes",
        "--port",
        "0",
        "--state",
        str(seed),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            deployment = httpx.get(url + DEPLOYMENT).json()
        finally:
            server.terminate()
    assert url.startswith("http://127.0.0.1:")
    assert image_of(deployment) == "img:v2"
    assert revision_of(deployment) == 2
