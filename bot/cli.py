"""The ``backout`` command line: ``plan`` and ``topology check`` (more commands join later).

This is a composition root: it reads files and the clock, calls the integrations to parse them,
the pure planner to plan, and the text views to print. Bad input never ends in a traceback: it
exits 2 with one line naming the file and the problem (a broken topology lists every problem).
Exit codes: 0 done, 1 ``topology check`` found errors, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.text import render_plan, render_topology_report
from integrations.alerts import AlertFormatError, parse_alerts
from integrations.deploys import ChangeFormatError, parse_changes
from integrations.topology import load_topology
from planners.graph import critical_services
from planners.model import Alert, Change
from planners.planner import PlanningOptions, plan_rollback, suggest_services
from planners.topology import Severity, Topology

__all__ = ["main"]

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class _InputError(Exception):
    """Bad input: the message is printed as is, after ``backout: ``, and the exit code is 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except _InputError as exc:
        print(f"backout: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `backout plan … | head` is fine
        return 0
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backout", description="Find the change behind an incident and plan its rollback."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = commands.add_parser("plan", help="draft a rollback plan for firing alerts")
    plan.add_argument(
        "--topology",
        action="append",
        required=True,
        metavar="PATH",
        help="catalog YAML, Backstage, Kubernetes manifests or trace links "
        "(file or folder; repeatable)",
    )
    plan.add_argument("--changes", metavar="FILE", help="recent changes, a JSON list")
    source = plan.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--alerts",
        action="append",
        metavar="FILE",
        help="an alert webhook body: Alertmanager, Grafana, PagerDuty v3, "
        "Datadog or Opsgenie (repeatable)",
    )
    source.add_argument("--service", metavar="NAME", help="plan as if NAME were alerting now")
    plan.add_argument(
        "--at", type=_timestamp, metavar="TIME", help="the clock, ISO 8601 (default: now)"
    )
    plan.add_argument(
        "--window",
        type=_duration,
        default=timedelta(hours=2),
        help="how far back changes count, e.g. 2h, 90m (default 2h)",
    )
    plan.add_argument("--format", choices=("text", "json"), default="text")
    plan.set_defaults(run=_plan)

    topology = commands.add_parser("topology", help="inspect a topology")
    topology_commands = topology.add_subparsers(dest="topology_command", required=True)
    check = topology_commands.add_parser("check", help="validate topology sources and summarise")
    check.add_argument("paths", nargs="+", metavar="PATH")
    check.set_defaults(run=_topology_check)
    return parser


def _plan(args: argparse.Namespace) -> int:
    now: datetime = args.at or datetime.now(UTC)
    topology = _load_topology(args.topology)
    changes = _read_changes(args.changes) if args.changes else []
    if args.service is not None:
        alerts = [_manual_alert(args.service, topology, now)]
    else:
        alerts = [alert for path in args.alerts for alert in _read_alerts(path)]
    plan = plan_rollback(
        topology,
        changes=changes,
        alerts=alerts,
        now=now,
        options=PlanningOptions(window=args.window),
    )
    if args.format == "json":
        json.dump(plan.to_json_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_plan(plan))
    return 0


def _topology_check(args: argparse.Namespace) -> int:
    topology, problems = load_topology(args.paths)
    report = render_topology_report(topology, problems, critical=critical_services(topology))
    sys.stdout.write(report)
    return 1 if any(p.severity == Severity.ERROR for p in problems) else 0


def _load_topology(paths: Sequence[str]) -> Topology:
    topology, problems = load_topology(paths)
    errors = [p for p in problems if p.severity == Severity.ERROR]
    if errors:
        more = f" (and {len(errors) - 1} more: run 'backout topology check')" if errors[1:] else ""
        raise _InputError(f"{errors[0].describe()}{more}")
    for warning in problems:
        print(f"backout: {warning}", file=sys.stderr)
    return topology


def _read_json(path: str) -> object:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _InputError(f"{path}: cannot read: {_reason(exc)}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _InputError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})") from exc


def _read_changes(path: str) -> list[Change]:
    try:
        return parse_changes(_read_json(path))
    except ChangeFormatError as exc:
        raise _InputError(f"{path}: {exc}") from exc


def _read_alerts(path: str) -> list[Alert]:
    try:
        return parse_alerts(_read_json(path))
    except AlertFormatError as exc:
        raise _InputError(f"{path}: {exc}") from exc


def _manual_alert(service: str, topology: Topology, now: datetime) -> Alert:
    if service not in topology:
        close = suggest_services(service, topology)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise _InputError(f"--service: unknown service {service!r}{hint}")
    return Alert(
        fingerprint=f"manual:{service}",
        service=service,
        name="manual request",
        started_at=now,
        source="cli",
    )


def _timestamp(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a timezone, e.g. {value}Z")
    return parsed.astimezone(UTC)


def _duration(value: str) -> timedelta:
    match = _DURATION.match(value.strip())
    if not value.strip() or match is None:
        raise argparse.ArgumentTypeError(f"not a duration like 2h, 90m or 1h30m: {value!r}")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _reason(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return exc.strerror or str(exc)


if __name__ == "__main__":
    sys.exit(main())
