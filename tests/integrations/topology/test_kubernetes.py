"""The Kubernetes manifests loader: workloads as services, env addresses as soft edges."""

from __future__ import annotations

import pytest

from integrations.topology import load_fragment, load_topology
from planners.model import RollbackTarget, ServiceKind
from planners.topology import Severity
from tests.support.topology import Write, edges, errors, problems_at

FRONTEND = """
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: frontend}
    spec:
      selector: {matchLabels: {app: frontend}}
      template:
        metadata: {labels: {app: frontend}}
        spec:
          containers:
            - name: server
              image: gcr.io/google-samples/microservices-demo/frontend:v0.10.2
              env:
                - {name: PORT, value: "8080"}
                - {name: CART_SERVICE_ADDR, value: "cartservice:7070"}
                - {name: SHOPPING_ASSISTANT_SERVICE_ADDR, value: "shoppingassistantservice:80"}
                - {name: ENABLE_PROFILER, value: "0"}
                - {name: ENABLE_ASSISTANT, value: "false"}
                - {name: ENV_PLATFORM, value: "local"}
                - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: frontend}
    spec:
      selector: {app: frontend}
      ports: [{name: http, port: 80, targetPort: 8080}]
"""

CARTSERVICE = """
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: cartservice}
    spec:
      selector: {matchLabels: {app: cartservice}}
      template:
        metadata: {labels: {app: cartservice}}
        spec:
          containers:
            - name: server
              image: gcr.io/google-samples/microservices-demo/cartservice:v0.10.2
              env:
                - {name: REDIS_ADDR, value: "redis-cart:6379"}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: cartservice}
    spec:
      type: ClusterIP
      selector: {app: cartservice}
      ports: [{name: grpc, port: 7070, targetPort: 7070}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: redis-cart}
    spec:
      selector: {matchLabels: {app: redis-cart}}
      template:
        metadata: {labels: {app: redis-cart}}
        spec:
          containers:
            - {name: redis, image: "redis:alpine"}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: redis-cart}
    spec:
      selector: {app: redis-cart}
      ports: [{name: tcp-redis, port: 6379, targetPort: 6379}]
"""


def test_online_boutique_manifests_yield_edges_and_one_warning(write: Write) -> None:
    """Env addresses become soft edges; the optional shopping assistant is one warning."""
    path = write("boutique.yaml", FRONTEND + "    ---\n" + CARTSERVICE)
    topology, problems = load_topology([path])
    assert sorted(topology.services) == ["cartservice", "frontend", "redis-cart"]
    assert edges(topology) == {("frontend", "cartservice"), ("cartservice", "redis-cart")}
    assert len(problems) == 1
    warning = problems[0]
    assert warning.severity is Severity.WARNING
    assert (warning.source, warning.service, warning.field) == (str(path), "frontend", "env")
    assert "SHOPPING_ASSISTANT_SERVICE_ADDR=shoppingassistantservice:80" in warning.message
    assert "names no Service" in warning.message


def test_edges_carry_the_env_var_as_evidence(write: Write) -> None:
    """The edge's evidence is the env var that shows it."""
    topology, _ = load_topology([write("boutique.yaml", FRONTEND + "    ---\n" + CARTSERVICE)])
    edge = topology.graph.edges["frontend", "cartservice"]
    assert edge["evidence"] == "env CART_SERVICE_ADDR=cartservice:7070"


def test_workloads_are_declared_with_a_kubernetes_rollback_and_an_image_kind(write: Write) -> None:
    """A workload's rollback names its Deployment; a Redis image makes a cache."""
    topology, _ = load_topology([write("boutique.yaml", CARTSERVICE)])
    cart = topology.services["cartservice"]
    assert cart.rollback == RollbackTarget(executor="kubernetes", deployment="cartservice")
    assert cart.kind is ServiceKind.SERVICE
    assert topology.services["redis-cart"].kind is ServiceKind.CACHE


