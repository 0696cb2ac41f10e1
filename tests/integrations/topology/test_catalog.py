"""The Backout catalog loader: Online Boutique, a broken catalog reported whole, look-alikes."""

from __future__ import annotations

from pathlib import Path

import pytest

from integrations.topology import load_topology
from integrations.topology.catalog import load_catalog
from planners.model import Action, HealthSpec, RollbackTarget, ServiceKind, Tier
from planners.topology import Severity
from tests.support.paths import FIXTURES, SHARED_FIXTURES
from tests.support.topology import Write, edges, errors, problems_at

BOUTIQUE_EDGES = {
    ("frontend", "productcatalogservice"),
    ("frontend", "currencyservice"),
    ("frontend", "cartservice"),
    ("frontend", "recommendationservice"),
    ("frontend", "shippingservice"),
    ("frontend", "checkoutservice"),
    ("frontend", "adservice"),
    ("checkoutservice", "productcatalogservice"),
    ("checkoutservice", "shippingservice"),
    ("checkoutservice", "paymentservice"),
    ("checkoutservice", "emailservice"),
    ("checkoutservice", "currencyservice"),
    ("checkoutservice", "cartservice"),
    ("cartservice", "redis-cart"),
    ("recommendationservice", "productcatalogservice"),
    ("loadgenerator", "frontend"),
}


def _assert_boutique(path: Path) -> None:
    topology, problems = load_topology([path])
    assert problems == []
    assert len(topology.services) == 12
    assert edges(topology) == BOUTIQUE_EDGES
    assert topology.services["redis-cart"].kind is ServiceKind.CACHE
    assert topology.services["frontend"].tier is Tier.CRITICAL
    assert topology.services["emailservice"].team == "checkout"
    assert topology.cycles == ()


def test_online_boutique_copy_loads_with_its_twelve_services() -> None:
    """The repository's copy of the Online Boutique catalog loads: 12 services, 16 edges."""
    _assert_boutique(FIXTURES / "onlineboutique.yaml")


def test_online_boutique_shared_fixture_loads_with_its_twelve_services() -> None:
    """The shared Online Boutique fixture loads exactly like the repository's copy."""
    if not (SHARED_FIXTURES / "onlineboutique.yaml").is_file():
        pytest.skip(f"shared fixtures not checked out next to the repository ({SHARED_FIXTURES})")
    _assert_boutique(SHARED_FIXTURES / "onlineboutique.yaml")


BROKEN = """
    services:
      - name: frontend
        tier: crtical
        depends_on: cartservice
      - name: cartservice
        kind: databse
        depends_on: [redis-cart, 42, checkoutservice]
        owner: [U123]
      - name: cartservice
        team: duplicate
      - team: nameless
      - name: ""
      - name: 7
      - name: redis-cart
        kind: cache
        estimated_seconds: {rollback_deploy: -5, rollbak_deploy: 30, revert_config: 20}
      - name: checkoutservice
        depends_on: [paymentservice]
        rollback: [kubernetes]
        team: [checkout]
      - just a string
"""


def test_broken_catalog_reports_every_problem_by_service_and_field(write: Write) -> None:
    """A catalog with many mistakes yields all of them in one report, each located."""
    path = write("catalog.yaml", BROKEN)
    _, problems = load_topology([path])
    expected = [
        (Severity.ERROR, "frontend", "tier", "unknown tier 'crtical' (did you mean 'critical'?)"),
        (Severity.ERROR, "frontend", "depends_on", "write `depends_on: [cartservice]`"),
        (
            Severity.ERROR,
            "cartservice",
            "kind",
            "unknown kind 'databse' (did you mean 'database'?)",
        ),
        (Severity.ERROR, "cartservice", "depends_on", "item 1 must be a name, got 42"),
        (Severity.WARNING, "cartservice", "owner", "unknown field (did you mean 'owners'?)"),
        (Severity.ERROR, "cartservice", "name", "duplicate service: services[2]"),
        (Severity.ERROR, None, "name", "services[3] has no name"),
        (Severity.ERROR, None, "name", "services[4] has an empty name"),
        (Severity.ERROR, None, "name", "services[5] name must be a string, got 7"),
        (Severity.ERROR, "redis-cart", "estimated_seconds", "rollback_deploy must be a positive"),
        (Severity.ERROR, "redis-cart", "estimated_seconds", "unknown action 'rollbak_deploy'"),
        (Severity.ERROR, "checkoutservice", "rollback", "must be a mapping, got a list"),
        (Severity.ERROR, "checkoutservice", "team", "must be a string, got a list"),
        (Severity.ERROR, None, None, "services[8] must be a mapping of fields"),
        (Severity.ERROR, "checkoutservice", "depends_on", "names 'paymentservice'"),
    ]
    for severity, service, field, text in expected:
        found = problems_at(problems, severity=severity, service=service, field=field, text=text)
        assert len(found) == 1, (severity, service, field, text, [str(p) for p in problems])
    assert len(problems) == len(expected)
    assert all(p.source == str(path) for p in problems[:-1])


