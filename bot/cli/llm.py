"""The model on the command line (issue 9 item 8): ``backout plan --llm`` and ``backout explain``.

    backout plan … --llm              the plan refined and explained by the configured model
    backout explain PLAN [--format json]   a stored plan explained by the configured model

The model is the ``llm:`` section of the settings (:class:`bot.runtime.settings.LLMSettings`);
without a ``model`` both exit 2 with one line saying so. What the model answers goes through the
pure planner glue (:func:`planners.llm.refine_plan`, :func:`planners.llm.explain_plan`): the guard
checks every claim, the planner applies the refinements it accepts, and a failing, slow or hostile
model leaves the graph's own plan and explanation. ``plan --llm`` refines, then explains the plan
it prints; ``explain`` only explains (a stored plan is the one responders approve: a read command
never changes it). The JSON output gains an ``llm`` section (:meth:`Consulted.section`): the
model, the outcome, the explanation shown, the refinements accepted, every claim the graph
dropped with its reason, and each call's tokens and latency. Text output adds the explanation
and "checked by the graph: N claims dropped". A plan's calls share one deadline
(``llm.deadline_seconds``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bot.cli.inputs import InputError
from bot.cli.render import render_plan
from bot.runtime.llm import OneDeadline, build_client
from bot.runtime.settings import Settings, load_settings
from integrations.errors import ConfigError
from integrations.llm import CallRecord, OpenAIChatClient, RecordedCalls
from planners.llm import (
    GUARD_REJECTED,
    CheckedExplanation,
    CheckedRefinement,
    explain_plan,
    refine_plan,
)
from planners.model import Alert, Plan
from planners.planner import plan_rollback
from planners.refine import PlanningInputs

__all__ = [
    "NOT_ASKED",
    "Consulted",
    "add_parser",
    "alerts_text",
    "connect",
    "consult",
    "render_section",
    "run_plan",
]

NOT_ASKED = "not_asked"
"""The refinement outcome of ``backout explain``: a stored plan is explained, never refined."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``explain`` to the command line's sub-commands."""
    parser = commands.add_parser(
        "explain", help="explain a stored plan with the configured model, checked by the graph"
    )
    parser.add_argument("plan_id", metavar="PLAN", help="a stored plan's id")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(run=_explain)


@dataclass(frozen=True)
class Consulted:
    """What the model made of one plan, after the graph's checks.

    Attributes:
        plan: the plan to show: refined when the graph accepted a proposal, else the planner's.
        explanation: the explanation to show (the model's, checked, or the graph's own).
        refinement: the refinement's outcome; ``None`` when none was asked for.
        calls: one record per model call (tokens, latency, outcome).
        model: the configured model.
        host: the endpoint's host (never its credentials).
    """

    plan: Plan
    explanation: CheckedExplanation
    refinement: CheckedRefinement | None
    calls: tuple[CallRecord, ...]
    model: str
    host: str

    @property
    def dropped(self) -> list[dict[str, str]]:
        """Every claim the graph dropped, with where it was and why."""
        found = [
            {"from": "explanation", "claim": d.claim, "reason": d.reason}
            for d in self.explanation.dropped
        ]
        if self._guard_rejected:
            found.append(
                {
                    "from": "explanation",
                    "claim": "the explanation",
                    "reason": self.explanation.detail,
                }
            )
        if self.refinement is not None:
            found += [
                {
                    "from": "refinement",
                    "claim": _proposal(r.proposal.model_dump()),
                    "reason": r.reason,
                }
                for r in self.refinement.rejected
            ]
        return found

    @property
    def _guard_rejected(self) -> bool:
        """Whether the graph refused the whole explanation (not an endpoint's 4xx, whose
        outcome is ``rejected``)."""
        return self.explanation.outcome == GUARD_REJECTED

    def section(self) -> dict[str, Any]:
        """The ``llm`` section of the plan's JSON."""
        checked = self.explanation
        return {
            "model": self.model,
            "host": self.host,
            "outcome": checked.outcome,
            "explanation": {
                "source": checked.source,
                "text": checked.text,
                "note": self.note,
                "detail": checked.detail,
                "answer": None if checked.explanation is None else checked.explanation.model_dump(),
            },
            "refinement": self._refinement(),
            "dropped": self.dropped,
            "calls": [
                {
                    "prompt": c.prompt,
                    "outcome": c.outcome,
                    "mode": c.mode,
                    "prompt_tokens": c.prompt_tokens,
                    "completion_tokens": c.completion_tokens,
                    "latency_seconds": round(c.latency_seconds, 3),
                    "attempts": c.attempts,
                }
                for c in self.calls
            ],
        }

    def _refinement(self) -> dict[str, Any]:
        if self.refinement is None:
            detail = "a stored plan is explained, not refined (backout plan --llm refines)"
            return {"outcome": NOT_ASKED, "detail": detail, "accepted": []}
        return {
            "outcome": self.refinement.outcome,
            "detail": self.refinement.detail,
            "accepted": [p.model_dump() for p in self.refinement.applied],
        }

    @property
    def note(self) -> str:
        """``checked by the graph: N claims dropped``, every dropped claim counted."""
        return f"checked by the graph: {len(self.dropped)} claims dropped"


