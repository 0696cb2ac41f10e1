"""Plain-text views for the terminal: a plan as an on-call engineer reads it, a topology report.

Pure functions from planner values to strings; the CLI prints them. Untrusted text (change
summaries, alert names) is shown as data, one line at a time, with control characters removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from planners.explain import format_seconds
from planners.model import Action, Plan, Stage
from planners.schedule import parallel_groups
from planners.topology import Problem, Severity, Topology

if TYPE_CHECKING:
    from bot.core.simulation import SimulatedStep
    from bot.store import StepRow, StoredPlan

__all__ = [
    "render_plan",
    "render_plan_list",
    "render_simulation",
    "render_topology_report",
]

_ACTION_WORDS = {
    Action.DISABLE_FLAG: "turn off flag",
    Action.REVERT_CONFIG: "revert config of",
    Action.ROLLBACK_DEPLOY: "roll back",
    Action.REVERT_MIGRATION: "revert migration on",
    Action.MANUAL: "BY HAND: undo change on",
}


def render_plan(
    plan: Plan, *, max_reasons: int = 4, progress: Mapping[str, StepRow] | None = None
) -> str:
    """The plan as text: incident, suspects with evidence, numbered steps by stage, warnings.

    With ``progress`` (a stored plan's step rows), each step shows its status and reason.
    """
    inc = plan.incident
    started = inc.started_at.strftime("%Y-%m-%d %H:%M:%S UTC") if inc.started_at else "unknown"
    lines = [
        f"Incident {inc.id}: alerting {', '.join(inc.services) or 'nothing known'}; "
        f"first alert {started}",
        f"Impacted: {', '.join(plan.impacted) or '-'}",
        "",
    ]
    if plan.suspects:
        lines.append("SUSPECTS (most likely first)")
        for rank, suspect in enumerate(plan.suspects[:5], start=1):
            at = suspect.at.strftime("%H:%M")
            kind = suspect.kind.value.replace("_", " ")
            lines.append(
                f" {rank}. {_clean(suspect.change_id)}  {kind} of {suspect.service} at {at}"
                f"  score {suspect.score:.2f}"
            )
            lines.extend(f"      - {_clean(r)}" for r in suspect.reasons[:max_reasons])
        if len(plan.suspects) > 5:
            lines.append(f"    … {len(plan.suspects) - 5} more suspect(s) in --format json")
    if plan.excluded:
        lines.append(f" Ruled out: {len(plan.excluded)} change(s), e.g. {_excluded(plan)}")
    lines.append("")
    if plan.abstained:
        lines.append("NO ROLLBACK PROPOSED")
        lines.extend(f" - {_clean(r)}" for r in plan.abstain_reasons)
    else:
        lines.extend(_steps(plan, progress or {}))
    if plan.notes:
        lines += ["", "NOTES"]
        lines.extend(f" - {_clean(n)}" for n in plan.notes)
    return "\n".join(lines) + "\n"


def _steps(plan: Plan, progress: Mapping[str, StepRow]) -> list[str]:
    path = format_seconds(plan.critical_path_seconds)
    lines = [f"PLAN: {len(plan.steps)} step(s), critical path {path}"]
    for stage in Stage:
        steps = [s for s in plan.steps if s.stage == stage]
        if not steps:
            continue
        lines.append(f" Stage {stage.value}")
        for step in steps:
            target = f" to {_clean(step.target_version)}" if step.target_version else ""
            flag = f" {_clean(step.flag)} on" if step.flag else ""
            after = f"  after {', '.join(step.after)}" if step.after else ""
            approvals = f"{step.approvals_required} approval{'s' * (step.approvals_required > 1)}"
            lines.append(
                f"  {step.id}. {_ACTION_WORDS[step.action]}{flag} {step.service}{target}"
                f"  [{step.risk.value} risk, {approvals}, ~{format_seconds(step.estimated_seconds)}"
                f", executor {step.executor or 'none'}]{after}"
            )
            lines.append(f"      why: {_clean(step.why)}")
            if step.id in progress:
                row = progress[step.id]
                reason = f": {_clean(row.reason)}" if row.reason else ""
                lines.append(f"      status: {row.status.upper()}{reason}")
            if step.warning:
                lines.append(f"      WARNING: {_clean(step.warning)}")
        for group in parallel_groups(steps):
            if len(group) > 1:
                lines.append(f"   may run in parallel: {', '.join(group)}")
    return lines


def render_simulation(plan: Plan, results: Sequence[SimulatedStep]) -> str:
    """What each step would change, from the executors' previews; nothing was touched."""
    lines = [f"SIMULATION of {len(results)} step(s): nothing is changed", ""]
    for result in results:
        step = result.step
        head = f" {step.id}. [{step.stage.value}] {_ACTION_WORDS[step.action]} {step.service}"
        if result.preview is None:
            lines.append(f"{head}: CANNOT PREVIEW: {_clean(result.problem)}")
            continue
        state = " (already done)" if result.preview.already_done else ""
        lines.append(f"{head}: {_clean(result.preview.summary)}{state}")
        lines.extend(f"      - {_clean(change)}" for change in result.preview.changes)
    blocked = sum(1 for r in results if r.preview is None)
    lines += ["", f"{len(results) - blocked} step(s) previewed, {blocked} cannot run as configured"]
    if plan.abstained:
        lines.append("The plan abstained: there is nothing to run.")
    return "\n".join(lines) + "\n"


def render_plan_list(plans: Sequence[StoredPlan]) -> str:
    """One line per stored plan, newest first."""
    if not plans:
        return "no plans stored yet (backout plan … --save)\n"
    lines = []
    for stored in plans:
        done = sum(1 for r in stored.steps if r.status == "done")
        top = stored.plan.suspects[0].change_id if stored.plan.suspects else "-"
        created = stored.created_at.strftime("%Y-%m-%d %H:%M UTC")
        lines.append(
            f"{stored.id}  {created}  {stored.status:<9} {done}/{len(stored.steps)} steps done"
            f"  incident {stored.plan.incident.id}  top suspect {_clean(top)}"
        )
    return "\n".join(lines) + "\n"


def _excluded(plan: Plan) -> str:
    first = plan.excluded[0]
    return f"{_clean(first.change_id)}: {_clean(first.why)}"


def render_topology_report(
    topology: Topology, problems: Sequence[Problem], *, critical: Sequence[tuple[str, int]]
) -> str:
    """Every problem, then a summary: services, edges, cycles, the most depended-on services."""
    errors = [p for p in problems if p.severity == Severity.ERROR]
    warnings = [p for p in problems if p.severity == Severity.WARNING]
    lines = [_clean(str(p)) for p in (*errors, *warnings)]
    if lines:
        lines.append("")
    graph = topology.graph
    lines.append(
        f"{len(topology.services)} services, {graph.number_of_edges()} edges, "
        f"{len(topology.cycles)} cycle(s); {len(errors)} error(s), {len(warnings)} warning(s)"
    )
    if critical:
        most = ", ".join(f"{name} ({count} depend on it)" for name, count in critical)
        lines.append(f"Critical services: {most}")
    return "\n".join(lines) + "\n"


def _clean(text: str) -> str:
    """One printable line: control characters (escape sequences, newlines) become spaces."""
    return "".join(ch if ch.isprintable() else " " for ch in text)
