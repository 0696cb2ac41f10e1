"""The plan as a Graphviz graph: valid DOT whatever the names, and rendering with ``dot``."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.slack.views import GraphRenderError, plan_graph_dot, render_png
from planners.model import Plan
from tests.support.views import HOSTILE, HUGE, dot_available, shop_plan, wide_plan

IN_CI = bool(os.environ.get("CI"))
INJECTION = '"];\n evil [label="x'


@pytest.fixture
def dot() -> str:
    """Graphviz's ``dot``: skipped when it is missing, except under CI where that fails."""
    if not dot_available():
        message = "graphviz's dot is not installed (apt-get install graphviz)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return "dot"


def run_dot(source: str, fmt: str) -> str:
    done = subprocess.run(
        [shutil.which("dot") or "dot", f"-T{fmt}"],
        input=source.encode(),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode("utf-8", errors="replace")


def parsed_graph(source: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Node names and edges (tail, head) as Graphviz parsed them (``dot -Tjson``)."""
    data = json.loads(run_dot(source, "json"))
    objects = data.get("objects", [])[data.get("_subgraph_cnt", 0) :]
    names = {o["_gvid"]: o["name"] for o in objects}
    edges = [(names[e["tail"]], names[e["head"]]) for e in data.get("edges", [])]
    return list(names.values()), edges


def expected_nodes(plan: Plan) -> list[str]:
    """One node per service the plan names (alerting, impacted, suspects, steps), one per step."""
    services = {*plan.incident.services, *plan.impacted}
    services |= {s.service for s in plan.suspects[:3]} | {s.service for s in plan.steps}
    return [f"svc{i}" for i in range(len(services))] + [f"step{i}" for i in range(len(plan.steps))]


def node_line(source: str, label: str) -> str:
    (line,) = [ln for ln in source.splitlines() if f'[label="{label}"' in ln]
    return line


def test_the_dot_source_parses(dot):
    """Graphviz accepts the graph of a real plan."""
    assert "<svg" in run_dot(plan_graph_dot(shop_plan()), "svg")


def test_services_and_steps_are_nodes_and_after_is_the_order(dot):
    """Every service and step is a node; step edges follow ``after``; steps link to services."""
    plan = shop_plan()
    nodes, edges = parsed_graph(plan_graph_dot(plan))
    assert sorted(nodes) == sorted(expected_nodes(plan))
    index = {s.id: i for i, s in enumerate(plan.steps)}
    order = {(f"step{index[a]}", f"step{index[s.id]}") for s in plan.steps for a in s.after}
    assert order <= set(edges)


def test_alerting_services_are_red_and_the_top_suspect_orange_and_bold():
    """The alerting service is filled red; the top suspect's service has a thick orange border."""
    source = plan_graph_dot(shop_plan())
    assert 'fillcolor="#fde0e0"' in node_line(source, "frontend")
    suspect = node_line(source, "cartservice")
    assert 'color="#ff7f0e"' in suspect and "penwidth=3" in suspect and "Bold" in suspect
    assert "#ff7f0e" not in node_line(source, "checkoutservice")


def test_steps_are_clustered_by_stage_and_coloured_by_status():
    """Each stage is a cluster; a failed step is red, a done one green."""
    source = plan_graph_dot(shop_plan(), statuses={"s1": "done", "s2": "failed"})
    assert re.search(r'subgraph cluster_stage0 \{\n    label="Stage 1: contain"', source)
    assert 'label="Stage 3: full"' in source
    step0, step1 = (
        ln for ln in source.splitlines() if ln.lstrip().startswith(("step0 [", "step1 ["))
    )
    assert "#d4f4dd" in step0 and "low risk · done" in step0
    assert "#fbd0d0" in step1 and 'color="#d62728"' in step1


def test_a_hostile_service_name_does_not_inject_a_node(dot):
    """Quotes, brackets and newlines in a name stay inside its label."""
    plan = shop_plan(service=INJECTION)
    source = plan_graph_dot(plan)
    nodes, _ = parsed_graph(source)
    assert "evil" not in nodes
    assert sorted(nodes) == sorted(expected_nodes(plan))
    assert r'label="\"];  evil [label=\"x"' in source  # the newline became a space


@pytest.mark.parametrize(
    "name", ["back\\slash\\", 'quote"', "new\nline", "\\N\\G", HOSTILE, HUGE, "}", "-> x"]
)
def test_any_name_keeps_the_dot_valid(dot, name):
    """Backslashes, quotes, braces, control characters and huge names never break the syntax."""
    plan = shop_plan(service=name, version=name, flag=name, alert_name=name)
    nodes, _ = parsed_graph(plan_graph_dot(plan, dependencies=[("frontend", name)]))
    assert sorted(nodes) == sorted(expected_nodes(plan))


def test_dependencies_between_plan_services_are_drawn():
    """Topology edges among the plan's services appear; edges to other services do not."""
    source = plan_graph_dot(shop_plan(), dependencies=[("frontend", "cartservice"), ("x", "y")])
    assert source.count('label="uses"') == 1


def test_render_png_returns_png_bytes(dot):
    """``dot`` renders the graph to a PNG image."""
    png = render_png(plan_graph_dot(shop_plan()))
    assert png.startswith(b"\x89PNG")


def test_render_png_handles_a_300_step_plan(dot):
    """A large plan still renders within the timeout."""
    assert render_png(plan_graph_dot(wide_plan(300)), timeout=60).startswith(b"\x89PNG")


def test_render_png_reports_a_missing_binary():
    """Without Graphviz the error says what to install."""
    with pytest.raises(GraphRenderError, match="not installed"):
        render_png("digraph { a }", dot_binary="no-such-dot-binary-xyz")


def test_render_png_reports_invalid_dot(dot):
    """Graphviz's complaint is passed on when the source does not parse."""
    with pytest.raises(GraphRenderError, match="exit code"):
        render_png("digraph { a -> }")


def fake_dot(tmp_path: Path, script: str) -> str:
    """An executable standing in for ``dot``: a Python script (so no shell tools are needed)."""
    path = tmp_path / "fake-dot"
    path.write_text(f"#!{sys.executable}\nimport sys, time\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_render_png_gives_up_after_the_timeout(tmp_path):
    """A ``dot`` that hangs is stopped and reported."""
    with pytest.raises(GraphRenderError, match=r"did not finish within 0\.2 s"):
        render_png("digraph {}", dot_binary=fake_dot(tmp_path, "time.sleep(5)"), timeout=0.2)


def test_render_png_refuses_output_that_is_not_png(tmp_path):
    """A ``dot`` that succeeds without an image is an error, not bytes to upload."""
    with pytest.raises(GraphRenderError, match="no PNG"):
        render_png("digraph {}", dot_binary=fake_dot(tmp_path, "sys.stdin.read(); print('hello')"))
