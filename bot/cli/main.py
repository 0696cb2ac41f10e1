"""The ``backout`` command line: plan, simulate, stored plans, migrations, the audit log, replay.

This is a composition root: it reads files, settings and the clock, calls the integrations to
parse them, the pure planner to plan, the store and the executors' previews, and the text views
to print. Bad input never ends in a traceback: it exits 2 with one line naming the file (or
setting) and the problem. Exit codes: 0 done, 1 a check found problems (``topology check``,
``audit verify``), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.cli import jobs, llm, replay
from bot.cli.inputs import InputError, manual_alert, read_alerts, read_changes, read_topology
from bot.cli.render import render_plan, render_plan_list, render_simulation, render_topology_report
from bot.runtime.settings import Settings, SettingsError, load_settings
from integrations.topology import load_topology
from planners.graph import critical_services
from planners.model import Plan
from planners.planner import PlanningOptions, plan_rollback
from planners.refine import PlanningInputs
from planners.topology import Severity

if TYPE_CHECKING:
    from bot.store import Store

__all__ = ["main"]

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (InputError, SettingsError) as exc:
        print(f"backout: {exc}", file=sys.stderr)
        return 2
    except LookupError as exc:
        from bot.store import PlanNotFoundError  # imported here: plan/topology need no database

        if not isinstance(exc, PlanNotFoundError):
            raise
        print(f"backout: {exc.args[0] if exc.args else exc}", file=sys.stderr)
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
    _planning_arguments(plan, required=True)
    plan.add_argument("--format", choices=("text", "json"), default="text")
    plan.add_argument("--save", action="store_true", help="keep the plan in the store")
    plan.add_argument(
        "--llm", action="store_true", help="refine and explain with the configured model (llm:)"
    )
    plan.set_defaults(run=_plan)

    simulate = commands.add_parser(
        "simulate", help="dry-run a plan through the configured executors' previews"
    )
    simulate.add_argument("plan_id", nargs="?", metavar="PLAN", help="a stored plan's id")
    _planning_arguments(simulate, required=False)
    simulate.set_defaults(run=_simulate)

    plans = commands.add_parser("plans", help="stored plans")
    plans_commands = plans.add_subparsers(dest="plans_command", required=True)
    listing = plans_commands.add_parser("list", help="the newest plans")
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(run=_plans_list)
    show = plans_commands.add_parser("show", help="one plan with its steps' progress")
    show.add_argument("plan_id", metavar="PLAN")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(run=_plans_show)

    db = commands.add_parser("db", help="the database")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply migrations").set_defaults(run=_db_upgrade)

    audit = commands.add_parser("audit", help="the audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="check the hash chain")
    verify.add_argument(
        "--head",
        action="append",
        type=_published_head,
        default=[],
        metavar="SEQ:HASH",
        help="a head the bot logged earlier ('audit head seq=… hash=…'); it must still be in "
        "the chain, unchanged (repeatable)",
    )
    verify.set_defaults(run=_audit_verify)

    serve = commands.add_parser("serve", help="run the Slack bot")
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=3000, help="listen port (default 3000)")
    serve.add_argument(
        "--socket-mode", action="store_true", help="connect out to Slack; no public URL needed"
    )
    serve.set_defaults(run=_serve)

    doctor = commands.add_parser(
        "doctor", help="check executors and health checks (reads only; exit 1 on a problem)"
    )
    doctor.set_defaults(run=_doctor)

    llm.add_parser(commands)
    replay.add_parser(commands)
    jobs.add_parser(commands)

    topology = commands.add_parser("topology", help="inspect a topology")
    topology_commands = topology.add_subparsers(dest="topology_command", required=True)
    check = topology_commands.add_parser("check", help="validate topology sources and summarise")
    check.add_argument("paths", nargs="+", metavar="PATH")
    check.set_defaults(run=_topology_check)
    return parser


def _planning_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--topology",
        action="append",
        required=required,
        metavar="PATH",
        help="catalog YAML, Backstage, Kubernetes manifests or trace links "
        "(file or folder; repeatable)",
    )
    parser.add_argument("--changes", metavar="FILE", help="recent changes, a JSON list")
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument(
        "--alerts",
        action="append",
        metavar="FILE",
        help="an alert webhook body: Alertmanager, Grafana, PagerDuty v3, Datadog or Opsgenie "
        "(repeatable)",
    )
    source.add_argument("--service", metavar="NAME", help="plan as if NAME were alerting now")
    parser.add_argument(
        "--at", type=_timestamp, metavar="TIME", help="the clock, ISO 8601 (default: now)"
    )
    parser.add_argument(
        "--window",
        type=_duration,
        default=timedelta(hours=2),
        help="how far back changes count, e.g. 2h, 90m (default 2h)",
    )


def _build_plan(args: argparse.Namespace) -> Plan:
    i = _planning_inputs(args)
    return plan_rollback(
        i.topology, changes=i.changes, alerts=i.alerts, now=i.now, options=i.options
    )


def _planning_inputs(args: argparse.Namespace) -> PlanningInputs:
    now: datetime = args.at or datetime.now(UTC)
    topology = read_topology(args.topology)
    changes = read_changes(args.changes) if args.changes else []
    if args.service is not None:
        alerts = [manual_alert(args.service, topology, now)]
    else:
        alerts = [alert for path in args.alerts for alert in read_alerts(path)]
    options = PlanningOptions(window=args.window)
    return PlanningInputs(
        topology=topology, changes=changes, alerts=alerts, now=now, options=options
    )


def _plan(args: argparse.Namespace) -> int:
    if args.llm:
        return llm.run_plan(args, _planning_inputs(args))
    plan = _build_plan(args)
    if args.format == "json":
        _print_json(plan)
    else:
        sys.stdout.write(render_plan(plan))
    if args.save:
        with _store(load_settings()) as store:
            plan_id = store.plans.save(plan, actor="cli")
        print(f"backout: saved as {plan_id} (backout plans show {plan_id})", file=sys.stderr)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from bot.core.simulation import simulate_plan  # the store and executors load only when needed
    from bot.runtime.services import build_executors

    settings = load_settings()
    if args.plan_id and args.topology:
        raise InputError("simulate: give a stored plan id or --topology …, not both")
    if args.plan_id:
        with _store(settings) as store:
            plan, plan_id = store.plans.get(args.plan_id).plan, args.plan_id
    elif args.topology and (args.alerts or args.service):
        plan, plan_id = _build_plan(args), "simulation"
    else:
        raise InputError("simulate: give a stored plan id, or --topology with --alerts/--service")
    results = simulate_plan(plan.steps, executors=build_executors(settings), plan_id=plan_id)
    sys.stdout.write(render_simulation(plan, results))
    return 0


def _plans_list(args: argparse.Namespace) -> int:
    with _store(load_settings()) as store:
        sys.stdout.write(render_plan_list(store.plans.recent(limit=args.limit)))
    return 0


def _plans_show(args: argparse.Namespace) -> int:
    with _store(load_settings()) as store:
        stored = store.plans.get(args.plan_id)
    if args.format == "json":
        _print_json(stored.plan)
    else:
        sys.stdout.write(render_plan(stored.plan, progress={r.step_id: r for r in stored.steps}))
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from bot.store import Store

    settings = load_settings()
    with Store.from_url(settings.database_url.get_secret_value(), upgrade=True):
        pass
    print(f"backout: {_redacted(settings.database_url.get_secret_value())} is at the latest schema")
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    with _store(load_settings()) as store:
        check = store.audit.verify(published=args.head)
    if check.ok:
        print(f"audit log intact: {check.entries} entries")
        return 0
    print(f"audit log BROKEN at entry {check.first_broken}: {check.reason}")
    return 1


def _serve(args: argparse.Namespace) -> int:
    from bot.runtime.logs import configure_logging
    from bot.runtime.serve import serve  # the Slack stack is only imported when serving

    configure_logging()
    return serve(load_settings(), host=args.host, port=args.port, socket_mode=args.socket_mode)


def _doctor(args: argparse.Namespace) -> int:
    from bot.runtime.doctor import diagnose, render

    findings = diagnose(load_settings())
    sys.stdout.write(render(findings))
    return 1 if any(not f.ok for f in findings) else 0


def _topology_check(args: argparse.Namespace) -> int:
    topology, problems = load_topology(args.paths)
    report = render_topology_report(topology, problems, critical=critical_services(topology))
    sys.stdout.write(report)
    return 1 if any(p.severity == Severity.ERROR for p in problems) else 0


def _store(settings: Settings) -> Store:
    from bot.store import Store  # the database stack loads only for commands that use it

    return Store.from_url(settings.database_url.get_secret_value(), upgrade=settings.auto_upgrade)


def _print_json(plan: Plan) -> None:
    json.dump(plan.to_json_dict(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _redacted(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def _timestamp(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a timezone, e.g. {value}Z")
    return parsed.astimezone(UTC)


def _published_head(value: str) -> tuple[int, str]:
    seq, _, digest = value.partition(":")
    if not seq.isdecimal() or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise argparse.ArgumentTypeError(f"not SEQ:HASH (a number and 64 hex digits): {value!r}")
    return int(seq), digest


def _duration(value: str) -> timedelta:
    match = _DURATION.match(value.strip())
    if not value.strip() or match is None:
        raise argparse.ArgumentTypeError(f"not a duration like 2h, 90m or 1h30m: {value!r}")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


if __name__ == "__main__":
    sys.exit(main())
