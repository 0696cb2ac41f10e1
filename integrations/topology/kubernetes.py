"""The Kubernetes manifests loader: Deployments and StatefulSets, linked through Services.

One of the topology loaders of ``integrations/topology/``. Each Deployment or StatefulSet is a
service; a Service is mapped to the workloads its ``spec.selector`` matches (else to the workload of
the same name). A container env value that addresses a Service (``cartservice:7070``,
``http://cartservice.shop.svc.cluster.local:8080``, ``redis://redis-cart:6379/0``) is a soft edge
from the workload to the workload behind that Service, with the env var as evidence. An env var
named like an address (``*_ADDR``, ``*_HOST``, ``*_URL``, ``*_SERVICE``, ``*_ENDPOINT``) whose host
names no Service in the manifests is a warning, never a dangling edge. Manifests of several files
are resolved together, so a Deployment may name a Service defined in another file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from integrations.topology._text import address_host, describe, lookalike_warning, redact
from planners.model import RollbackTarget, Service, ServiceKind
from planners.topology import Edge, Fragment, Problem, Severity

__all__ = ["ADDRESS_SUFFIXES", "is_kubernetes_object", "load_manifests"]

ADDRESS_SUFFIXES = ("_ADDR", "_HOST", "_URL", "_SERVICE", "_ENDPOINT")
"""Env var name endings that promise an address: one naming no Service is reported."""

_WORKLOAD_KINDS = {"Deployment": "deployment", "StatefulSet": "statefulset"}
_DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NOT_HOSTS = {"localhost", "true", "false", "yes", "no", "on", "off", "none", "null"}
_IMAGE_KINDS = {
    **dict.fromkeys(("redis", "valkey", "keydb", "memcached"), ServiceKind.CACHE),
    **dict.fromkeys(("postgres", "postgresql", "mysql", "mariadb", "mongo"), ServiceKind.DATABASE),
    **dict.fromkeys(("mongodb", "cockroach", "cassandra"), ServiceKind.DATABASE),
    **dict.fromkeys(("rabbitmq", "kafka", "nats", "redpanda", "activemq"), ServiceKind.QUEUE),
}


@dataclass
class _Workload:
    name: str
    kind: str
    namespace: str | None
    origin: str
    labels: dict[str, str]
    containers: list[dict[str, Any]]


@dataclass
class _KubeService:
    name: str
    namespace: str | None
    selector: dict[str, str]
    external: bool
    origin: str
    backends: list[str] = field(default_factory=list)


def is_kubernetes_object(data: object) -> bool:
    """Whether a parsed document is a Kubernetes object (string ``apiVersion`` and ``kind``)."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("apiVersion"), str)
        and isinstance(data.get("kind"), str)
    )


def load_manifests(documents: Sequence[tuple[str, object]]) -> list[Fragment]:
    """Read Kubernetes objects from one or several files, resolving Services across all of them.

    Args:
        documents: ``(origin, object)`` pairs: the file each parsed object came from, and the
            object (``kind: List`` objects are unpacked; kinds other than Deployment,
            StatefulSet and Service are skipped).

    Returns:
        One fragment per origin, in order of first appearance: its workloads as services, the
        soft edges read from their env, and every problem.
    """
    fragments = {origin: Fragment(origin=origin) for origin, _ in documents}
    workloads, services = _collect(documents, fragments=fragments)
    _map_backends(services, workloads)
    for group in services.values():
        for svc in group:
            if svc.external and not svc.backends:  # ExternalName: a service outside the cluster
                svc.backends = [svc.name]
                external = Service(name=svc.name, kind=ServiceKind.EXTERNAL)
                fragments[svc.origin].services.append(external)
    declared: dict[str, _Workload] = {}
    for workload in workloads:
        fragment = fragments[workload.origin]
        if workload.name in declared:
            first = declared[workload.name]
            message = f"{workload.kind} declared again (first as a {first.kind} in {first.origin})"
            _report(fragment, workload.name, "metadata.name", message, error=False)
        else:
            declared[workload.name] = workload
            fragment.services.append(_service(workload))
        _read_env(workload, services=services, fragment=fragment)
    return list(fragments.values())


def _collect(
    documents: Sequence[tuple[str, object]], *, fragments: dict[str, Fragment]
) -> tuple[list[_Workload], dict[str, list[_KubeService]]]:
    """The workloads and the Services (by name) among the objects; nameless ones are errors."""
    workloads: list[_Workload] = []
    services: dict[str, list[_KubeService]] = {}
    for origin, obj in _objects(documents):
        fragment = fragments[origin]
        kind = obj.get("kind")
        if not isinstance(kind, str) or (kind not in _WORKLOAD_KINDS and kind != "Service"):
            continue
        metadata = _mapping(obj.get("metadata"))
        name, namespace = metadata.get("name"), metadata.get("namespace")
        if not isinstance(name, str) or not name:
            _report(
                fragment, None, "metadata.name", f"{kind} without a name (got {describe(name)})"
            )
            continue
        namespace = namespace if isinstance(namespace, str) else None
        spec = _mapping(obj.get("spec"))
        if kind == "Service":
            selector = _labels(spec.get("selector"))
            external = spec.get("type") == "ExternalName"
            services.setdefault(name, []).append(
                _KubeService(name, namespace, selector, external, origin)
            )
        else:
            template = _mapping(spec.get("template"))
            pod = _mapping(template.get("spec"))
            containers = [
                c for key in ("containers", "initContainers") for c in _list(pod.get(key))
            ]
            labels = _labels(_mapping(template.get("metadata")).get("labels"))
            workload = _Workload(name, kind, namespace, origin, labels, containers)
            workloads.append(workload)
    return workloads, services


