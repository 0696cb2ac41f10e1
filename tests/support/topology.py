"""What the topology loader tests share: the ``write`` fixture's type, edges, problems by place.

The ``write`` fixture itself is in ``tests/integrations/topology/conftest.py`` (pytest finds
fixtures there); its type is here so that test modules never import a ``conftest``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from planners.topology import Problem, Severity, Topology

__all__ = ["Write", "edges", "errors", "problems_at"]

Write = Callable[[str, str], Path]
"""``write(name, text)``: write dedented text to ``tmp_path / name`` and return the path."""


def edges(topology: Topology) -> set[tuple[str, str]]:
    """Every ``(consumer, provider)`` edge of the merged graph."""
    return set(topology.graph.edges())


def problems_at(
    problems: list[Problem],
    *,
    severity: Severity | None = None,
    service: str | None = None,
    field: str | None = None,
    text: str = "",
) -> list[Problem]:
    """The problems at one service and field (None matches anything) whose message has ``text``."""
    return [
        p
        for p in problems
        if (severity is None or p.severity is severity)
        and (service is None or p.service == service)
        and (field is None or p.field == field)
        and text in p.message
    ]


def errors(problems: list[Problem]) -> list[Problem]:
    """Only the errors."""
    return [p for p in problems if p.severity is Severity.ERROR]
