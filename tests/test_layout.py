"""The shape of the code base, checked: no import cycles, nothing outside the tests imports them,
and the modules of ``bot`` stay small (or say why not)."""

from __future__ import annotations

import ast

import grimp
import networkx as nx

from tests.support.paths import ROOT

PACKAGES = ("fakes", "bot", "integrations", "planners", "prompts")
MAX_LINES = 500
LONG_ON_PURPOSE = {
    "bot/core/engine.py": "one state machine: claims, the run loop, stage gates and leases share "
    "its invariants; split, each part would need the others' private state",
}


def test_there_are_no_import_cycles():
    """No module imports itself back through any chain of imports (imports in function bodies
    and under ``TYPE_CHECKING`` count too)."""
    graph = grimp.build_graph(*PACKAGES)
    imports = nx.DiGraph(
        (module, imported)
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
    )
    cycles = [sorted(c) for c in nx.strongly_connected_components(imports) if len(c) > 1]
    assert imports.number_of_nodes() > 100  # the graph really holds the code base
    assert cycles == []


def test_nothing_outside_the_tests_imports_them():
    """Product code, fakes and benchmarks import nothing from ``tests``."""
    offenders = []
    for folder in (*PACKAGES, "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                else:
                    continue
                if any(name == "tests" or name.startswith("tests.") for name in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_the_modules_of_bot_are_small_or_say_why():
    """Every module of ``bot`` is at most 500 lines, unless listed here with its reason."""
    long = {
        str(path.relative_to(ROOT)): count
        for path in sorted((ROOT / "bot").rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert set(long) <= set(LONG_ON_PURPOSE), long