def test_broken_entries_are_still_declared_with_the_bad_field_defaulted(write: Write) -> None:
    """A typo in one field keeps the service (defaulted field), so no reference to it dangles."""
    topology, problems = load_topology([write("catalog.yaml", BROKEN)])
    assert sorted(topology.services) == ["cartservice", "checkoutservice", "frontend", "redis-cart"]
    assert topology.services["frontend"].tier is Tier.STANDARD
    assert topology.services["cartservice"].kind is ServiceKind.SERVICE
    assert topology.services["cartservice"].team is None
    assert topology.services["redis-cart"].estimated_seconds == {Action.REVERT_CONFIG: 20}
    assert edges(topology) == {("cartservice", "redis-cart"), ("cartservice", "checkoutservice")}
    dangling = problems_at(problems, severity=Severity.ERROR, field="depends_on", text="names")
    assert [p.message for p in dangling] == ["names 'paymentservice', which no source declares"]


@pytest.mark.parametrize(
    ("text", "severity", "message"),
    [
        ("version: 1\nservices: cartservice\n", Severity.ERROR, "must be a list of services"),
        ("services:\n  frontend: {tier: critical}\n", Severity.ERROR, "must be a list"),
        ("services: []\n", Severity.WARNING, "declares no services"),
        ("services:\n", Severity.WARNING, "declares no services"),
        ("servcies:\n  - name: frontend\n", Severity.ERROR, "no top-level 'services' list"),
    ],
)
def test_services_missing_or_not_a_list_is_reported(
    write: Write, text: str, severity: Severity, message: str
) -> None:
    """A catalog whose ``services`` is missing, empty or not a list says so, naming the file."""
    path = write("catalog.yaml", text)
    topology, problems = load_topology([path])
    found = problems_at(problems, severity=severity, field="services", text=message)
    assert [p.source for p in found] == [str(path)]
    assert len(topology.services) == 0


def test_misspelt_services_key_is_suggested(write: Write) -> None:
    """A top-level ``servcies`` key is recognised as a catalog typo and the fix suggested."""
    _, problems = load_topology([write("catalog.yaml", "servcies:\n  - name: frontend\n")])
    assert problems_at(problems, field="servcies", text="did you mean 'services'?")


def test_unquoted_yaml_boolean_in_depends_on_gets_a_quoting_hint(write: Write) -> None:
    """``depends_on: [no]`` is a YAML boolean; the problem says to quote it."""
    text = "services:\n  - name: a\n    depends_on: [no]\n"
    _, problems = load_topology([write("catalog.yaml", text)])
    assert problems_at(problems, service="a", field="depends_on", text="quote it")


def test_valid_fields_are_kept(write: Write) -> None:
    """Owners, rollback, health and estimated seconds reach the Service unchanged."""
    text = """
        services:
          - name: cartservice
            team: checkout
            owners: [U01, S02]
            rollback: {executor: kubernetes, namespace: shop, deployment: cartservice}
            health: {http: "https://cart.example.com/healthz"}
            estimated_seconds: {rollback_deploy: 45}
    """
    topology, problems = load_topology([write("catalog.yaml", text)])
    service = topology.services["cartservice"]
    assert problems == []
    assert service.owners == ("U01", "S02")
    assert service.rollback == RollbackTarget(
        executor="kubernetes", namespace="shop", deployment="cartservice"
    )
    assert service.health == HealthSpec(http=({"url": "https://cart.example.com/healthz"},))
    assert service.estimated_seconds == {Action.ROLLBACK_DEPLOY: 45}


def test_mutual_dependency_is_reported_as_a_cycle(write: Write) -> None:
    """loadgenerator and frontend depending on each other is a cycle warning, not a crash."""
    text = """
        services:
          - {name: loadgenerator, depends_on: [frontend]}
          - {name: frontend, depends_on: [loadgenerator, cartservice]}
          - {name: cartservice}
    """
    topology, problems = load_topology([write("catalog.yaml", text)])
    assert topology.cycles == (("frontend", "loadgenerator"),)
    cycle = problems_at(problems, severity=Severity.WARNING, text="dependency cycle")
    assert len(cycle) == 1
    assert "frontend" in cycle[0].message
    assert "loadgenerator" in cycle[0].message
    assert errors(problems) == []


def test_self_dependency_is_an_error(write: Write) -> None:
    """A service listing itself in depends_on is reported once, by build_topology."""
    text = "services:\n  - {name: a, depends_on: [a]}\n"
    _, problems = load_topology([write("catalog.yaml", text)])
    assert [p.message for p in problems] == ["depends on itself"]