def test_services_in_other_files_are_resolved_together(write: Write) -> None:
    """Loading a folder resolves a Deployment's env against Services in sibling files."""
    write("k8s/frontend.yaml", FRONTEND)
    write("k8s/cartservice.yaml", CARTSERVICE)
    topology, problems = load_topology([write("k8s/cartservice.yaml", CARTSERVICE).parent])
    assert ("frontend", "cartservice") in edges(topology)
    assert len(problems) == 1


def test_one_file_alone_cannot_see_services_of_other_files(write: Write) -> None:
    """load_fragment reads one file: a Service defined elsewhere is reported as missing."""
    fragments = load_fragment(write("frontend.yaml", FRONTEND))
    warned = [p.message for f in fragments for p in f.problems]
    assert len(warned) == 2
    assert all("names no Service" in message for message in warned)
    assert [e for f in fragments for e in f.edges] == []


def _manifests(value: str, *, var: str = "TARGET_ADDR", namespace: str = "shop") -> str:
    return f"""
        apiVersion: v1
        kind: List
        items:
          - apiVersion: apps/v1
            kind: Deployment
            metadata: {{name: caller, namespace: {namespace}}}
            spec:
              template:
                metadata: {{labels: {{app: caller}}}}
                spec:
                  containers:
                    - name: main
                      env: [{{name: {var}, value: "{value}"}}]
          - apiVersion: apps/v1
            kind: StatefulSet
            metadata: {{name: carts-v2, namespace: shop}}
            spec:
              template:
                metadata: {{labels: {{app: carts, track: stable}}}}
                spec: {{containers: [{{name: main, image: "example/carts:1"}}]}}
          - apiVersion: v1
            kind: Service
            metadata: {{name: cartservice, namespace: shop}}
            spec: {{selector: {{app: carts}}}}
    """


@pytest.mark.parametrize(
    "value",
    [
        "cartservice",
        "cartservice:7070",
        "http://cartservice.shop.svc.cluster.local:8080",
        "cartservice.shop:7070",
        "cartservice.shop.svc",
        "redis://cartservice:6379/0",
        "grpc://CartService:7070",
    ],
)
def test_every_address_form_names_the_workload_behind_the_service(write: Write, value: str) -> None:
    """Each address form reaches the StatefulSet selected by the cartservice Service."""
    topology, problems = load_topology([write("list.yaml", _manifests(value))])
    assert edges(topology) == {("caller", "carts-v2")}
    assert topology.graph.edges["caller", "carts-v2"]["evidence"] == f"env TARGET_ADDR={value}"
    assert problems == []


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("ENABLE_TRACING", "true"),
        ("TARGET_SERVICE", "false"),
        ("PORT", "8080"),
        ("LISTEN_ADDR", "0.0.0.0:8080"),
        ("TARGET_ADDR", "localhost:7070"),
        ("TARGET_ADDR", "127.0.0.1:7070"),
        ("PAYMENT_URL", "https://api.payments.example.com/v1"),
        ("PAYMENT_HOST", "payments.example"),
        ("LOG_LEVEL", "debug"),
        ("GREETING", "hello world: cartservice"),
    ],
)
def test_values_that_are_not_cluster_addresses_are_ignored(
    write: Write, var: str, value: str
) -> None:
    """Flags, numbers, localhost, IPs and outside hosts give no edge and no warning."""
    topology, problems = load_topology([write("list.yaml", _manifests(value, var=var))])
    assert edges(topology) == set()
    assert problems == []


@pytest.mark.parametrize("var", ["X_ADDR", "X_HOST", "X_URL", "X_SERVICE", "X_ENDPOINT"])
def test_address_named_var_naming_no_service_is_a_warning(write: Write, var: str) -> None:
    """An address-named env var whose host names no Service is a warning, never an edge."""
    topology, problems = load_topology([write("list.yaml", _manifests("ghost:80", var=var))])
    assert edges(topology) == set()
    assert [(p.severity, p.service, p.field) for p in problems] == [
        (Severity.WARNING, "caller", "env")
    ]
    assert f"{var}=ghost:80 names no Service" in problems[0].message


