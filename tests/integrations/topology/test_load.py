"""Loading paths: format detection by content, folders, bad files as problems, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import integrations.topology
from integrations.topology import load_fragment, load_topology
from integrations.topology.backstage import load_entities
from integrations.topology.catalog import load_catalog
from integrations.topology.kubernetes import load_manifests
from integrations.topology.traces import load_trace_links
from planners.model import Tier
from planners.topology import Severity
from tests.support.topology import Write, edges, errors, problems_at

CATALOG = """
services:
  - {name: frontend, tier: critical, depends_on: [cartservice]}
  - {name: cartservice}
"""


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("binary.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not UTF-8 text"),
        ("broken.yaml", b"services:\n  - name: [unclosed\n", "not valid YAML"),
        ("broken.json", b'{"services": [{"name": "a"}', "not valid JSON"),
        ("empty.yaml", b"", "the file is empty"),
        ("blank.yaml", b"  \n\n", "the file is empty"),
        ("comments.yaml", b"# nothing here\n---\n", "holds no document"),
        ("scalar.yaml", b"just some words\n", "a single value 'just some words'"),
        ("number.json", b"42", "a single value 42"),
        ("alerts.json", b'{"receiver": "x", "alerts": []}', "unrecognised format: a mapping"),
        ("list.yaml", b"- 1\n- 2\n", "unrecognised format: a list of 2 items"),
        ("tagged.yaml", b"!!python/object:os.system {}\n", "not valid YAML"),
        ("baddate.yaml", b"services:\n  - {name: a, since: 2026-13-45}\n", "not valid YAML"),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        ("bigint.json", b'{"services": [{"name": ' + b"7" * 5000 + b"}]}", "not valid JSON"),
    ],
)
def test_bad_file_is_one_error_naming_the_file(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    """A file that is unreadable as a topology is one error whose source is the file."""
    path = tmp_path / name
    path.write_bytes(content)
    topology, problems = load_topology([path])
    assert len(topology.services) == 0
    assert [(p.severity, p.source) for p in problems] == [(Severity.ERROR, str(path))]
    assert message in problems[0].message


def test_missing_path_and_empty_folder_are_errors(tmp_path: Path) -> None:
    """A path that does not exist, and a folder with no topology file, are errors."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("services: []")
    topology, problems = load_topology([tmp_path / "nope.yaml", tmp_path / "empty"])
    assert len(topology.services) == 0
    assert [(p.severity, p.source, p.message) for p in problems] == [
        (Severity.ERROR, str(tmp_path / "nope.yaml"), "no such file or folder"),
        (
            Severity.ERROR,
            str(tmp_path / "empty"),
            "the folder holds no .yaml, .yml or .json file",
        ),
    ]


def test_no_paths_is_an_error() -> None:
    """Loading nothing says that no topology file was given."""
    topology, problems = load_topology([])
    assert len(topology.services) == 0
    assert [p.message for p in errors(problems)] == ["no topology file given"]


def test_format_is_detected_by_content_not_by_name(write: Write) -> None:
    """A catalog named .json, trace links named .yaml and a .txt catalog all load."""
    catalog = write("looks-like.json", CATALOG)
    traces = write("links.yaml", json.dumps([{"parent": "cartservice", "child": "redis-cart"}]))
    other = write("more.txt", "services:\n  - {name: redis-cart, kind: cache}\n")
    topology, problems = load_topology([catalog, traces, other])
    assert problems == []
    assert edges(topology) == {("frontend", "cartservice"), ("cartservice", "redis-cart")}


def test_folder_is_read_recursively_in_sorted_order(write: Write, tmp_path: Path) -> None:
    """A folder's .yaml, .yml and .json files are read recursively; other files are not."""
    write("topo/b/catalog.yml", CATALOG)
    write("topo/a/links.json", json.dumps([{"parent": "frontend", "child": "adservice"}]))
    write("topo/README.md", "not: [a topology")
    write("topo/c/ignored.txt", "not: [a topology")
    topology, problems = load_topology([tmp_path / "topo"])
    assert problems == []
    assert edges(topology) == {("frontend", "cartservice"), ("frontend", "adservice")}
    assert topology.services["frontend"].tier is Tier.CRITICAL


def test_a_file_given_twice_is_read_once(write: Write, tmp_path: Path) -> None:
    """A file named directly and through its folder is read once (its problems appear once)."""
    path = write("topo/catalog.yaml", "services:\n  - {name: a, tier: gold}\n")
    _, problems = load_topology([path, tmp_path / "topo"])
    assert len(problems_at(problems, field="tier")) == 1


