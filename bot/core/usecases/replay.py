"""The recorded incidents of the store as replay cases (:mod:`planners.replay`): for each
incident its newest live plan, the alerts it recorded, the changes recorded up to the moment that
plan was drafted, the plan's ranking, and the culprit its summary's feedback confirmed."""

from __future__ import annotations

from datetime import timedelta

from bot.core.usecases.inputs import alert_of
from bot.lifecycle import PlanKind
from bot.store import Store
from planners.replay import Case

__all__ = ["recorded_cases"]


def recorded_cases(store: Store, *, window: timedelta, limit: int = 1000) -> list[Case]:
    """The newest ``limit`` plans' incidents as cases, oldest first.

    Args:
        store: where incidents, plans, changes and feedback are kept.
        window: how far before an incident's first alert changes are taken (the planner's
            window; it leaves out older ones itself, so a wider one is harmless).
        limit: how many recent plans to look through.

    A plan drafted on request (``/rollback plan``) has no recorded incident and is not a case.
    The culprit is the plan's top suspect when more responders said it was right than wrong;
    otherwise the case has none (it still counts for abstentions and changed rankings).
    """
    cases: list[Case] = []
    seen: set[str] = set()
    for stored in store.plans.recent(limit=limit):  # newest first: an incident's latest plan
        plan = stored.plan
        if stored.kind != PlanKind.LIVE or plan.incident.id in seen:
            continue
        seen.add(plan.incident.id)
        incident = store.incidents.incident(plan.incident.id)
        if incident is None or not incident.alerts:
            continue
        alerts = tuple(alert_of(a) for a in incident.alerts)
        start = min(a.started_at for a in alerts)
        changes = store.incidents.changes_between(start - window, plan.generated_at)
        recorded = () if plan.abstained else tuple(s.change_id for s in plan.suspects)
        votes = store.incidents.feedback(stored.id).values()
        right = sum(1 for vote in votes if vote)
        confirmed = bool(recorded) and right > len(votes) - right
        cases.append(
            Case(
                incident=plan.incident.id,
                drafted_at=plan.generated_at,
                alerts=alerts,
                changes=tuple(changes),
                recorded=recorded,
                culprit=recorded[0] if confirmed else None,
            )
        )
    return sorted(cases, key=lambda case: case.drafted_at)
