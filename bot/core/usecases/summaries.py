"""When the post-incident summary is shown: once the plan's incident has resolved *and* its
execution has settled (no step queued or running), and again, in place, whenever the plan changes
after that (a late step, an abort, feedback). DESIGN.md, "The Slack surface".

Called by :class:`~bot.core.usecases.planning.Planning` when the last of the incident's alerts
resolves (an incident groups many; one resolving is not the end), by
:class:`~bot.core.usecases.execution.Execution` when a run of the plan ends, and by
:class:`~bot.core.usecases.decisions.Decisions` after feedback. The summary is always the
incident's newest plan's: a plan redrafted as alerts joined hands its message, and so the
summary's place, to its redraft. The notifier posts the summary the first time and updates that
message afterwards.
"""

from __future__ import annotations

from bot.core.ports import Notifier
from bot.lifecycle import StepStatus
from bot.store import Store

__all__ = ["RESOLVED_ACTION", "summarise_if_due", "summary_due"]

RESOLVED_ACTION = "incident.resolved"
"""The audit action recorded (once) on a plan when the last of its incident's alerts resolves
(the summary's time to resolve ends there)."""

_UNSETTLED = frozenset({StepStatus.QUEUED, StepStatus.RUNNING})


def summary_due(store: Store, plan_id: str) -> bool:
    """Whether the plan's summary should be showing: it is its incident's newest live plan, the
    incident has resolved, and none of its steps is queued or running."""
    stored = store.plans.get(plan_id)
    incident = store.incidents.incident(stored.plan.incident.id)
    if incident is None or incident.status != "resolved":
        return False
    newest = store.plans.for_incident(incident.id)
    if newest is None or newest.id != plan_id:
        return False
    return not any(row.status in _UNSETTLED for row in stored.steps)


def summarise_if_due(store: Store, notifier: Notifier, plan_id: str) -> bool:
    """Post (or update in place) the plan's summary when it is due; returns whether it was."""
    if not summary_due(store, plan_id):
        return False
    notifier.post_summary(plan_id)
    return True
