"""``backout replay``: the store's recorded incidents exported as case files and replayed through
the current planner, with the confirmed culprit's rank reported (issue 12 item 7)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.store import Store
from integrations.alerts import parse_alerts
from integrations.deploys import parse_changes
from integrations.topology import load_topology
from planners.planner import plan_rollback
from tests.support.paths import ROOT

EXAMPLE = ROOT / "fakes" / "onlineboutique"
TOPOLOGY = str(EXAMPLE / "topology.yaml")


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store holding the example incident, its plan, and a responder's "right" on its summary."""
    url = f"sqlite:///{tmp_path / 'backout.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BACKOUT_DATABASE_URL", url)
    monkeypatch.setenv("BACKOUT_TOPOLOGY", json.dumps([TOPOLOGY]))
    topology, _ = load_topology([TOPOLOGY])
    changes = parse_changes(json.loads((EXAMPLE / "changes.json").read_text()))
    alerts = parse_alerts(json.loads((EXAMPLE / "alert.json").read_text()))
    now = datetime(2026, 11, 27, 10, 20, tzinfo=UTC)
    plan = plan_rollback(topology, changes=changes, alerts=alerts, now=now)
    with Store.from_url(url) as store:
        for item in changes:
            store.incidents.record_change(item)
        store.incidents.open_incident(
            plan.incident.id,
            services=list(plan.incident.services),
            started_at=plan.incident.started_at,
            channel="C0ALERTS",
            thread_ts=None,
            alerts=alerts,
        )
        plan_id = store.plans.save(plan)
        store.incidents.record_feedback(plan_id, user="U0ONCALL", right=True)
    return plan.suspects[0].change_id


def test_the_store_replays_with_the_confirmed_culprit_first(recorded, capsys):
    assert main(["replay"]) == 0
    out = capsys.readouterr().out
    assert "Replayed 1 incident(s); 1 with a confirmed culprit." in out
    assert out.splitlines()[3].split() == ["top-1", "1", "1"]
    assert recorded in out and "#1" in out


def test_exported_cases_replay_like_the_store(recorded, tmp_path, capsys):
    cases = tmp_path / "cases"
    assert main(["replay", "--export", str(cases)]) == 0
    (path,) = cases.glob("*.json")
    case = json.loads(path.read_text())
    assert case["culprit"] == recorded and case["alerts"] and case["changes"]

    assert main(["replay", "--cases", str(cases), "--topology", TOPOLOGY, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["score"]["top1"] == 1 and report["score"]["judged"] == 1
    assert report["cases"][0]["rank"] == 1


def test_a_file_that_is_not_a_case_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "broken.json").write_text('{"incident": "inc-1"}')
    assert main(["replay", "--cases", str(cases), "--topology", TOPOLOGY]) == 2
    err = capsys.readouterr().err
    assert "broken.json: not a replay case:" in err and err.count("\n") == 1
