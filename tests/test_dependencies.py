"""The supply chain, checked: every third-party package the code imports is declared in
``pyproject.toml`` (the product's in ``dependencies``, the tests' and benchmarks' in the ``dev``
extra), and the lock files pin every declared package with hashes."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.support.paths import ROOT

PRODUCT = ("bot", "planners", "integrations", "prompts", "fakes")
DEVELOPMENT = ("tests", "benchmarks")
LOCAL = {*PRODUCT, *DEVELOPMENT, "scripts"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(requirements: list[str]) -> set[str]:
    return {_canonical(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in requirements}


def _imported(folders: tuple[str, ...]) -> dict[str, str]:
    """Top-level third-party modules imported under ``folders`` → one file importing each."""
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".", 1)[0]
                    if top not in sys.stdlib_module_names and top not in LOCAL:
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _project() -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def _undeclared(imported: dict[str, str], declared: set[str]) -> list[str]:
    distributions = packages_distributions()
    missing = []
    for module, where in sorted(imported.items()):
        names = {_canonical(d) for d in distributions.get(module, [module])}
        if not names & declared:
            missing.append(f"{module} (imported in {where}; distribution {sorted(names)})")
    return missing


def test_the_product_declares_every_package_it_imports():
    runtime = _declared(list(_project()["dependencies"]))  # type: ignore[call-overload]
    imported = _imported(PRODUCT)
    assert "sqlalchemy" in imported  # the scan really reads the code base
    assert _undeclared(imported, runtime) == []


def test_the_tests_and_benchmarks_declare_what_they_import():
    project = _project()
    extras: dict[str, list[str]] = project["optional-dependencies"]  # type: ignore[assignment]
    declared = _declared(list(project["dependencies"])) | _declared(extras["dev"])  # type: ignore[call-overload]
    assert _undeclared(_imported(DEVELOPMENT), declared) == []


def _locked(path: Path) -> dict[str, list[str]]:
    """Package → its hashes, from a lock file written by ``scripts/lock``."""
    locked: dict[str, list[str]] = {}
    current = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        pin = re.match(r"^([A-Za-z0-9_.-]+)==\S+", line)
        if pin:
            current = _canonical(pin.group(1))
            locked[current] = []
        elif current and "--hash=sha256:" in line:
            locked[current].append(line.strip())
    return locked


def test_the_locks_pin_every_declared_package_with_hashes():
    project = _project()
    extras: dict[str, list[str]] = project["optional-dependencies"]  # type: ignore[assignment]
    runtime = _declared(list(project["dependencies"]))  # type: ignore[call-overload]
    for path, wanted in (
        (ROOT / "requirements.lock", runtime),
        (ROOT / "requirements-dev.lock", runtime | _declared(extras["dev"])),
    ):
        locked = _locked(path)
        assert sorted(wanted - locked.keys()) == [], path.name
        assert [name for name, hashes in locked.items() if not hashes] == [], path.name