@contextmanager
def connect(
    settings: Settings, *, command: str
) -> Iterator[tuple[OpenAIChatClient, RecordedCalls]]:
    """The configured model's client and the record of its calls, closed afterwards.

    Raises:
        InputError: no model is configured, or its settings are unusable (one line).
    """
    if not settings.llm.enabled:
        raise InputError(
            f"{command}: no model is configured (set llm.model in backout.yaml, "
            "or BACKOUT_LLM__MODEL)"
        )
    recorded = RecordedCalls()
    try:
        client = build_client(settings.llm, recorder=recorded)
    except ConfigError as exc:
        raise InputError(f"{command}: {exc}") from exc
    assert client is not None  # a model is configured: checked above
    with client:
        yield client, recorded


def consult(
    plan: Plan,
    client: OpenAIChatClient,
    *,
    recorded: RecordedCalls,
    inputs: PlanningInputs | None = None,
    alerts: str = "",
) -> Consulted:
    """Refine ``plan`` (when its ``inputs`` are given) and explain the result, checked by the
    graph; never raises for what the model does."""
    model = OneDeadline(client)
    refinement = None
    if inputs is not None:
        refinement = refine_plan(plan, model, inputs=inputs, alerts=alerts)
        plan = refinement.plan
    explanation = explain_plan(plan, model, alerts=alerts)
    config = client.config
    return Consulted(
        plan, explanation, refinement, tuple(recorded.calls), config.model, config.host
    )


def run_plan(args: argparse.Namespace, inputs: PlanningInputs) -> int:
    """``backout plan … --llm``: the plan drafted from ``inputs``, refined and explained."""
    settings = load_settings()
    with connect(settings, command="plan --llm") as (client, recorded):
        plan = plan_rollback(
            inputs.topology,
            changes=inputs.changes,
            alerts=inputs.alerts,
            now=inputs.now,
            options=inputs.options,
            history=inputs.history,
        )
        consulted = consult(
            plan, client, recorded=recorded, inputs=inputs, alerts=alerts_text(inputs.alerts)
        )
    _print(consulted, json_format=args.format == "json")
    if args.save:
        from bot.store import Store  # the database stack loads only for commands that use it

        url = settings.database_url.get_secret_value()
        with Store.from_url(url, upgrade=settings.auto_upgrade) as store:
            plan_id = store.plans.save(consulted.plan, actor="cli")
        print(f"backout: saved as {plan_id} (backout plans show {plan_id})", file=sys.stderr)
    return 0


def _explain(args: argparse.Namespace) -> int:
    from bot.store import Store

    settings = load_settings()
    with connect(settings, command="explain") as (client, recorded):
        url = settings.database_url.get_secret_value()
        with Store.from_url(url, upgrade=settings.auto_upgrade) as store:
            plan = store.plans.get(args.plan_id).plan  # PlanNotFoundError: exit 2 in main
            incident = store.incidents.incident(plan.incident.id)
        lines = [] if incident is None else [f"{a.name} on {a.service}" for a in incident.alerts]
        consulted = consult(plan, client, recorded=recorded, alerts="\n".join(lines))
    if args.format == "json":
        _dump(plan.to_json_dict() | {"llm": consulted.section()})
    else:
        sys.stdout.write(render_section(consulted))
    return 0


def alerts_text(alerts: Sequence[Alert]) -> str:
    """The alerts as the prompts' untrusted ``alerts`` text: one line each."""
    return "\n".join(
        f"{a.name} on {a.service or 'an unknown service'} ({a.severity}, {a.status.value})"
        + (f": {a.summary}" if a.summary else "")
        for a in alerts
    )


def render_section(consulted: Consulted) -> str:
    """The explanation as text: who wrote it, the graph's note, what it dropped and accepted."""
    checked = consulted.explanation
    if checked.source == "model":
        heading = f"EXPLANATION by {consulted.model}, {consulted.note}"
    else:
        heading = f"EXPLANATION by the graph ({checked.detail}); {consulted.note}"
    lines = [_clean(heading)]
    lines += [f"  {_clean(line)}" for line in checked.text.splitlines()]
    refinement = consulted.refinement
    if refinement is not None and refinement.applied:
        lines.append(" Refinements accepted (re-planned by the graph):")
        lines += [f"  - {_clean(_proposal(p.model_dump()))}" for p in refinement.applied]
    elif refinement is not None and refinement.outcome != "ok":
        lines.append(_clean(f" No refinement ({refinement.outcome}): {refinement.detail}"))
    if consulted.dropped:
        lines.append(" Dropped by the graph:")
        lines += [f"  - {_clean(d['claim'])}: {_clean(d['reason'])}" for d in consulted.dropped]
    return "\n".join(lines) + "\n"


def _print(consulted: Consulted, *, json_format: bool) -> None:
    if json_format:
        _dump(consulted.plan.to_json_dict() | {"llm": consulted.section()})
    else:
        sys.stdout.write(render_plan(consulted.plan) + "\n" + render_section(consulted))


def _dump(data: dict[str, Any]) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _proposal(proposal: dict[str, Any]) -> str:
    kind = proposal["kind"]
    if kind == "reorder":
        what = f"reorder: {proposal['step']} before {proposal['before']}"
    elif kind == "drop_step":
        what = f"drop_step: {proposal['step']}"
    else:
        what = f"consider_change: {proposal['change']}"
    return f"{what} ({proposal['reason']})"


def _clean(text: str) -> str:
    """One printable line: control characters (terminal escapes, bidi overrides) become spaces."""
    return "".join(ch if ch.isprintable() else " " for ch in text)
