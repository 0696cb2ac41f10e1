"""The Backstage loader: Components and Resources as services, dependsOn refs as strict edges."""

from __future__ import annotations

import pytest

from integrations.topology import load_fragment, load_topology
from integrations.topology.backstage import parse_entity_ref
from planners.model import ServiceKind
from planners.topology import Severity
from tests.support.topology import Write, edges, problems_at

CATALOG_INFO = """
    apiVersion: backstage.io/v1alpha1
    kind: System
    metadata: {name: shop}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata: {name: frontend}
    spec:
      type: website
      owner: group:default/web
      dependsOn: [component:default/cart, resource:default/orders-db, component:search, queue]
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata: {name: cart}
    spec: {type: service, owner: checkout, dependsOn: [resource:redis]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Component
    metadata: {name: search}
    spec: {type: service, owner: user:jdoe}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Resource
    metadata: {name: orders-db}
    spec: {type: database, owner: checkout}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Resource
    metadata: {name: redis}
    spec: {type: cache}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Resource
    metadata: {name: queue}
    spec: {type: queue, dependencyOf: [component:default/cart]}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Resource
    metadata: {name: assets}
    spec: {type: s3-bucket}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: API
    metadata: {name: cart-api}
    spec: {type: grpc, lifecycle: production, owner: checkout, definition: "syntax = 'proto3';"}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Group
    metadata: {name: web}
    spec: {type: team, children: []}
    ---
    apiVersion: backstage.io/v1alpha1
    kind: Location
    metadata: {name: more}
    spec: {targets: [./other.yaml]}
"""


def test_components_and_resources_become_services_with_strict_edges(write: Write) -> None:
    """Components and Resources are services; every dependsOn ref form becomes an edge."""
    topology, problems = load_topology([write("catalog-info.yaml", CATALOG_INFO)])
    assert problems == []
    assert sorted(topology.services) == [
        "assets",
        "cart",
        "frontend",
        "orders-db",
        "queue",
        "redis",
        "search",
    ]
    assert edges(topology) == {
        ("frontend", "cart"),
        ("frontend", "orders-db"),
        ("frontend", "search"),
        ("frontend", "queue"),
        ("cart", "redis"),
        ("cart", "queue"),
    }
    kinds = {name: service.kind for name, service in topology.services.items()}
    assert kinds["orders-db"] is ServiceKind.DATABASE
    assert kinds["redis"] is ServiceKind.CACHE
    assert kinds["queue"] is ServiceKind.QUEUE
    assert kinds["assets"] is ServiceKind.SERVICE
    assert kinds["frontend"] is ServiceKind.SERVICE
    teams = {name: service.team for name, service in topology.services.items()}
    assert teams["frontend"] == "web"
    assert teams["cart"] == "checkout"
    assert teams["search"] == "jdoe"
    assert teams["redis"] is None


def test_dependency_edges_carry_the_ref_as_evidence(write: Write) -> None:
    """Each edge records the dependsOn ref it came from."""
    topology, _ = load_topology([write("catalog-info.yaml", CATALOG_INFO)])
    assert (
        topology.graph.edges["frontend", "cart"]["evidence"] == "dependsOn component:default/cart"
    )


def test_component_without_a_name_is_an_error(write: Write) -> None:
    """A Component with no metadata.name is an error naming the document; others still load."""
    text = """
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: cart}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {description: no name here}
        spec: {owner: web}
    """
    path = write("catalog-info.yaml", text)
    topology, problems = load_topology([path])
    assert list(topology.services) == ["cart"]
    found = problems_at(problems, severity=Severity.ERROR, field="metadata.name", text="document 2")
    assert [p.source for p in found] == [str(path)]
    assert len(problems) == 1


def test_dangling_and_malformed_dependencies_are_errors(write: Write) -> None:
    """A dependsOn naming nothing is a strict dangling error; a string dependsOn suggests a list."""
    text = """
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: frontend}
        spec: {dependsOn: [component:default/checkout, 7]}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: cart}
        spec: {dependsOn: "component:default/frontend"}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: search}
        spec: {dependsOn: [system:default/shop]}
    """
    topology, problems = load_topology([write("catalog-info.yaml", text)])
    assert edges(topology) == set()
    assert problems_at(problems, severity=Severity.ERROR, service="frontend", text="'checkout'")
    assert problems_at(problems, severity=Severity.ERROR, service="frontend", text="item 1")
    assert problems_at(
        problems, severity=Severity.ERROR, service="cart", text="write `dependsOn: [component:"
    )
    assert problems_at(problems, severity=Severity.WARNING, service="search", text="not a service")
    assert len(problems) == 4


def test_duplicate_entity_name_is_an_error(write: Write) -> None:
    """Two entities with one name in a file: the first is kept, the second reported."""
    text = """
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: cart}
        spec: {owner: checkout}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Resource
        metadata: {name: cart}
        spec: {type: database}
    """
    topology, problems = load_topology([write("catalog-info.yaml", text)])
    assert topology.services["cart"].team == "checkout"
    assert problems_at(problems, severity=Severity.ERROR, service="cart", text="declared again")


def test_only_other_kinds_yield_an_empty_fragment(write: Write) -> None:
    """A file of Systems and Groups only declares nothing and reports nothing."""
    text = """
        apiVersion: backstage.io/v1alpha1
        kind: System
        metadata: {name: shop}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Group
        metadata: {name: web}
    """
    fragments = load_fragment(write("catalog-info.yaml", text))
    assert [(f.services, f.edges, f.problems) for f in fragments] == [([], [], [])]


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("component:default/cart", ("component", "cart")),
        ("resource:default/orders-db", ("resource", "orders-db")),
        ("Component:cart", ("component", "cart")),
        ("cart", (None, "cart")),
        ("payments/cart", (None, "cart")),
    ],
)
def test_entity_refs_are_split_into_kind_and_name(ref: str, parsed: tuple[str | None, str]) -> None:
    """``[kind:][namespace/]name`` refs give their kind (lower-cased) and name."""
    assert parse_entity_ref(ref) == parsed
