"""The ``backout`` command line as a user meets it: plans, reports, clear errors on bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.main import main
from tests.support.paths import ROOT

EXAMPLE = ROOT / "fakes" / "onlineboutique"
AT = "2026-11-27T10:20:00Z"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def example_args(*extra: str) -> list[str]:
    return [
        "plan",
        "--topology",
        str(EXAMPLE / "topology.yaml"),
        "--changes",
        str(EXAMPLE / "changes.json"),
        "--alerts",
        str(EXAMPLE / "alert.json"),
        "--at",
        AT,
        *extra,
    ]


class TestPlan:
    def test_json_plan_names_the_bad_deploy(self, capsys):
        """On the bundled example the cart deploy is the top suspect and is rolled back."""
        code, out, _ = run(capsys, *example_args("--format", "json"))
        assert code == 0
        plan = json.loads(out)
        assert plan["schema"] == "backout.plan/v1"
        assert plan["suspects"][0]["change_id"] == "chg-102"
        partial = [s for s in plan["steps"] if s["stage"] == "partial"]
        assert [(s["service"], s["target_version"]) for s in partial] == [("cartservice", "v1.4.2")]
        excluded = {e["change_id"]: e["why"] for e in plan["excluded"]}
        assert "after the incident started" in excluded["chg-106"]

    def test_text_plan_reads_in_order(self, capsys):
        """The text view lists suspects with evidence, then numbered steps by stage."""
        code, out, _ = run(capsys, *example_args())
        assert code == 0
        assert out.index("SUSPECTS") < out.index("PLAN:") < out.index("Stage partial")
        assert "1. chg-102  deploy of cartservice" in out
        assert "roll back cartservice to v1.4.2" in out

    def test_service_flag_plans_as_if_it_were_alerting(self, capsys):
        """``--service`` stands in for an alert on that service at ``--at``."""
        code, out, _ = run(
            capsys,
            "plan",
            "--topology",
            str(EXAMPLE / "topology.yaml"),
            "--changes",
            str(EXAMPLE / "changes.json"),
            "--service",
            "cartservice",
            "--at",
            "2026-11-27T10:12:00Z",
            "--format",
            "json",
        )
        assert code == 0
        assert json.loads(out)["incident"]["services"] == ["cartservice"]

    def test_unknown_service_suggests_close_names(self, capsys):
        """A misspelt ``--service`` exits 2 with close matches."""
        code, out, err = run(
            capsys, "plan", "--topology", str(EXAMPLE / "topology.yaml"), "--service", "cartservce"
        )
        assert code == 2 and out == ""
        assert (
            err.strip()
            == "backout: --service: unknown service 'cartservce' (did you mean cartservice?)"
        )


class TestBadInput:
    def test_malformed_json_names_the_file(self, capsys, tmp_path):
        """Broken JSON exits 2 with one line naming the file and the problem."""
        bad = tmp_path / "changes.json"
        bad.write_text('[{"id": "x",')
        code, _, err = run(capsys, *example_args("--changes", str(bad)))
        assert code == 2
        assert err.count("\n") == 1
        assert err.startswith(f"backout: {bad}: not valid JSON")

    def test_missing_file_names_the_file(self, capsys, tmp_path):
        """An unreadable file exits 2 naming it."""
        missing = tmp_path / "nope.json"
        code, _, err = run(capsys, *example_args("--alerts", str(missing)))
        assert code == 2
        assert err.strip() == f"backout: {missing}: cannot read: No such file or directory"

    def test_unknown_alert_format_is_reported(self, capsys, tmp_path):
        """A JSON body in no known alert format exits 2 with the reason."""
        odd = tmp_path / "alert.json"
        odd.write_text('{"hello": "world"}')
        code, _, err = run(capsys, *example_args("--alerts", str(odd)))
        assert code == 2
        assert err.startswith(f"backout: {odd}: not a recognised alert payload")

    def test_bad_change_field_is_named(self, capsys, tmp_path):
        """A change with a naive timestamp is rejected by item and field."""
        bad = tmp_path / "changes.json"
        bad.write_text(
            json.dumps([{"id": "c1", "service": "frontend", "at": "2026-11-27T10:00:00"}])
        )
        code, _, err = run(capsys, *example_args("--changes", str(bad)))
        assert code == 2
        assert "item 0: field 'at'" in err and "timezone" in err

    def test_broken_topology_stops_with_every_problem_counted(self, capsys, tmp_path):
        """A topology with errors exits 2, naming the first and counting the rest."""
        broken = tmp_path / "catalog.yaml"
        broken.write_text(
            "services:\n  - name: a\n    depends_on: [ghost]\n  - name: b\n    tier: gold\n"
        )
        code, _, err = run(capsys, *example_args("--topology", str(broken)))
        assert code == 2
        assert str(broken) in err and "backout topology check" in err

    @pytest.mark.parametrize(
        ("flag", "value"),
        [("--at", "yesterday"), ("--at", "2026-11-27T10:00:00"), ("--window", "2 days")],
    )
    def test_bad_option_values_exit_2(self, capsys, flag, value):
        """Unparseable ``--at`` (or a naive one) and ``--window`` exit 2 with the reason."""
        with pytest.raises(SystemExit) as exc:
            main([*example_args(), flag, value])
        assert exc.value.code == 2
        assert value in capsys.readouterr().err


class TestTopologyCheck:
    def test_clean_topology_summarises_and_exits_0(self, capsys):
        """The report counts services, edges and cycles, and names the critical services."""
        code, out, _ = run(capsys, "topology", "check", str(EXAMPLE / "topology.yaml"))
        assert code == 0
        assert "12 services, 16 edges, 0 cycle(s); 0 error(s)" in out
        assert "Critical services: productcatalogservice" in out

    def test_broken_topology_lists_every_problem_and_exits_1(self, capsys, tmp_path):
        """Every problem is listed, by service and field, and the exit code is 1."""
        broken = tmp_path / "catalog.yaml"
        broken.write_text(
            "services:\n"
            "  - name: a\n    depends_on: ghost\n"
            "  - name: b\n    tier: gold\n    depends_on: [b]\n"
            "  - team: nameless\n"
        )
        code, out, _ = run(capsys, "topology", "check", str(broken))
        assert code == 1
        assert "service 'a', field 'depends_on'" in out
        assert "service 'b', field 'tier'" in out
        assert "depends on itself" in out
        assert out.count("error:") >= 4


def test_installed_command_runs_the_demo_example():
    """The ``backout`` console script (what ``make demo`` runs) works as a real process."""
    exe = shutil.which("backout", path=str(Path(sys.executable).parent))
    assert exe, "backout is not installed next to this Python; run `make install`"
    result = subprocess.run([exe, *example_args()], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "chg-102" in result.stdout


class TestStoreCommands:
    @pytest.fixture(autouse=True)
    def _database(self, tmp_path, monkeypatch):
        monkeypatch.setenv("BACKOUT_DATABASE_URL", f"sqlite:///{tmp_path / 'backout.db'}")
        monkeypatch.setenv("BACKOUT_CONFIG", str(EXAMPLE / "backout.yaml"))

    def test_saved_plan_is_listed_shown_and_simulated(self, capsys):
        """``plan --save`` stores the plan; ``plans list/show`` and ``simulate ID`` read it."""
        code, _, err = run(capsys, *example_args("--save"))
        assert code == 0
        plan_id = err.split("saved as ")[1].split()[0]
        code, out, _ = run(capsys, "plans", "list")
        assert code == 0
        assert plan_id in out and "0/2 steps done" in out and "top suspect chg-102" in out
        code, out, _ = run(capsys, "plans", "show", plan_id)
        assert "status: PENDING" in out
        code, out, _ = run(capsys, "simulate", plan_id)
        assert code == 0
        assert "cartservice: version v1.4.3 -> v1.4.2" in out
        assert "2 step(s) previewed, 0 cannot run as configured" in out

    def test_simulate_reports_unconfigured_executors(self, capsys, monkeypatch, tmp_path):
        """Without executors configured, simulation says which step cannot run and why."""
        empty = tmp_path / "backout.yaml"
        empty.write_text("executors: {}\n")
        monkeypatch.setenv("BACKOUT_CONFIG", str(empty))
        code, out, _ = run(capsys, "simulate", *example_args()[1:])
        assert code == 0
        assert "CANNOT PREVIEW: executor 'kubernetes' is not configured (configured: none)" in out

    def test_unknown_plan_id_exits_2(self, capsys):
        """``plans show`` of an unknown id is a clear error."""
        code, _, err = run(capsys, "plans", "show", "pl-00000000")
        assert code == 2
        assert "pl-00000000" in err

    def test_db_upgrade_and_audit_verify(self, capsys):
        """``db upgrade`` migrates; ``audit verify`` reports an intact chain."""
        assert run(capsys, "db", "upgrade")[0] == 0
        run(capsys, *example_args("--save"))
        code, out, _ = run(capsys, "audit", "verify")
        assert code == 0
        assert out.startswith("audit log intact: ")
        assert run(capsys, "audit", "verify", "--head", f"1:{'0' * 64}")[0] == 1

    def test_bad_settings_exit_2_naming_the_field(self, capsys, monkeypatch, tmp_path):
        """A settings file with an unknown executor kind stops with the executor's name."""
        bad = tmp_path / "backout.yaml"
        bad.write_text("executors:\n  k8s: {kind: nomad}\n")
        monkeypatch.setenv("BACKOUT_CONFIG", str(bad))
        code, _, err = run(capsys, "simulate", *example_args()[1:])
        assert code == 2
        assert "executors.k8s: no executor named 'nomad'" in err
