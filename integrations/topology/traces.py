"""Trace dependency links loader: ``[{parent, child, callCount}]`` from Jaeger or OpenTelemetry.

One of the topology loaders of ``integrations/topology/``. Traces show who called whom, not what
a service is, so the endpoints are declared implicitly (:attr:`Fragment.implicit`) and every link
is a soft edge: evidence that :func:`planners.topology.build_topology` merges with what the catalog
and manifests declare. Jaeger's ``{"data": [...]}`` wrapper is accepted. A service calling itself
is normal in traces and is dropped silently; a malformed link is a warning naming its index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.topology._text import describe, lookalike_warning
from planners.topology import Edge, Fragment, Problem, Severity

__all__ = ["is_trace_links", "load_trace_links"]


def is_trace_links(data: object) -> bool:
    """Whether a parsed document looks like trace dependency links (bare or in ``data``)."""
    links = _links(data)
    return links is not None and (
        not links
        or any(isinstance(link, dict) and ("parent" in link or "child" in link) for link in links)
    )


def load_trace_links(data: object, *, origin: str) -> Fragment:
    """Read one parsed trace-links document.

    Args:
        data: a list of links, or a mapping whose ``data`` is that list (Jaeger's API answer).
        origin: where it came from (a file path), used in every problem.

    Returns:
        The endpoints (implicit services), the soft edges with their call counts, and the problems.
    """
    fragment = Fragment(origin=origin)
    links = _links(data)
    if links is None:
        message = f"expected a list of dependency links, got {describe(data)}"
        _warn(fragment, message, severity=Severity.ERROR)
        return fragment
    if not links:
        _warn(fragment, "holds no dependency links")
        return fragment
    calls: dict[tuple[str, str], int | None] = {}
    for index, link in enumerate(links):
        pair = _read_link(link, index=index, fragment=fragment)
        if pair is None:
            continue
        parent, child, count = pair
        fragment.implicit.update((parent, child))
        if parent == child:
            continue
        if (parent, child) not in calls:
            calls[(parent, child)] = count
        elif count is not None:
            calls[(parent, child)] = (calls[(parent, child)] or 0) + count
    fragment.edges.extend(
        Edge(
            source=parent,
            target=child,
            origin=origin,
            evidence="traces" + (f": {count} calls" if count is not None else ""),
            strict=False,
        )
        for (parent, child), count in calls.items()
    )
    return fragment


def _links(data: object) -> list[Any] | None:
    if isinstance(data, Mapping) and isinstance(data.get("data"), list):
        data = data["data"]
    return data if isinstance(data, list) else None


def _read_link(
    link: object, *, index: int, fragment: Fragment
) -> tuple[str, str, int | None] | None:
    if not isinstance(link, dict):
        _warn(fragment, f"link [{index}] must be a mapping, got {describe(link)}; ignored")
        return None
    ends: list[str] = []
    for key in ("parent", "child"):
        value = link.get(key)
        if key not in link:
            _warn(fragment, f"link [{index}] has no {key}; ignored", field=key)
            return None
        if not isinstance(value, str) or not value.strip():
            _warn(
                fragment,
                f"link [{index}] {key} must be a service name, got {describe(value)}; ignored",
                field=key,
            )
            return None
        odd = lookalike_warning(value)
        if odd is not None:
            _warn(fragment, f"link [{index}] {key} {odd}", field=key, service=value)
        ends.append(value)
    count = link.get("callCount")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        _warn(fragment, f"link [{index}] callCount must be a whole number, got {describe(count)}")
        count = None
    return ends[0], ends[1], count


def _warn(
    fragment: Fragment,
    message: str,
    *,
    field: str | None = None,
    service: str | None = None,
    severity: Severity = Severity.WARNING,
) -> None:
    fragment.problems.append(
        Problem(
            severity=severity,
            source=fragment.origin,
            service=service,
            field=field,
            message=message,
        )
    )