def test_other_namespace_does_not_match(write: Write) -> None:
    """``cartservice.other`` does not reach the cartservice Service of namespace shop."""
    text = _manifests("http://cartservice.other.svc.cluster.local", namespace="other")
    topology, problems = load_topology([write("list.yaml", text)])
    assert edges(topology) == set()
    assert problems_at(problems, severity=Severity.WARNING, text="names no Service")


@pytest.mark.parametrize(
    ("value", "codepoint"),
    [("cartservic\u0435:7070", "U+0435"), ("cart\u200bservice:7070", "U+200B")],
)
def test_lookalike_host_is_not_matched_to_the_real_service(
    write: Write, value: str, codepoint: str
) -> None:
    """A host with a Cyrillic letter or a zero-width space gives no edge, and a warning."""
    topology, problems = load_topology([write("list.yaml", _manifests(value))])
    assert edges(topology) == set()
    assert len(problems) == 1
    assert codepoint in problems[0].message
    assert "not a valid Kubernetes name" in problems[0].message


def test_service_without_selector_falls_back_to_the_workload_of_its_name(write: Write) -> None:
    """A Service with no selector maps to the workload of the same name."""
    text = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: api}
        spec:
          template:
            spec:
              containers: [{name: main, env: [{name: DB_HOST, value: "orders-db"}]}]
        ---
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: orders-db}
        spec: {template: {spec: {containers: [{name: db, image: "docker.io/library/postgres:16"}]}}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: orders-db}
        spec: {clusterIP: None}
    """
    topology, problems = load_topology([write("db.yaml", text)])
    assert edges(topology) == {("api", "orders-db")}
    assert topology.services["orders-db"].kind is ServiceKind.DATABASE
    assert topology.services["orders-db"].rollback == RollbackTarget(
        executor="kubernetes", statefulset="orders-db"
    )
    assert problems == []


def test_service_selecting_nothing_and_external_name_services(write: Write) -> None:
    """A Service selecting no workload is a warning; an ExternalName Service is an external node."""
    text = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: api}
        spec:
          template:
            spec:
              containers:
                - name: main
                  env:
                    - {name: CACHE_ADDR, value: "orphan:6379"}
                    - {name: STRIPE_URL, value: "https://stripe:443"}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: orphan}
        spec: {selector: {app: nothing-has-this-label}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: stripe}
        spec: {type: ExternalName, externalName: api.stripe.com}
    """
    topology, problems = load_topology([write("svc.yaml", text)])
    assert edges(topology) == {("api", "stripe")}
    assert topology.services["stripe"].kind is ServiceKind.EXTERNAL
    assert [p.message for p in problems] == [
        "env CACHE_ADDR=orphan:6379 names Service 'orphan', which selects no Deployment or "
        "StatefulSet in the manifests; no edge added"
    ]


def test_workload_without_a_name_is_an_error(write: Write) -> None:
    """A Deployment with no metadata.name is an error; the rest still loads."""
    text = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {labels: {app: x}}
        spec: {}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: ok}
    """
    path = write("bad.yaml", text)
    topology, problems = load_topology([path])
    assert list(topology.services) == ["ok"]
    assert [(p.source, p.field) for p in errors(problems)] == [(str(path), "metadata.name")]


def test_workload_naming_its_own_service_is_no_dependency(write: Write) -> None:
    """A workload whose env names its own Service (a public URL) gets no self-edge or problem."""
    text = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: cartservice}
        spec:
          template:
            metadata: {labels: {app: cartservice}}
            spec:
              containers:
                - {name: m, env: [{name: PUBLIC_URL, value: "http://cartservice:7070/"}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: cartservice}
        spec: {selector: {app: cartservice}}
    """
    topology, problems = load_topology([write("self.yaml", text)])
    assert list(topology.services) == ["cartservice"]
    assert edges(topology) == set()
    assert problems == []


