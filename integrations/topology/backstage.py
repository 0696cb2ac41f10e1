"""The Backstage loader: ``catalog-info.yaml`` entities (``apiVersion: backstage.io/...``).

One of the topology loaders of ``integrations/topology/``. A ``Component`` becomes a service, a
``Resource`` becomes a database, cache or queue when its ``spec.type`` says so (else a service);
``spec.owner`` gives the team. ``spec.dependsOn`` refs (``component:default/cart``, ``cart``) are
strict edges, like a catalog's ``depends_on``, and ``spec.dependencyOf`` the same edge reversed.
Other kinds (System, API, Group, Location...) describe no running service and are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from integrations.topology._text import describe, lookalike_warning
from planners.model import Service, ServiceKind
from planners.topology import Edge, Fragment, Problem, Severity

__all__ = ["is_backstage_entity", "load_entities", "parse_entity_ref"]

_SERVICE_KINDS = {"component", "resource"}
_RESOURCE_TYPES = {
    "database": ServiceKind.DATABASE,
    "cache": ServiceKind.CACHE,
    "queue": ServiceKind.QUEUE,
}


def is_backstage_entity(data: object) -> bool:
    """Whether a parsed document is a Backstage entity (``apiVersion: backstage.io/...``)."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("apiVersion"), str)
        and data["apiVersion"].startswith("backstage.io/")
    )


def parse_entity_ref(ref: str) -> tuple[str | None, str]:
    """Split ``[kind:][namespace/]name`` into its kind (lower-cased, or None) and its name."""
    kind: str | None = None
    if ":" in ref:
        kind, ref = ref.split(":", 1)
        kind = kind.strip().lower()
    return kind, ref.rsplit("/", 1)[-1].strip()


def load_entities(documents: Sequence[object], *, origin: str) -> Fragment:
    """Read the Backstage entities of one file.

    Args:
        documents: the parsed YAML documents (entities of other formats must not be passed).
        origin: where they came from (a file path), used in every problem and edge.

    Returns:
        The services (Components and Resources), their strict edges and every problem.
    """
    fragment = Fragment(origin=origin)
    seen: set[str] = set()
    for number, entity in enumerate(documents, start=1):
        where = f"document {number}" if len(documents) > 1 else "the entity"
        if not isinstance(entity, dict):
            _report(fragment, None, None, f"{where} must be a mapping, got {describe(entity)}")
            continue
        kind = entity.get("kind")
        if not isinstance(kind, str) or kind.lower() not in _SERVICE_KINDS:
            continue
        metadata = entity.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(name, str) or not name.strip():
            got = "none" if name is None else describe(name)
            _report(fragment, None, "metadata.name", f"{kind} in {where} has no name (got {got})")
            continue
        if name in seen:
            _report(fragment, name, "metadata.name", f"declared again in {where}; ignored")
            continue
        seen.add(name)
        odd = lookalike_warning(name)
        if odd is not None:
            _report(fragment, name, "metadata.name", odd, error=False)
        spec = entity.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        fragment.services.append(
            Service(
                name=name, team=_owner(spec, name=name, fragment=fragment), kind=_kind(kind, spec)
            )
        )
        for target, ref in _refs(spec, "dependsOn", name=name, fragment=fragment):
            _edge(fragment, name, target, evidence=f"dependsOn {ref}")
        for source, ref in _refs(spec, "dependencyOf", name=name, fragment=fragment):
            _edge(fragment, source, name, evidence=f"{name}: dependencyOf {ref}")
    return fragment


def _kind(kind: str, spec: dict[str, Any]) -> ServiceKind:
    if kind.lower() == "resource" and isinstance(spec.get("type"), str):
        return _RESOURCE_TYPES.get(spec["type"].lower(), ServiceKind.SERVICE)
    return ServiceKind.SERVICE


def _owner(spec: dict[str, Any], *, name: str, fragment: Fragment) -> str | None:
    owner = spec.get("owner")
    if owner is None:
        return None
    if not isinstance(owner, str) or not owner.strip():
        _report(fragment, name, "spec.owner", f"must be an entity ref, got {describe(owner)}")
        return None
    return parse_entity_ref(owner)[1]


def _refs(
    spec: dict[str, Any], field: str, *, name: str, fragment: Fragment
) -> list[tuple[str, str]]:
    """The (name, ref) pairs of a list of entity refs, reporting what is not one."""
    refs = spec.get(field)
    where = f"spec.{field}"
    if refs is None:
        return []
    if isinstance(refs, str):
        _report(fragment, name, where, f"must be a list, not a string: write `{field}: [{refs}]`")
        return []
    if not isinstance(refs, list):
        _report(fragment, name, where, f"must be a list of entity refs, got {describe(refs)}")
        return []
    found: list[tuple[str, str]] = []
    for position, ref in enumerate(refs):
        if not isinstance(ref, str) or not ref.strip():
            _report(
                fragment, name, where, f"item {position} must be an entity ref, got {describe(ref)}"
            )
            continue
        kind, target = parse_entity_ref(ref)
        if kind is not None and kind not in _SERVICE_KINDS:
            _report(
                fragment, name, where, f"{ref!r} is a {kind}, not a service; ignored", error=False
            )
            continue
        odd = lookalike_warning(target)
        if odd is not None:
            _report(fragment, name, where, odd, error=False)
        found.append((target, ref))
    return found


def _edge(fragment: Fragment, source: str, target: str, *, evidence: str) -> None:
    fragment.edges.append(
        Edge(source=source, target=target, origin=fragment.origin, evidence=evidence)
    )


def _report(
    fragment: Fragment,
    service: str | None,
    field: str | None,
    message: str,
    *,
    error: bool = True,
) -> None:
    fragment.problems.append(
        Problem(
            severity=Severity.ERROR if error else Severity.WARNING,
            source=fragment.origin,
            service=service,
            field=field,
            message=message,
        )
    )
