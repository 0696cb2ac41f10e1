"""Reading the command line's input files: topology sources, changes, alerts.

Every failure becomes an :class:`InputError` whose message names the file and the problem in
one line, so the CLI can print it and exit 2 (a broken topology: its first error and a count).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from integrations.alerts import AlertFormatError, parse_alerts
from integrations.deploys import ChangeFormatError, parse_changes
from integrations.topology import load_topology
from planners.model import Alert, Change
from planners.planner import suggest_services
from planners.topology import Severity, Topology

__all__ = ["InputError", "manual_alert", "read_alerts", "read_changes", "read_topology"]


class InputError(Exception):
    """Bad input; the message is one line naming the file (or option) and the problem."""


def read_topology(paths: Sequence[str]) -> Topology:
    """Load and merge topology sources; errors stop, warnings go to stderr."""
    topology, problems = load_topology(paths)
    errors = [p for p in problems if p.severity == Severity.ERROR]
    if errors:
        more = f" (and {len(errors) - 1} more: run 'backout topology check')" if errors[1:] else ""
        raise InputError(f"{errors[0].describe()}{more}")
    for warning in problems:
        print(f"backout: {warning}", file=sys.stderr)
    return topology


def read_changes(path: str) -> list[Change]:
    """A JSON list of normalised changes."""
    try:
        return parse_changes(_read_json(path))
    except ChangeFormatError as exc:
        raise InputError(f"{path}: {exc}") from exc


def read_alerts(path: str) -> list[Alert]:
    """An alert webhook body in any supported format."""
    try:
        return parse_alerts(_read_json(path))
    except AlertFormatError as exc:
        raise InputError(f"{path}: {exc}") from exc


def manual_alert(service: str, topology: Topology, now: datetime) -> Alert:
    """An alert standing for "plan as if ``service`` were alerting at ``now``"."""
    if service not in topology:
        close = suggest_services(service, topology)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise InputError(f"--service: unknown service {service!r}{hint}")
    return Alert(
        fingerprint=f"manual:{service}",
        service=service,
        name="manual request",
        started_at=now,
        source="cli",
    )


def _read_json(path: str) -> object:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {_reason(exc)}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})") from exc


def _reason(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return exc.strerror or str(exc)
