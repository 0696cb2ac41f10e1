"""``backout doctor`` against fakes: each misconfigured executor or health check is a row with
its fix, nothing is changed, and any problem makes the exit status 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.main import main
from fakes.argocd import FakeArgoCD
from fakes.helm import FakeHelm
from fakes.kubernetes import FakeKubernetes

CATALOG = """\
services:
  - name: cart
    rollback: {executor: kubernetes, namespace: shop, deployment: cart}
  - name: checkout
    rollback: {executor: argocd, application: checkout}
  - name: payments
    rollback: {executor: helm, release: payments, namespace: pay}
  - name: search
    rollback: {executor: gitops}
"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeKubernetes, FakeArgoCD, FakeHelm]]:
    with FakeKubernetes(token="k") as k8s, FakeArgoCD(token="a") as argo:
        k8s.add_deployment("shop", "cart", image="cart:2", revisions=["cart:1"])
        argo.add_app("checkout", revisions=["a" * 40, "b" * 40], auto_sync=True)
        helm = FakeHelm(tmp_path)
        helm.add_release("payments", app_versions=["1.0", "1.1"], namespace="pay")
        yield k8s, argo, helm


def configure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, executors: dict[str, object]
) -> None:
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    config = {"topology": [str(tmp_path / "catalog.yaml")], "executors": executors}
    (tmp_path / "backout.yaml").write_text(json.dumps(config))
    monkeypatch.setenv("BACKOUT_CONFIG", str(tmp_path / "backout.yaml"))


def rows(output: str) -> dict[tuple[str, str, str], str]:
    """(executor, target, check) -> the rest of the line."""
    found = {}
    for line in output.splitlines()[1:]:
        parts = line.split(None, 3)
        if len(parts) == 4:
            found[(parts[0], parts[1], parts[2])] = parts[3]
    return found


def test_a_misconfigured_setup_is_reported_with_fixes_and_exit_1(
    world: tuple[FakeKubernetes, FakeArgoCD, FakeHelm],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Role without patch, an Argo CD token that may not sync, a missing helm release and an
    executor the catalog names but the settings lack: each is a FAIL row saying how to fix it."""
    k8s, argo, helm = world
    k8s.denied.add(("patch", "deployments"))
    argo.denied.add("sync")
    helm.add_release("payments", app_versions=["1.0"], namespace="elsewhere")
    configure(
        tmp_path,
        monkeypatch,
        {
            "kubernetes": {"api_url": k8s.base_url, "token": "k"},
            "argocd": {"url": argo.base_url, "token": "a"},
            "helm": {"helm_binary": helm.binary},
        },
    )
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "problem(s)" in out
    lines = out.splitlines()
    patch = next(line for line in lines if "may patch deployments" in line)
    assert "FAIL" in patch and "add it to Backout's Role" in patch
    assert "ok" in next(line for line in lines if "may get deployments" in line)
    sync = next(line for line in lines if "can-i sync" in line)
    assert "FAIL" in sync and "argocd-rbac-cm" in sync
    status = next(line for line in lines if "helm status payments" in line)
    assert "FAIL" in status and "catalog rollback entry" in status
    missing = next(line for line in lines if line.startswith("gitops"))
    assert "no such executor" in missing and "add executors.gitops to backout.yaml" in missing
    writes = [r for r in k8s.requests if r.method in ("PATCH", "PUT", "DELETE")]
    assert writes == [] and argo.writes() == []  # only access reviews were POSTed
    assert [c[0] for c in helm.calls()] == ["status"]


def test_a_bad_executor_configuration_is_a_row_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An executor that cannot be built is named with the setting to fix; exit 1."""
    configure(tmp_path, monkeypatch, {"argocd": {"url": "http://127.0.0.1:9"}})
    assert main(["doctor"]) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("argocd"))
    assert "argocd needs a 'token'" in line and "fix executors.argocd in backout.yaml" in line


def test_a_healthy_setup_exits_0(
    world: tuple[FakeKubernetes, FakeArgoCD, FakeHelm],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With every permission granted and every target present, all rows are ok."""
    k8s, argo, helm = world
    (tmp_path / "catalog.yaml").write_text(CATALOG.replace("executor: gitops", "executor: helm"))
    configure(
        tmp_path,
        monkeypatch,
        {
            "kubernetes": {"api_url": k8s.base_url, "token": "k"},
            "argocd": {"url": argo.base_url, "token": "a"},
            "helm": {"helm_binary": helm.binary},
        },
    )
    (tmp_path / "catalog.yaml").write_text(
        CATALOG.replace("  - name: search\n    rollback: {executor: gitops}\n", "")
    )
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAIL" not in out