def _objects(documents: Sequence[tuple[str, object]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object, ``kind: *List`` items unpacked (a List that holds itself is read once)."""
    seen: set[int] = set()
    stack = list(reversed(documents))
    while stack:
        origin, obj = stack.pop()
        if not isinstance(obj, dict) or id(obj) in seen:
            continue
        seen.add(id(obj))
        kind, items = obj.get("kind"), obj.get("items")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
            stack.extend((origin, item) for item in reversed(items))
        else:
            yield origin, obj


def _map_backends(services: dict[str, list[_KubeService]], workloads: list[_Workload]) -> None:
    """Fill each Service's backends: the workloads its selector matches, else the same name."""
    by_label: dict[tuple[str, str], set[int]] = {}
    by_name: dict[str, list[int]] = {}
    for index, workload in enumerate(workloads):
        by_name.setdefault(workload.name, []).append(index)
        for pair in workload.labels.items():
            by_label.setdefault(pair, set()).add(index)
    for group in services.values():
        for svc in group:
            matched: set[int] = set()
            if svc.selector:
                pairs = iter(svc.selector.items())
                matched = set(by_label.get(next(pairs), set()))
                for pair in pairs:
                    matched &= by_label.get(pair, set())
            names = [
                workloads[i].name
                for i in matched
                if _same_namespace(workloads[i].namespace, svc.namespace)
            ]
            if not names:
                names = [
                    workloads[i].name
                    for i in by_name.get(svc.name, [])
                    if _same_namespace(workloads[i].namespace, svc.namespace)
                ]
            svc.backends = sorted(set(names))


def _service(workload: _Workload) -> Service:
    image = workload.containers[0].get("image") if workload.containers else None
    base = image.split("@")[0].rsplit("/", 1)[-1].split(":")[0] if isinstance(image, str) else ""
    rollback: dict[str, Any] = {"executor": "kubernetes"}
    if workload.namespace is not None:
        rollback["namespace"] = workload.namespace
    rollback[_WORKLOAD_KINDS[workload.kind]] = workload.name
    kind = _IMAGE_KINDS.get(base.lower(), ServiceKind.SERVICE)
    return Service(name=workload.name, kind=kind, rollback=RollbackTarget.model_validate(rollback))


def _read_env(
    workload: _Workload, *, services: dict[str, list[_KubeService]], fragment: Fragment
) -> None:
    seen: set[tuple[str, str]] = set()
    for container in workload.containers:
        for var in _list(container.get("env")):
            name, value = var.get("name"), var.get("value")
            if not isinstance(name, str) or not isinstance(value, str) or (name, value) in seen:
                continue
            seen.add((name, value))
            evidence = f"env {name}={redact(value)}"
            targets: list[str] = []
            for part in value.split(","):  # "kafka-0:9092,kafka-1:9092"
                found, warning = _resolve(
                    name, part.strip(), namespace=workload.namespace, services=services
                )
                targets += [target for target in found if target not in targets]
                if warning is not None:
                    what = f"{evidence}: {redact(part.strip())!r}" if "," in value else evidence
                    _report(fragment, workload.name, "env", f"{what} {warning}", error=False)
            fragment.edges.extend(
                Edge(
                    source=workload.name,
                    target=target,
                    origin=workload.origin,
                    evidence=evidence,
                    strict=False,
                )
                for target in targets
                if target != workload.name  # a workload naming its own Service is no dependency
            )


def _resolve(
    name: str, value: str, *, namespace: str | None, services: dict[str, list[_KubeService]]
) -> tuple[list[str], str | None]:
    """The workloads an env value addresses, and a warning when it should address one but not."""
    named = name.upper().endswith(ADDRESS_SUFFIXES)
    host = address_host(value)
    if host is None:
        return [], None
    lowered = host.lower()
    if not _DNS_NAME.fullmatch(lowered):
        odd = lookalike_warning(host)
        invalid = f"addresses a host that is not a valid Kubernetes name: {odd}"
        return [], (invalid if named and odd else None)
    labels = lowered.split(".")
    if lowered in _NOT_HOSTS or labels[-1].isdigit() or (len(labels) > 2 and labels[2] != "svc"):
        return [], None  # a flag, a number, an IP address or a host outside the cluster
    namespace = labels[1] if len(labels) > 1 else namespace
    matches = [s for s in services.get(labels[0], []) if _same_namespace(s.namespace, namespace)]
    if not matches:
        # "name.word" naming no Service is taken for an outside host (example.com), not a typo.
        unresolved = named and len(labels) != 2
        return [], ("names no Service in the manifests; no edge added" if unresolved else None)
    backends = sorted({backend for svc in matches for backend in svc.backends})
    if not backends:
        return [], (
            f"names Service {labels[0]!r}, which selects no Deployment or StatefulSet in the "
            "manifests; no edge added"
        )
    return backends, None


def _same_namespace(first: str | None, second: str | None) -> bool:
    return first is None or second is None or first == second


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _labels(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {
        str(key): str(label) for key, label in value.items() if isinstance(label, str | int | float)
    }


def _report(
    fragment: Fragment, service: str | None, field: str, message: str, *, error: bool = True
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
