"""The reply to *Simulate* (and ``/rollback simulate``): what each step would do, touching nothing.

A pure view of :mod:`bot.slack.views`: the engine's dry run (each executor's preview of its step,
or why it cannot preview) becomes one Block Kit message, collapsed to fit Slack's limits. The
engine's records are read through small Protocols, so this module imports neither the engine nor
the integrations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from bot.slack import messages
from bot.slack.views.blocks import blocks, context, message, pack, section, short
from bot.slack.views.escape import MAX_BLOCKS, code
from bot.slack.views.progress import action_words
from planners.model import Step

__all__ = ["PreviewLike", "SimulatedStepLike", "SimulationResult", "simulation_message"]


class PreviewLike(Protocol):
    """What an executor's dry run reports (:class:`integrations.base.Preview`)."""

    @property
    def summary(self) -> str: ...
    @property
    def changes(self) -> Sequence[str]: ...
    @property
    def already_done(self) -> bool: ...


class SimulatedStepLike(Protocol):
    """One step's dry run as the engine reports it (:class:`bot.core.engine.SimulatedStep`)."""

    @property
    def step(self) -> Step: ...
    @property
    def preview(self) -> PreviewLike | None: ...
    @property
    def problem(self) -> str: ...


SimulationResult = tuple[Step, str | None, str] | SimulatedStepLike
"""One step's dry run: ``(step, summary or None, problem)``, or the engine's own record."""


def simulation_message(plan_id: str, results: Sequence[SimulationResult] | None) -> dict[str, Any]:
    """What each step would do, from the executors' previews; nothing was touched.

    Args:
        plan_id: the simulated plan.
        results: per step, either a ``(step, summary, problem)`` tuple (``summary`` is the
            executor's preview, or None when it could not preview, and then ``problem`` says
            why) or the engine's :class:`~bot.core.simulation.SimulatedStep`, whose preview's
            changes are listed too; None when the plan is finished and offers no simulation.

    Returns:
        ``{"text", "blocks"}`` within Slack's limits.
    """
    if results is None:
        text = messages.NOTHING_TO_SIMULATE.format(plan_id=code(plan_id, limit=100))
        return {"text": text, "blocks": blocks(section(text))}
    lines = []
    outcomes = [_outcome(result) for result in results]
    for step, summary, problem in outcomes:
        common = {
            "step_id": code(step.id, limit=40),
            "stage": short(str(step.stage), 20),
            "action": action_words(step),
        }
        if summary is None:
            lines.append(
                messages.SIMULATION_BLOCKED.format(
                    **common, problem=short(problem, 500) if problem.strip() else messages.EMPTY
                )
            )
        else:
            lines.append(messages.SIMULATION_STEP.format(**common, summary=short(summary, 500)))
    blocked = sum(1 for _, summary, _ in outcomes if summary is None)
    totals = messages.SIMULATION_TOTALS.format(previewed=len(results) - blocked, blocked=blocked)
    sections = pack(lines) if lines else [messages.SIMULATION_EMPTY]
    budget = MAX_BLOCKS - 3  # the title, the collapse note and the totals
    body = [section(t) for t in sections[:budget]]
    if len(sections) > budget:
        kept = sum(text.count("\n") + 1 for text in sections[:budget])
        body.append(section(messages.SIMULATION_MORE.format(count=len(lines) - kept)))
    title = messages.SIMULATION_TITLE.format(plan_id=code(plan_id, limit=60))
    fallback = messages.SIMULATION_FALLBACK.format(
        plan_id=short(plan_id, 60), previewed=len(results) - blocked, blocked=blocked
    )
    return message(fallback, blocks(section(title), body, context([totals])))


def _outcome(result: SimulationResult) -> tuple[Step, str | None, str]:
    if isinstance(result, tuple):
        return result
    preview = result.preview
    if preview is None:
        return result.step, None, result.problem
    summary = preview.summary
    if preview.already_done:
        summary += messages.SIMULATION_ALREADY_DONE
    if preview.changes:
        shown = "; ".join(list(preview.changes)[:3])  # raw: the whole summary is escaped later
        summary += messages.SIMULATION_CHANGES.format(changes=shown)
    return result.step, summary, result.problem