def test_mutual_calls_between_workloads_are_a_cycle(write: Write) -> None:
    """Two workloads calling each other load as a cycle warning, without crashing."""
    text = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: a}
        spec: {template: {spec: {containers: [{name: m, env: [{name: B_ADDR, value: "b:80"}]}]}}}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: b}
        spec: {template: {spec: {containers: [{name: m, env: [{name: A_ADDR, value: "a:80"}]}]}}}
        ---
        {apiVersion: v1, kind: Service, metadata: {name: a}}
        ---
        {apiVersion: v1, kind: Service, metadata: {name: b}}
    """
    topology, problems = load_topology([write("cycle.yaml", text)])
    assert topology.cycles == (("a", "b"),)
    assert problems_at(problems, severity=Severity.WARNING, text="dependency cycle")


def test_url_credentials_never_reach_the_evidence(write: Write) -> None:
    """A password or query string in an env URL is hidden in the edge's evidence."""
    value = "postgres://app:s3cret@cartservice:5432/carts?password=hunter2"
    topology, problems = load_topology([write("list.yaml", _manifests(value, var="DB_URL"))])
    evidence = topology.graph.edges["caller", "carts-v2"]["evidence"]
    assert evidence == "env DB_URL=postgres://***@cartservice:5432/carts?..."
    assert problems == []


def test_credentials_are_hidden_in_warnings_too(write: Write) -> None:
    """A warning about an unknown host does not repeat the URL's password."""
    value = "amqp://app:s3cret@rabbit:5672"
    _, problems = load_topology([write("list.yaml", _manifests(value, var="BROKER_URL"))])
    assert [p.message for p in problems] == [
        "env BROKER_URL=amqp://***@rabbit:5672 names no Service in the manifests; no edge added"
    ]


def test_comma_separated_addresses_each_give_an_edge(write: Write) -> None:
    """``a:1,b:2`` names every listed Service; an unknown one in the list is a warning."""
    value = "cartservice:9092, ghost:9092"
    topology, problems = load_topology([write("list.yaml", _manifests(value, var="BROKERS_ADDR"))])
    assert edges(topology) == {("caller", "carts-v2")}
    assert [p.message for p in problems] == [
        f"env BROKERS_ADDR={value}: 'ghost:9092' names no Service in the manifests; no edge added"
    ]


def test_a_list_that_holds_itself_is_read_once(write: Write) -> None:
    """A ``kind: List`` that contains itself through a YAML alias does not loop forever."""
    text = """
        &list
        apiVersion: v1
        kind: List
        items:
          - *list
          - {apiVersion: apps/v1, kind: Deployment, metadata: {name: api}}
    """
    topology, problems = load_topology([write("loop.yaml", text)])
    assert list(topology.services) == ["api"]
    assert problems == []


def test_workload_declared_twice_is_a_warning_and_both_envs_count(write: Write) -> None:
    """A second workload of the same name (another overlay) warns; its env still gives edges."""
    first = write("base/api.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\n")
    text = """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: api, namespace: prod}
        spec: {template: {spec: {containers: [{name: m, env: [{name: DB_HOST, value: db}]}]}}}
        ---
        {apiVersion: apps/v1, kind: Deployment, metadata: {name: db}}
        ---
        {apiVersion: v1, kind: Service, metadata: {name: db}}
    """
    second = write("prod/api.yaml", text)
    topology, problems = load_topology([first.parent.parent])
    assert edges(topology) == {("api", "db")}
    assert topology.services["api"].rollback == RollbackTarget(
        executor="kubernetes", deployment="api"
    )
    assert [(p.source, p.severity, p.message) for p in problems] == [
        (
            str(second),
            Severity.WARNING,
            f"StatefulSet declared again (first as a Deployment in {first})",
        )
    ]
