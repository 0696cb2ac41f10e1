"""The plan as a picture: Graphviz DOT source for a plan, and its rendering to PNG with ``dot``.

:func:`plan_graph_dot` is pure: the plan's services (alerting ones red, the top suspect's orange
and bold), its steps clustered by stage with the rollback order drawn from ``after``, each step
linked to the service it acts on. Node ids are generated (``svc0``, ``step0``…) and every label
is a quoted DOT string with quotes, backslashes and line breaks escaped, so a hostile service name
can neither add nodes nor change attributes. :func:`render_png` is the only I/O of
:mod:`bot.slack.views`: it runs Graphviz's ``dot`` (no shell, input on stdin, a timeout) and raises
:class:`GraphRenderError` when it cannot. Uploading the image is the caller's business.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Mapping
from typing import Final

from bot.lifecycle import StepStatus
from bot.slack.views.escape import clean
from planners.model import Action, Plan, Stage, Step

__all__ = ["DOT_TIMEOUT_SECONDS", "GraphRenderError", "plan_graph_dot", "render_png"]

DOT_TIMEOUT_SECONDS: Final = 10.0
"""How long ``dot`` may take before :func:`render_png` gives up."""

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_LABEL_LIMIT = 60
_STATUS_FILL: Mapping[str, str] = {
    StepStatus.PENDING: "#f2f2f2",
    StepStatus.QUEUED: "#e8eefc",
    StepStatus.RUNNING: "#cfe0fc",
    StepStatus.DONE: "#d4f4dd",
    StepStatus.FAILED: "#fbd0d0",
    StepStatus.SKIPPED: "#eeeeee",
    StepStatus.NOT_NEEDED: "#eeeeee",
    StepStatus.ABORTED: "#e0e0e0",
}
_ACTION_WORDS = {
    Action.DISABLE_FLAG: "turn off flag",
    Action.REVERT_CONFIG: "revert config",
    Action.ROLLBACK_DEPLOY: "roll back",
    Action.REVERT_MIGRATION: "revert migration",
    Action.MANUAL: "BY HAND",
}


class GraphRenderError(RuntimeError):
    """Graphviz could not render the graph: ``dot`` is missing, failed, or took too long."""


def plan_graph_dot(
    plan: Plan,
    statuses: Mapping[str, str] | None = None,
    *,
    dependencies: Iterable[tuple[str, str]] = (),
) -> str:
    """DOT source for the plan: services, steps by stage, the rollback order.

    Args:
        plan: the plan to draw.
        statuses: step id → status (``done``, ``failed``…), to colour the steps; pending when
            missing.
        dependencies: ``(consumer, provider)`` edges of the topology to draw between the plan's
            services (others are ignored).

    Returns:
        A ``digraph`` that ``dot`` accepts whatever the names in the plan contain.
    """
    statuses = statuses or {}
    services = list(
        dict.fromkeys(
            [
                *plan.incident.services,
                *plan.impacted,
                *(s.service for s in plan.suspects[:3]),
                *(s.service for s in plan.steps),
            ]
        )
    )
    service_ids = {name: f"svc{i}" for i, name in enumerate(services)}
    step_ids = {step.id: f"step{i}" for i, step in enumerate(plan.steps)}
    alerting = set(plan.incident.services)
    top = plan.suspects[0].service if plan.suspects else None
    title = "Rollback plan for " + (", ".join(plan.incident.services) or plan.incident.id)

    lines = [
        "digraph backout {",
        f"  graph [rankdir=LR, fontname=Helvetica, labelloc=t, label={_quote(title, 120)}];",
        "  node [fontname=Helvetica, shape=box, style=rounded];",
        "  edge [fontname=Helvetica];",
        "  subgraph cluster_services {",
        '    label="Services"; style="rounded,dotted"; color="#999999";',
    ]
    for name, node in service_ids.items():
        lines.append(f"    {node} [{_service_attributes(name, alerting=alerting, top=top)}];")
    lines.append("  }")
    for position, stage in enumerate(Stage):
        steps = [s for s in plan.steps if s.stage == stage]
        if not steps:
            continue
        lines.append(f"  subgraph cluster_stage{position} {{")
        lines.append(f'    label="Stage {position + 1}: {stage.value}"; style=rounded;')
        for number, step in enumerate(plan.steps, start=1):
            if step.stage == stage:
                status = str(statuses.get(step.id, StepStatus.PENDING))
                lines.append(f"    {step_ids[step.id]} [{_step_attributes(number, step, status)}];")
        lines.append("  }")
    for step in plan.steps:
        for before in step.after:
            if before in step_ids:
                lines.append(f"  {step_ids[before]} -> {step_ids[step.id]} [penwidth=2];")
        lines.append(
            f"  {step_ids[step.id]} -> {service_ids[step.service]}"
            ' [style=dashed, color="#888888", arrowhead=none];'
        )
    for consumer, provider in dependencies:
        if consumer in service_ids and provider in service_ids:
            lines.append(
                f"  {service_ids[consumer]} -> {service_ids[provider]}"
                ' [style=dotted, color="#555555", label="uses", constraint=false];'
            )
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_png(
    dot_source: str, *, dot_binary: str = "dot", timeout: float = DOT_TIMEOUT_SECONDS
) -> bytes:
    """Render DOT source to PNG with Graphviz.

    Args:
        dot_source: what :func:`plan_graph_dot` returned.
        dot_binary: the ``dot`` executable, a name on ``PATH`` or a path.
        timeout: seconds before giving up.

    Returns:
        The PNG image's bytes.

    Raises:
        GraphRenderError: when ``dot`` is not installed, fails, times out, or returns no PNG.
    """
    executable = shutil.which(dot_binary)
    if executable is None:
        raise GraphRenderError(
            f"Graphviz's {dot_binary!r} is not installed or not on PATH "
            "(install the graphviz package, e.g. apt-get install graphviz)"
        )
    try:
        done = subprocess.run(  # noqa: S603 -- fixed argv, no shell; DOT on stdin
            [executable, "-Tpng"],
            input=dot_source.encode("utf-8", errors="replace"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GraphRenderError(f"{executable} did not finish within {timeout:g} s") from exc
    except OSError as exc:
        raise GraphRenderError(f"could not run {executable}: {exc}") from exc
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", errors="replace").strip()[:500]
        raise GraphRenderError(f"{executable} failed with exit code {done.returncode}: {detail}")
    if not done.stdout.startswith(_PNG_MAGIC):
        raise GraphRenderError(f"{executable} returned no PNG image")
    return done.stdout


def _quote(text: str, limit: int = _LABEL_LIMIT) -> str:
    """One label line as a quoted DOT string."""
    return f'"{_line(text, limit)}"'


def _line(text: str, limit: int = _LABEL_LIMIT) -> str:
    """``text`` as the inside of a quoted DOT string: one line, backslashes and quotes escaped."""
    one_line = clean(text).strip()
    if len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    return one_line.replace("\\", "\\\\").replace('"', '\\"')


def _label(*lines: str) -> str:
    """Several label lines, each escaped, joined by DOT's centred line break ``\\n``."""
    return '"' + "\\n".join(_line(line) for line in lines if line) + '"'