@pytest.mark.parametrize(
    ("lookalike", "codepoint"),
    [("cartservic\u0435", "U+0435 CYRILLIC SMALL LETTER IE"), ("cart\u200bservice", "U+200B")],
)
def test_lookalike_name_is_not_matched_to_the_real_service(
    write: Write, lookalike: str, codepoint: str
) -> None:
    """A dependency spelt with a Cyrillic letter or a zero-width space is not cartservice."""
    text = (
        f"services:\n  - {{name: frontend, depends_on: ['{lookalike}']}}\n  - name: cartservice\n"
    )
    topology, problems = load_topology([write("catalog.yaml", text)])
    assert edges(topology) == set()
    warning = problems_at(problems, severity=Severity.WARNING, service="frontend", text=codepoint)
    assert len(warning) == 1
    assert "it is not matched to 'cartservice'" in warning[0].message
    dangling = problems_at(problems, severity=Severity.ERROR, field="depends_on", text="names")
    assert [p.message for p in dangling] == [f"names {lookalike!r}, which no source declares"]


def test_lookalike_declared_name_is_warned_about(write: Write) -> None:
    """A service whose own name holds a look-alike character is declared, with a warning."""
    text = "services:\n  - name: 'cartservic\u0435'\n"
    topology, problems = load_topology([write("catalog.yaml", text)])
    assert list(topology.services) == ["cartservic\u0435"]
    assert problems_at(problems, severity=Severity.WARNING, field="name", text="U+0435")


def test_load_catalog_accepts_parsed_data_directly() -> None:
    """load_catalog works on an already parsed document and reports a non-mapping."""
    fragment = load_catalog(["not", "a", "catalog"], origin="inline")
    assert fragment.services == []
    assert [p.message for p in fragment.problems] == [
        "a catalog must be a mapping with a 'services' list, got a list"
    ]


@pytest.mark.parametrize(
    ("health", "field", "text"),
    [
        (
            {"prometheus": {"query": "x", "op": "<", "threshold": "low"}},
            "health.prometheus.threshold",
            "must be a valid number, got 'low'",
        ),
        (
            {"prometheus": {"query": "x", "treshold": 1}},
            "health.prometheus.treshold",
            "unknown setting (did you mean 'threshold'?)",
        ),
        ({"prometheus": {"op": "<", "threshold": 1}}, "health.prometheus.query", "is required"),
        ({"prometheus": 42}, "health.prometheus", "must be a string or a mapping"),
        ({"prometheus": []}, "health.prometheus", "is an empty list"),
        ({"http": {"url": "http://cart/", "expect": "200"}}, "health.http.expect", "got '200'"),
        ({"http": ["http://a/", 5]}, "health.http[1]", "must be a mapping, got 5"),
        ({"http": "http://a/", "consecutive": 0}, "health.consecutive", "greater than or equal"),
        ({"http": "http://a/", "consecutive": 2.5}, "health.consecutive", "valid integer"),
        ({"http": "http://a/", "timeout": "2m"}, "health.timeout", "valid number, got '2m'"),
        ({"http": "http://a/", "interval": -1}, "health.interval", "greater than or equal"),
        ({"promethues": "up == 1"}, "health.promethues", "(did you mean 'prometheus'?)"),
        ({"consecutive": 3}, "health", "names no check"),
    ],
)
def test_a_bad_health_entry_is_an_error_naming_service_and_field(health, field, text):
    """A health entry of the wrong shape is a topology error at its path; the entry is ignored."""
    fragment = load_catalog({"services": [{"name": "cart", "health": health}]}, origin="c.yaml")
    found = problems_at(
        fragment.problems, severity=Severity.ERROR, service="cart", field=field, text=text
    )
    assert len(found) == 1, [str(p) for p in fragment.problems]
    assert [s.health for s in fragment.services] == [None]


@pytest.mark.parametrize(
    ("rollback", "field", "text"),
    [
        ({"executor": 5}, "rollback.executor", "must be a valid string, got 5"),
        ({"executor": "helm", "release": ["cart"]}, "rollback.release", "got a list"),
    ],
)
def test_a_bad_rollback_entry_is_an_error_naming_service_and_field(rollback, field, text):
    """A rollback setting of the wrong type is a topology error at its path; entry ignored."""
    fragment = load_catalog({"services": [{"name": "cart", "rollback": rollback}]}, origin="c.yaml")
    found = problems_at(
        fragment.problems, severity=Severity.ERROR, service="cart", field=field, text=text
    )
    assert len(found) == 1, [str(p) for p in fragment.problems]
    assert [s.rollback for s in fragment.services] == [None]


def test_a_rollback_entry_keeps_settings_for_the_executor(write: Write) -> None:
    """Keys Backout does not name (a webhook's or a flag service's parameters) are kept."""
    text = """
        services:
          - name: cart
            rollback: {executor: webhook, region: eu-west-1, namespace: shop}
            health: {}
    """
    topology, problems = load_topology([write("catalog.yaml", text)])
    cart = topology.services["cart"]
    assert problems == []
    assert cart.rollback is not None
    assert cart.rollback.executor == "webhook"
    assert cart.rollback.params() == {"namespace": "shop", "region": "eu-west-1"}
    assert cart.health is None
