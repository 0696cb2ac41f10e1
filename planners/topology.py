"""The service topology: fragments from many sources merged into one validated graph.

Loaders in ``integrations/topology/`` read files (catalog YAML, Backstage, Kubernetes manifests,
trace links) and each returns a :class:`Fragment`: the services it declares, the edges it saw and
the problems it found. :func:`build_topology` merges any number of fragments into one
:class:`Topology` (edge ``A -> B``: A calls or uses B) and one list of :class:`Problem` covering
every source, so a broken topology is reported whole, never one error at a time.

Strict edges (a catalog's ``depends_on``, Backstage's ``dependsOn``) must name a declared service:
a dangling one is an error. Soft edges (an env value in a manifest, a trace link) are evidence:
one that names nothing known is a warning and is dropped, never a dangling edge. Cycles are
reported as warnings; planning works on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import networkx as nx

from planners.model import Service

__all__ = ["Edge", "Fragment", "Problem", "Severity", "Topology", "build_topology"]


class Severity(StrEnum):
    """Errors make a topology unusable; warnings are worth a look."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One thing wrong with a topology source, located by file, service and field."""

    severity: Severity
    source: str
    message: str
    service: str | None = None
    field: str | None = None

    def describe(self) -> str:
        """``file: service 'x', field 'y': message``, without the severity."""
        where = self.source
        if self.service:
            where += f": service {self.service!r}"
        if self.field:
            where += f", field {self.field!r}"
        return f"{where}: {self.message}"

    def __str__(self) -> str:
        return f"{self.severity.value}: {self.describe()}"


@dataclass(frozen=True, kw_only=True)
class Edge:
    """``source`` calls or uses ``target``; ``evidence`` says how we know."""

    source: str
    target: str
    origin: str
    evidence: str = ""
    strict: bool = True


@dataclass(kw_only=True)
class Fragment:
    """What one topology source contributed.

    ``services`` are explicit declarations (with attributes); ``implicit`` names services that the
    source shows exist (a trace's endpoints) without describing them.
    """

    origin: str
    services: list[Service] = field(default_factory=list)
    implicit: set[str] = field(default_factory=set)
    edges: list[Edge] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Topology:
    """The merged service graph. ``graph`` has an edge ``A -> B`` when A depends on B."""

    services: Mapping[str, Service]
    graph: nx.DiGraph
    cycles: tuple[tuple[str, ...], ...]

    def __contains__(self, name: object) -> bool:
        return name in self.services

    def depends_on(self, name: str) -> list[str]:
        """The services ``name`` calls or uses directly, sorted."""
        return sorted(self.graph.successors(name))

    def consumers(self, name: str) -> list[str]:
        """The services that call or use ``name`` directly, sorted."""
        return sorted(self.graph.predecessors(name))


def build_topology(fragments: Iterable[Fragment]) -> tuple[Topology, list[Problem]]:
    """Merge fragments into one topology and one report of every problem.

    The first explicit declaration of a service gives its attributes; later declarations from other
    sources add dependencies. Services named only implicitly get default attributes.

    Args:
        fragments: what each loader read.

    Returns:
        The topology (built from whatever was valid) and all problems, sources' own first.
    """
    fragments = list(fragments)
    problems: list[Problem] = [p for f in fragments for p in f.problems]
    declared: dict[str, Service] = {}
    for fragment in fragments:
        for service in fragment.services:
            if service.name not in declared:
                declared[service.name] = service
    for fragment in fragments:
        for name in sorted(fragment.implicit):
            declared.setdefault(name, Service(name=name))

    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(declared)
    edges = [e for f in fragments for e in f.edges]
    edges += [
        Edge(source=s.name, target=t, origin=f.origin)
        for f in fragments
        for s in f.services
        for t in s.depends_on
    ]
    for edge in edges:
        problem = _check_edge(edge, declared)
        if problem is not None:
            problems.append(problem)
            continue
        if not graph.has_edge(edge.source, edge.target):
            graph.add_edge(edge.source, edge.target, origin=edge.origin, evidence=edge.evidence)

    # Each service's depends_on becomes the merged graph's (copied only where it differs).
    services = {
        name: svc
        if set(svc.depends_on) == set(graph.succ[name])
        else svc.model_copy(update={"depends_on": tuple(sorted(graph.succ[name]))})
        for name, svc in declared.items()
    }
    cycles = _cycles(graph)
    problems.extend(
        Problem(
            severity=Severity.WARNING,
            source="topology",
            message=f"dependency cycle: {_cycle_path(graph, cycle)} "
            "(rollback order among these services falls back to their names)",
        )
        for cycle in cycles
    )
    return Topology(services=services, graph=graph, cycles=cycles), problems


def _check_edge(edge: Edge, declared: Mapping[str, Service]) -> Problem | None:
    severity = Severity.ERROR if edge.strict else Severity.WARNING
    if edge.source == edge.target:
        return Problem(
            severity=severity,
            source=edge.origin,
            service=edge.source,
            field="depends_on",
            message=f"depends on itself{_evidence(edge)}",
        )
    for end in (edge.source, edge.target):
        if end not in declared:
            action = "" if edge.strict else "; edge ignored"
            return Problem(
                severity=severity,
                source=edge.origin,
                service=edge.source,
                field="depends_on",
                message=f"names {end!r}, which no source declares{_evidence(edge)}{action}",
            )
    return None


def _evidence(edge: Edge) -> str:
    return f" ({edge.evidence})" if edge.evidence else ""


def _cycle_path(graph: nx.DiGraph, component: tuple[str, ...]) -> str:
    """One concrete loop through a strongly connected component, as ``a -> b -> a``."""
    loop = nx.find_cycle(graph.subgraph(component), source=component[0])
    return " -> ".join([u for u, _ in loop] + [loop[0][0]])


def _cycles(graph: nx.DiGraph) -> tuple[tuple[str, ...], ...]:
    """Each strongly connected component of more than one service, as a sorted tuple."""
    found = [
        tuple(sorted(component))
        for component in nx.strongly_connected_components(graph)
        if len(component) > 1
    ]
    return tuple(sorted(found))