def _service_attributes(name: str, *, alerting: set[str], top: str | None) -> str:
    attributes = {"label": _label(name)}
    if name in alerting:
        attributes |= {
            "color": '"#d62728"',
            "fontcolor": '"#b01010"',
            "fillcolor": '"#fde0e0"',
            "style": '"rounded,filled"',
            "penwidth": "2",
        }
    if name == top:
        attributes |= {"color": '"#ff7f0e"', "penwidth": "3", "fontname": '"Helvetica-Bold"'}
        if name not in alerting:
            attributes |= {"fillcolor": '"#ffe8cc"', "style": '"rounded,filled,bold"'}
    return _attributes(attributes)


def _step_attributes(number: int, step: Step, status: str) -> str:
    action = _ACTION_WORDS.get(step.action, str(step.action))
    if step.action == Action.DISABLE_FLAG and step.flag:
        action = f"{action} {step.flag} on"
    target = f"to {step.target_version}" if step.target_version else ""
    label = _label(
        f"{number}. {action} {step.service}",
        target,
        f"{step.risk} risk · {status.replace('_', ' ')}",
    )
    attributes = {
        "label": label,
        "fillcolor": f'"{_STATUS_FILL.get(status, "#ffffff")}"',
        "style": '"rounded,filled"',
    }
    if status == "failed":
        attributes |= {"color": '"#d62728"', "penwidth": "2"}
    if step.action == Action.MANUAL or step.warning:
        attributes["shape"] = "octagon"
    return _attributes(attributes)


def _attributes(attributes: Mapping[str, str]) -> str:
    """``key=value`` pairs; every value is a constant of ours or already a quoted string."""
    return ", ".join(f"{key}={value}" for key, value in attributes.items())
