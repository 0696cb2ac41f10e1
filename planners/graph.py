"""Graph queries the planner needs: distances, reachability among a few services, criticality.

Everything here terminates on cyclic topologies: distances are breadth-first, and reachability is
computed on the condensation (each cycle collapsed into one node), so services on one cycle reach
each other and the caller breaks the tie.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from typing import TypeVar

import networkx as nx

from planners.topology import Topology

__all__ = ["Distances", "critical_services", "distances_from", "reachability"]

N = TypeVar("N", bound=Hashable)

Distances = Mapping[str, Mapping[str, int]]
"""``distances[a][s]``: hops from ``a`` to ``s``; missing when there is no path."""


def distances_from(
    topology: Topology, sources: Iterable[str], *, upstream: bool = False, cutoff: int | None = None
) -> dict[str, dict[str, int]]:
    """Shortest hop counts from each source along dependencies (or, upstream, along consumers).

    Args:
        topology: the service graph.
        sources: services to start from; names not in the topology are skipped.
        upstream: follow edges backwards (who calls this service) instead of forwards.
        cutoff: stop after this many hops.

    Returns:
        ``{source: {service: hops}}``, including the source itself at 0 hops.
    """
    graph = topology.graph.reverse(copy=False) if upstream else topology.graph
    return {
        source: dict(nx.single_source_shortest_path_length(graph, source, cutoff=cutoff))
        for source in sources
        if source in topology
    }


def reachability(topology: Topology, names: Collection[str]) -> dict[str, frozenset[str]]:
    """Which of ``names`` each of ``names`` depends on, directly or transitively.

    One pass over the condensation in reverse topological order, with a bit per name, so the cost
    is linear in the graph whatever the number of names.

    Returns:
        ``{name: names it reaches}``; a name reaches itself only through a cycle.
    """
    wanted = sorted(n for n in set(names) if n in topology)
    if not wanted:
        return {}
    bit = {name: 1 << i for i, name in enumerate(wanted)}
    graph = topology.graph
    if topology.cycles:
        dag = nx.condensation(graph)
        member_of: dict[str, int] = dag.graph["mapping"]
        own: dict[int, int] = {}
        for name in wanted:
            own[member_of[name]] = own.get(member_of[name], 0) | bit[name]
        reach = _propagate(dag, own)
        # Members of one component reach each other (the component is a cycle).
        return {
            name: _names(reach[member_of[name]] | own[member_of[name]], wanted)
            - ({name} if len(dag.nodes[member_of[name]]["members"]) == 1 else set())
            for name in wanted
        }
    own_bits = {name: bit[name] for name in wanted}
    reach_bits = _propagate(graph, own_bits)
    return {name: _names(reach_bits[name], wanted) for name in wanted}


def _propagate(dag: nx.DiGraph, own: Mapping[N, int]) -> dict[N, int]:
    """For each node, the OR of ``own`` bits of every node strictly below it."""
    reach: dict[N, int] = {}
    succ = dag.succ
    for node in reversed(list(nx.topological_sort(dag))):
        bits = 0
        for child in succ[node]:
            bits |= reach[child] | own.get(child, 0)
        reach[node] = bits
    return reach


def _names(bits: int, wanted: list[str]) -> frozenset[str]:
    return frozenset(name for i, name in enumerate(wanted) if bits >> i & 1)


def critical_services(topology: Topology, *, top: int = 5) -> list[tuple[str, int]]:
    """The services that the most others depend on, directly or transitively.

    Counts come from sets of dependents propagated over the condensation as Python integers used
    as bitsets, which stays fast at ten thousand services.

    Returns:
        Up to ``top`` pairs ``(service, number of services that depend on it)``, most first.
    """
    graph = topology.graph
    if graph.number_of_nodes() == 0:
        return []
    dag = nx.condensation(graph)
    members: dict[int, set[str]] = {n: dag.nodes[n]["members"] for n in dag}
    index = {node: i for i, node in enumerate(dag)}
    above: dict[int, int] = {}
    for node in nx.topological_sort(dag):
        bits = 0
        for parent in dag.pred[node]:
            bits |= above[parent] | (1 << index[parent])
        above[node] = bits
    # A set bit counts one service; a component of k services (a cycle) counts k.
    cycles = [(index[n], len(members[n]) - 1) for n in dag if len(members[n]) > 1]
    counts: list[tuple[str, int]] = []
    for node in dag:
        bits = above[node]
        dependents = bits.bit_count() + sum(extra for i, extra in cycles if bits >> i & 1)
        dependents += len(members[node]) - 1
        counts.extend((name, dependents) for name in members[node])
    counts.sort(key=lambda item: (-item[1], item[0]))
    return [item for item in counts[:top] if item[1] > 0]