def test_a_single_path_string_is_accepted(write: Write) -> None:
    """A lone path (not in a list) is read as one path, not as characters."""
    topology, problems = load_topology(str(write("catalog.yaml", CATALOG)))
    assert problems == []
    assert sorted(topology.services) == ["cartservice", "frontend"]


def test_mixed_documents_are_sorted_by_format_and_unknown_ones_reported(write: Write) -> None:
    """One multi-document file may mix Kubernetes and Backstage; an unknown document is an error."""
    text = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: cartservice}
        ---
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata: {name: frontend}
        spec: {dependsOn: [component:cartservice]}
        ---
        hello: world
    """
    path = write("mixed.yaml", text)
    topology, problems = load_topology([path])
    assert edges(topology) == {("frontend", "cartservice")}
    assert [(p.source, p.message[:31]) for p in problems] == [
        (str(path), "document 3: unrecognised format")
    ]


def test_richer_sources_win_whatever_the_path_order(write: Write) -> None:
    """A Deployment listed before the catalog does not override the catalog's attributes."""
    manifest = write(
        "a.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: frontend}\n"
    )
    topology, _ = load_topology([manifest, write("b.yaml", CATALOG)])
    assert topology.services["frontend"].tier is Tier.CRITICAL
    assert topology.services["frontend"].rollback is None


def test_load_fragment_puts_the_file_problem_first(write: Write) -> None:
    """load_fragment returns the file's own problems before its formats' fragments."""
    text = "services:\n  - {name: a}\n---\n42\n"
    fragments = load_fragment(write("two.yaml", text))
    assert [len(f.problems) for f in fragments] == [1, 0]
    assert [s.name for s in fragments[1].services] == ["a"]


def test_ten_thousand_service_catalog_loads_whole(tmp_path: Path) -> None:
    """10,000 services with 29,994 edges load from JSON and YAML (speed: see make bench)."""
    entries = [
        {
            "name": f"svc-{i}",
            "tier": "standard",
            "depends_on": [f"svc-{j}" for j in (i - 1, i - 2, i - 3) if j >= 0],
        }
        for i in range(10_000)
    ]
    as_json = tmp_path / "big.json"
    as_json.write_text(json.dumps({"services": entries}))
    as_yaml = tmp_path / "big.yaml"
    lines = ["services:"] + [
        f"  - name: {e['name']}\n    tier: standard\n    depends_on: [{', '.join(e['depends_on'])}]"
        for e in entries
    ]
    as_yaml.write_text("\n".join(lines) + "\n")
    for path in (as_json, as_yaml):
        topology, problems = load_topology([path])
        assert (len(topology.services), topology.graph.number_of_edges(), problems) == (
            10_000,
            29_994,
            [],
        )


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "services",
                    "name",
                    "depends_on",
                    "tier",
                    "kind",
                    "data",
                    "parent",
                    "child",
                    "callCount",
                    "apiVersion",
                    "spec",
                    "metadata",
                    "items",
                    "env",
                    "value",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@given(JSON_VALUES)
def test_every_loader_turns_any_value_into_problems_not_exceptions(value: object) -> None:
    """Whatever a document holds, each format's loader returns a fragment and never raises."""
    assert load_catalog(value, origin="x").origin == "x"
    assert load_entities([value], origin="x").origin == "x"
    assert [f.origin for f in load_manifests([("x", value)])] == ["x"]
    assert load_trace_links(value, origin="x").origin == "x"


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_file_content_loads_without_raising(tmp_path: Path, content: bytes) -> None:
    """Arbitrary bytes in a file give a topology and problems, never an exception."""
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(content)
    topology, problems = load_topology([path])
    assert all(p.source for p in problems)
    assert len(topology.services) >= 0


def test_self_referencing_yaml_aliases_do_not_hang(write: Write) -> None:
    """YAML aliases that make a structure contain itself load as problems, quickly."""
    text = """
        services: &s
          - &a {name: a, depends_on: *a}
          - *s
    """
    topology, problems = load_topology([write("alias.yaml", text)])
    assert list(topology.services) == ["a"]
    assert [(p.field, p.message[:18]) for p in problems] == [
        ("depends_on", "must be a list of "),
        (None, "services[1] must b"),
    ]


def test_public_api_is_sorted() -> None:
    """The package exports its two loaders and the suffixes it reads from folders."""
    assert integrations.topology.__all__ == ["SUFFIXES", "load_fragment", "load_topology"]
