"""The catalog's health gate says, before a step runs, when a service's checks cannot run."""

from __future__ import annotations

import json
from pathlib import Path

from bot.runtime.health import CatalogHealthGate
from integrations.topology import load_topology


def gate(tmp_path: Path, *, prometheus_url: str | None) -> CatalogHealthGate:
    catalog = {
        "services": [
            {"name": "cartservice", "health": {"prometheus": "job:errors:ratio < 0.05"}},
            {"name": "adservice"},
        ]
    }
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    topology, _ = load_topology([tmp_path / "catalog.json"])
    return CatalogHealthGate(topology, prometheus_url=prometheus_url)


def test_bare_promql_without_a_prometheus_url_cannot_be_verified(tmp_path):
    checks = gate(tmp_path, prometheus_url=None)
    reason = checks.cannot_verify(["cartservice", "adservice"])
    assert reason is not None
    assert reason.startswith("cartservice:") and "Prometheus URL" in reason
    assert "adservice" not in reason  # no check at all is not a broken check


def test_checks_that_can_be_built_can_run(tmp_path):
    checks = gate(tmp_path, prometheus_url="http://127.0.0.1:9")
    try:
        assert checks.cannot_verify(["cartservice", "adservice"]) is None
    finally:
        checks.close()


def test_a_service_without_a_check_is_unchecked_not_healthy_by_assumption(tmp_path):
    checks = gate(tmp_path, prometheus_url=None)
    verdict = checks(["adservice"])
    assert verdict.unchecked == ("adservice",)
    assert not verdict.evidenced
    assert "unchecked" in verdict.reason
