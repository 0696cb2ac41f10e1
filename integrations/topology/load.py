"""Reading topology files of any supported format and merging them into one service graph.

The ``integrations`` side of the topology (DESIGN.md, "Topology sources"): :func:`load_topology`
reads files, recognises each document's format by its content (never by the file name), hands it
to the loader of that format (:mod:`.catalog`, :mod:`.backstage`, :mod:`.kubernetes`,
:mod:`.traces`) and merges the resulting fragments with :func:`planners.topology.build_topology`.
Nothing here raises on bad input: an unreadable file, a file that is not YAML or JSON, or a
document of no known format becomes an error :class:`~planners.topology.Problem` naming the file.
When several sources declare one service, the richest wins: catalog, then Backstage, then
Kubernetes, then traces, whatever the order of the paths.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from integrations.topology._text import describe
from integrations.topology.backstage import is_backstage_entity, load_entities
from integrations.topology.catalog import is_catalog, load_catalog
from integrations.topology.kubernetes import is_kubernetes_object, load_manifests
from integrations.topology.traces import is_trace_links, load_trace_links
from planners.topology import Fragment, Problem, Severity, Topology, build_topology

__all__ = ["SUFFIXES", "load_fragment", "load_topology"]

SUFFIXES = (".json", ".yaml", ".yml")
"""The files read from a folder (recursively); a file named directly is read whatever its name."""

# libyaml's safe loader is several times faster than the pure-Python one; both are safe.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# PyYAML's constructors raise these, not YAMLError, on explicitly tagged values they cannot
# build (``!!int ""``, ``!!timestamp null``, ``!!pairs`` of odd shapes).
_CONSTRUCTOR_ERRORS = (AttributeError, IndexError, KeyError, TypeError, OverflowError)

_EXPECTED = (
    "expected a Backout catalog (top-level 'services:'), Backstage entities "
    "(apiVersion: backstage.io/...), Kubernetes manifests (apiVersion and kind) or trace "
    "dependency links ([{parent, child, callCount}])"
)


@dataclass
class _File:
    """The documents of one file, sorted by format, and the problems of the file itself."""

    origin: str
    problems: list[Problem] = field(default_factory=list)
    catalogs: list[object] = field(default_factory=list)
    entities: list[object] = field(default_factory=list)
    objects: list[object] = field(default_factory=list)
    traces: list[object] = field(default_factory=list)


def load_topology(paths: Sequence[str | Path]) -> tuple[Topology, list[Problem]]:
    """Load every topology file and folder and merge them into one topology.

    Args:
        paths: files, or folders whose ``*.yaml``, ``*.yml`` and ``*.json`` files are read
            recursively in sorted order. Kubernetes manifests of all files are resolved
            together, so a Deployment may name a Service defined in another file.

    Returns:
        The merged topology and every problem of every source (never raises on bad input).
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    files, problems = _expand(paths)
    fragments = _fragments([_read(path) for path in files])
    if problems:
        fragments.insert(0, Fragment(origin="topology", problems=problems))
    return build_topology(fragments)


def load_fragment(path: str | Path) -> list[Fragment]:
    """Load one file on its own: one fragment per format found in it.

    Args:
        path: the file. Kubernetes Services are resolved within this file only.

    Returns:
        The fragments, in declaration priority (catalog, Backstage, Kubernetes, traces); the
        file's own problems (unreadable, not YAML or JSON, unrecognised) come first.
    """
    return _fragments([_read(Path(path))])


def _expand(paths: Sequence[str | Path]) -> tuple[list[Path], list[Problem]]:
    files: list[Path] = []
    problems: list[Problem] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        try:
            if path.is_dir():
                found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES)
                found = [p for p in found if p.is_file()]
                if not found:
                    problems.append(
                        _error(str(path), "the folder holds no .yaml, .yml or .json file")
                    )
            elif path.is_file():
                found = [path]
            else:
                exists = path.exists()
                why = "not a regular file" if exists else "no such file or folder"
                problems.append(_error(str(path), why))
                found = []
            resolved = [(p, p.resolve()) for p in found]
        except (OSError, ValueError) as exc:
            problems.append(_error(str(path), f"cannot read: {exc}"))
            continue
        for original, real in resolved:
            if real not in seen:
                seen.add(real)
                files.append(original)
    if not paths:
        problems.append(_error("topology", "no topology file given"))
    return files, problems


def _read(path: Path) -> _File:
    """Read, parse and sort the documents of one file by format."""
    file = _File(origin=str(path))
    documents, problem = _parse(path)
    if problem is not None:
        file.problems.append(problem)
        return file
    for number, document in enumerate(documents, start=1):
        if is_backstage_entity(document):
            file.entities.append(document)
        elif is_kubernetes_object(document):
            file.objects.append(document)
        elif isinstance(document, dict) and is_catalog(document):
            file.catalogs.append(document)
        elif is_trace_links(document):
            file.traces.append(document)
        else:
            where = f"document {number}: " if len(documents) > 1 else ""
            shape = _shape(document)
            file.problems.append(
                _error(file.origin, f"{where}unrecognised format: {shape}; {_EXPECTED}")
            )
    return file


def _parse(path: Path) -> tuple[list[object], Problem | None]:
    origin = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        return [], _error(origin, f"cannot read the file: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        return [], _error(origin, f"not YAML or JSON: not UTF-8 text (byte {exc.start})")
    if not text.strip():
        return [], _error(origin, "the file is empty")
    json_error: str | None = None
    if text.lstrip()[0] in "[{":
        try:
            return [json.loads(text)], None
        except ValueError as exc:  # JSONDecodeError, or an integer of over 4300 digits
            json_error = f"not valid JSON: {exc}"
        except RecursionError:
            return [], _error(origin, "nested too deeply")
    try:
        documents = [doc for doc in yaml.load_all(text, Loader=_SafeLoader) if doc is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return [], _error(origin, json_error or f"not valid YAML: {exc.problem}{at}")
    except RecursionError:
        return [], _error(origin, "nested too deeply")
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date such as 2026-13-45
        return [], _error(origin, json_error or f"not valid YAML: {exc}")
    except _CONSTRUCTOR_ERRORS as exc:
        why = f"a tagged value (such as !!int or !!timestamp) cannot be read ({exc!r})"
        return [], _error(origin, json_error or f"not valid YAML: {why}")
    if not documents:
        return [], _error(origin, "holds no document (only comments or empty documents)")
    return documents, None


def _fragments(files: Sequence[_File]) -> list[Fragment]:
    """Fragments in declaration priority: file problems, catalogs, Backstage, Kubernetes, traces."""
    fragments = [Fragment(origin=f.origin, problems=f.problems) for f in files if f.problems]
    fragments += [load_catalog(doc, origin=f.origin) for f in files for doc in f.catalogs]
    fragments += [load_entities(f.entities, origin=f.origin) for f in files if f.entities]
    objects = [(f.origin, obj) for f in files for obj in f.objects]
    if objects:
        fragments += load_manifests(objects)
    fragments += [load_trace_links(doc, origin=f.origin) for f in files for doc in f.traces]
    return fragments


def _shape(document: object) -> str:
    if isinstance(document, dict):
        keys = ", ".join(str(key) for key in list(document)[:5])
        return f"a mapping with keys {keys}" if keys else "an empty mapping"
    if isinstance(document, list):
        return f"a list of {len(document)} items" if document else "an empty list"
    return f"a single value {describe(document)}, not a mapping or a list"


def _error(source: str, message: str) -> Problem:
    return Problem(severity=Severity.ERROR, source=source, message=message)
