"""A plan from ``backout plan`` executed against a fake Kubernetes API, verified by a real
Prometheus: the bad deploy is rolled back, health recovers, and the later stage is not needed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.core.engine import Engine, EngineConfig
from bot.runtime.health import CatalogHealthGate
from bot.store import Store
from fakes.kubernetes import FakeKubernetes
from fakes.metrics_app import HealthApp
from integrations.executors.kubernetes import KubernetesExecutor
from integrations.http import make_client
from integrations.topology import load_topology
from tests.support.prometheus import running_prometheus

IMAGE = "registry.example.com/boutique/{}:{}"
SERVICES = ("frontend", "checkoutservice", "cartservice", "currencyservice")


def ratio(service: str) -> str:
    sel = f'{{service="{service}"}}'
    return f"sum(rate(app_errors_total{sel}[10s])) / sum(rate(app_requests_total{sel}[10s]))"


def catalog() -> dict[str, object]:
    depends = {
        "frontend": ["checkoutservice", "cartservice", "currencyservice"],
        "checkoutservice": ["cartservice", "currencyservice"],
    }
    return {
        "services": [
            {
                "name": name,
                "tier": "standard",
                "depends_on": depends.get(name, []),
                "rollback": {"executor": "kubernetes", "namespace": "shop", "deployment": name},
                "health": {
                    "prometheus": f"{ratio(name)} < 0.05",
                    "consecutive": 2,
                    "interval": 1,
                    "timeout": 45,
                },
            }
            for name in SERVICES
        ]
    }


def alertmanager(*services: str) -> dict[str, object]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "backout",
        "groupKey": "{}:{}",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "service": s},
                "annotations": {"summary": f"{s} errors"},
                "startsAt": "2026-11-27T10:12:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": f"fp-{s}",
            }
            for s in services
        ],
    }


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeKubernetes, HealthApp, str]]:
    with FakeKubernetes() as k8s, HealthApp() as app:
        k8s.add_deployment(
            "shop",
            "cartservice",
            image=IMAGE.format("cart", "v1.4.3"),
            revisions=[IMAGE.format("cart", "v1.4.2")],
        )
        k8s.add_deployment(
            "shop",
            "currencyservice",
            image=IMAGE.format("currency", "v2.3.1"),
            revisions=[IMAGE.format("currency", "v2.3.0")],
        )
        for name in SERVICES:
            app.set_error_ratio(name, 0.0 if name == "currencyservice" else 0.12)
        with running_prometheus(scrape_port=app.port) as prometheus:
            yield k8s, app, prometheus.base_url


def test_bad_deploy_is_rolled_back_and_health_recovers(world, tmp_path, monkeypatch, capsys):
    """The cart deploy is rolled back in the cluster; errors stop; currency is left alone."""
    k8s, app, prometheus_url = world
    (tmp_path / "catalog.json").write_text(json.dumps(catalog()))
    (tmp_path / "alert.json").write_text(json.dumps(alertmanager("checkoutservice", "frontend")))
    changes = [
        {
            "id": "chg-cart",
            "service": "cartservice",
            "at": "2026-11-27T10:05:00Z",
            "from_version": "v1.4.2",
            "to_version": "v1.4.3",
        },
        {
            "id": "chg-currency",
            "service": "currencyservice",
            "at": "2026-11-27T09:05:00Z",
            "from_version": "v2.3.0",
            "to_version": "v2.3.1",
        },
    ]
    (tmp_path / "changes.json").write_text(json.dumps(changes))
    url = f"sqlite:///{tmp_path / 'backout.db'}"
    monkeypatch.setenv("BACKOUT_DATABASE_URL", url)

    code = main(
        [
            "plan",
            "--topology",
            str(tmp_path / "catalog.json"),
            "--changes",
            str(tmp_path / "changes.json"),
            "--alerts",
            str(tmp_path / "alert.json"),
            "--at",
            "2026-11-27T10:20:00Z",
            "--save",
        ]
    )
    assert code == 0
    plan_id = capsys.readouterr().err.split("saved as ")[1].split()[0]

    def recover_when_rolled_back(stop: threading.Event) -> None:
        while not stop.wait(0.1):
            containers = k8s.deployment("shop", "cartservice")["spec"]["template"]["spec"]
            if containers["containers"][0]["image"].endswith(":v1.4.2"):
                for name in SERVICES:
                    app.set_error_ratio(name, 0.0)
                return

    stop = threading.Event()
    watcher = threading.Thread(target=recover_when_rolled_back, args=(stop,))
    watcher.start()
    topology, _ = load_topology([tmp_path / "catalog.json"])
    gate = CatalogHealthGate(topology, prometheus_url=prometheus_url)
    executor = KubernetesExecutor(client=make_client(k8s.base_url), poll_interval=0.05)
    store = Store.from_url(url)
    try:
        engine = Engine(
            store=store,
            executors={"kubernetes": executor},
            health=gate,
            config=EngineConfig(lease_seconds=30),
        )
        plan = store.plans.get(plan_id).plan
        engine.queue(plan_id, [s.id for s in plan.steps], actor="U_ONCALL")
        report = engine.run(plan_id)
    finally:
        stop.set()
        watcher.join()
        gate.close()
        executor.close()
        store.close()

    assert [(s.service, s.stage.value) for s in plan.steps] == [
        ("cartservice", "partial"),
        ("currencyservice", "full"),
    ]
    assert report.status == "done"
    assert report.steps == {"s1": "done", "s2": "not_needed"}
    assert "healthy after stage partial" in report.reasons["s2"]
    deployments = {n: k8s.deployment("shop", n) for n in ("cartservice", "currencyservice")}
    images = {
        n: d["spec"]["template"]["spec"]["containers"][0]["image"] for n, d in deployments.items()
    }
    assert images == {
        "cartservice": IMAGE.format("cart", "v1.4.2"),
        "currencyservice": IMAGE.format("currency", "v2.3.1"),
    }
