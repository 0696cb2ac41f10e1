"""The trace links loader: implicit endpoints, soft edges, and merging with a catalog."""

from __future__ import annotations

import json

import pytest

from integrations.topology import load_fragment, load_topology
from planners.model import Tier
from planners.topology import Severity
from tests.support.topology import Write, edges, errors, problems_at

LINKS = [
    {"parent": "frontend", "child": "cartservice", "callCount": 12},
    {"parent": "cartservice", "child": "redis-cart", "callCount": 40},
    {"parent": "frontend", "child": "frontend", "callCount": 3},
    {"parent": "frontend", "child": "cartservice", "callCount": 5},
]


def test_links_declare_their_endpoints_and_give_soft_edges(write: Write) -> None:
    """Each link is a soft edge; its endpoints are implicit services; call counts add up."""
    (fragment,) = load_fragment(write("deps.json", json.dumps(LINKS)))
    assert fragment.implicit == {"frontend", "cartservice", "redis-cart"}
    assert fragment.services == []
    assert [(e.source, e.target, e.strict, e.evidence) for e in fragment.edges] == [
        ("frontend", "cartservice", False, "traces: 17 calls"),
        ("cartservice", "redis-cart", False, "traces: 40 calls"),
    ]
    assert fragment.problems == []


def test_self_link_is_dropped_silently(write: Write) -> None:
    """A service calling itself is normal in traces: no edge, no problem."""
    links = [{"parent": "frontend", "child": "frontend", "callCount": 3}]
    topology, problems = load_topology([write("deps.json", json.dumps(links))])
    assert list(topology.services) == ["frontend"]
    assert edges(topology) == set()
    assert problems == []


def test_jaeger_data_wrapper_is_accepted(write: Write) -> None:
    """Jaeger's ``{"data": [...]}`` answer loads like a bare list."""
    text = json.dumps({"data": LINKS, "total": 0, "limit": 0, "offset": 0, "errors": None})
    topology, problems = load_topology([write("jaeger.json", text)])
    assert edges(topology) == {("frontend", "cartservice"), ("cartservice", "redis-cart")}
    assert problems == []


def test_malformed_links_are_warnings_naming_the_index(write: Write) -> None:
    """Broken links are warnings naming their index; the good links still load."""
    links = [
        {"parent": "a", "child": "b", "callCount": 1},
        {"child": "b"},
        {"parent": "a", "child": 7},
        "a -> b",
        {"parent": "b", "child": "c", "callCount": "many"},
        {"parent": "", "child": "c"},
    ]
    path = write("deps.json", json.dumps(links))
    topology, problems = load_topology([path])
    assert edges(topology) == {("a", "b"), ("b", "c")}
    assert all(p.severity is Severity.WARNING and p.source == str(path) for p in problems)
    messages = [p.message for p in problems]
    assert messages == [
        "link [1] has no parent; ignored",
        "link [2] child must be a service name, got 7; ignored",
        "link [3] must be a mapping, got 'a -> b'; ignored",
        "link [4] callCount must be a whole number, got 'many'",
        "link [5] parent must be a service name, got ''; ignored",
    ]


@pytest.mark.parametrize("text", ["[]", '{"data": []}'])
def test_empty_links_are_a_warning(write: Write, text: str) -> None:
    """An export with no links says so as a warning."""
    topology, problems = load_topology([write("deps.json", text)])
    assert len(topology.services) == 0
    assert [(p.severity, p.message) for p in problems] == [
        (Severity.WARNING, "holds no dependency links")
    ]


def test_catalog_merged_with_traces_gains_edges_and_keeps_its_attributes(write: Write) -> None:
    """Trace links add edges between catalog services; the catalog's attributes win."""
    traces = write("a-traces.json", json.dumps(LINKS))
    catalog = write(
        "b-catalog.yaml",
        """
        services:
          - {name: frontend, tier: critical}
          - {name: cartservice, tier: critical, depends_on: [redis-cart]}
          - {name: redis-cart, kind: cache}
          - {name: adservice}
        """,
    )
    topology, problems = load_topology([traces, catalog])
    assert problems == []
    assert edges(topology) == {("frontend", "cartservice"), ("cartservice", "redis-cart")}
    assert topology.services["frontend"].tier is Tier.CRITICAL
    assert topology.services["frontend"].depends_on == ("cartservice",)
    assert topology.graph.edges["frontend", "cartservice"]["evidence"] == "traces: 17 calls"


def test_traces_naming_a_service_the_catalog_lacks_add_it(write: Write) -> None:
    """A trace endpoint unknown to the catalog becomes a service with default attributes."""
    catalog = write("catalog.yaml", "services:\n  - {name: frontend}\n")
    traces = write("deps.json", json.dumps([{"parent": "frontend", "child": "adservice"}]))
    topology, problems = load_topology([catalog, traces])
    assert sorted(topology.services) == ["adservice", "frontend"]
    assert edges(topology) == {("frontend", "adservice")}
    assert topology.graph.edges["frontend", "adservice"]["evidence"] == "traces"
    assert problems == []


def test_two_services_calling_each_other_is_a_cycle(write: Write) -> None:
    """Mutual calls in traces are a cycle warning, not a crash."""
    links = [{"parent": "a", "child": "b"}, {"parent": "b", "child": "a"}]
    topology, problems = load_topology([write("deps.json", json.dumps(links))])
    assert topology.cycles == (("a", "b"),)
    assert errors(problems) == []
    assert problems_at(problems, severity=Severity.WARNING, text="a -> b -> a")


def test_lookalike_endpoint_is_a_separate_service_with_a_warning(write: Write) -> None:
    """A trace endpoint with a Cyrillic letter is not merged into the real service."""
    links = [{"parent": "frontend", "child": "cartservic\u0435"}]
    catalog = write("catalog.yaml", "services:\n  - {name: frontend}\n  - {name: cartservice}\n")
    topology, problems = load_topology([catalog, write("deps.json", json.dumps(links))])
    assert ("frontend", "cartservice") not in edges(topology)
    assert problems_at(problems, severity=Severity.WARNING, field="child", text="U+0435")
