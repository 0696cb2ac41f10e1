"""What a plan is drafted from, read from the store: the changes still live in the window, the
alerts, the culprit history, and what the bot adds to the planner's plan (the changes no longer
live, listed as excluded; the incident's stored name; how many alerts a message stood for; a
target version a responder chose).

:func:`drafting` gathers the inputs for alerts now (:class:`~bot.core.usecases.Planning` drafts
every plan from it); :func:`inputs_for` gathers them again for a stored plan, as they were when
it was drafted, so the planner can re-plan it: a refinement the guard accepted
(:mod:`bot.core.usecases.refining`), or a question asked in the incident's thread. Both return
:class:`planners.refine.PlanningInputs` whose :meth:`~planners.refine.PlanningInputs.draft`
finishes each plan as the bot finished the stored one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial

from bot.core.usecases.grouping import representatives
from bot.store import Store, StoredPlan
from bot.store.incidents import IncidentAlert
from integrations.alerts import GROUP_SIZE_LABEL
from planners.evidence import with_evidence
from planners.model import Action, Alert, AlertStatus, Excluded, Plan
from planners.planner import PlanningOptions
from planners.refine import PlanningInputs
from planners.topology import Topology

__all__ = [
    "NO_LONGER_LIVE",
    "alert_of",
    "alerts_text",
    "drafting",
    "inputs_for",
    "pinned",
    "renamed",
    "with_group_size",
]

NO_LONGER_LIVE = "no longer live: "
"""How the exclusion of a change rolled back or replaced before the plan was drafted starts."""

_GROUP_NOTE = "the alert message stands for "
_PIN = re.compile(r"; target version (?P<version>.+) set by (?P<who>.+)$")


def drafting(
    store: Store,
    *,
    topology: Topology,
    options: PlanningOptions,
    alerts: Sequence[Alert],
    now: datetime,
) -> PlanningInputs:
    """The inputs of a plan for ``alerts`` drafted ``now``: the changes of the window that are
    still live (those no longer live, rolled back or replaced by a later deploy, are listed as
    excluded with the reason instead of being suspected again) and the culprit history."""
    start = min((a.started_at for a in alerts), default=now)
    changes = store.incidents.changes_between(start - options.window, now)
    retired = store.incidents.retirements([c.id for c in changes])
    return PlanningInputs(
        topology=topology,
        changes=[c for c in changes if c.id not in retired],
        alerts=alerts,
        now=now,
        options=options,
        history=store.incidents.culprit_history(),
        finish=partial(_with_retired, retired=retired),
    )


def inputs_for(
    stored: StoredPlan, *, store: Store, topology: Topology, options: PlanningOptions
) -> PlanningInputs:
    """The inputs ``stored`` was drafted from, as near as the store keeps them.

    * ``now`` is the plan's ``generated_at``; the changes are those recorded from the window
      before its first alert to then, without those the plan lists as no longer live (a change
      rolled back since, by this plan or another, is live in them, as it was);
    * the alerts are its stored incident's that had started by then: those firing, or, when
      none fires any more, all of them as firing (as they were); a plan with no stored incident
      (``/rollback plan <service>``, a standby plan) gets the alert the command made, one per
      alerting service, at the incident's start;
    * plans drafted from them are finished as the stored one was: same incident id, the same
      changes excluded as no longer live, the note of how many alerts the message stood for,
      and a target version a responder chose.

    The window is ``options``' (a ``--window`` given to ``/rollback plan`` is not stored).

    Args:
        stored: the plan.
        store: where its incident, the changes and the culprit history are.
        topology: the service graph.
        options: the planning options the bot drafts with.
    """
    plan = stored.plan
    alerts = _alerts_of(store, plan)
    start = min(
        (a.started_at for a in alerts), default=plan.incident.started_at or plan.generated_at
    )
    retired = {
        e.change_id: e.why.removeprefix(NO_LONGER_LIVE)
        for e in plan.excluded
        if e.why.startswith(NO_LONGER_LIVE)
    }
    changes = store.incidents.changes_between(start - options.window, plan.generated_at)
    return PlanningInputs(
        topology=topology,
        changes=[c for c in changes if c.id not in retired],
        alerts=alerts,
        now=plan.generated_at,
        options=options,
        history=store.incidents.culprit_history(),
        finish=partial(_as_drafted, original=plan, retired=retired),
    )


def alerts_text(store: Store, incident_id: str) -> str:
    """The stored incident's alerts as the prompts' untrusted ``alerts`` text, one line each
    (empty without a stored incident)."""
    incident = store.incidents.incident(incident_id)
    if incident is None:
        return ""
    return "\n".join(f"{a.name} on {a.service or 'an unknown service'}" for a in incident.alerts)


def pinned(plan: Plan, *, service: str, version: str, requester: str | None) -> Plan:
    """The plan with ``service``'s deploy rollbacks going to ``version``, saying who chose it
    (its evidence says so too)."""
    steps = tuple(
        step.model_copy(
            update={
                "target_version": version,
                "why": f"{step.why}; target version {version} set by {requester or 'requester'}",
            }
        )
        if step.service == service and step.action == Action.ROLLBACK_DEPLOY
        else step
        for step in plan.steps
    )
    return with_evidence(plan.model_copy(update={"steps": steps}))


def renamed(plan: Plan, incident_id: str) -> Plan:
    """The plan under the id its incident is stored by (the grouping names incidents; the
    same alerts firing again after their incident resolved get a new one)."""
    incident = plan.incident.model_copy(update={"id": incident_id})
    return plan.model_copy(update={"incident": incident})


def with_group_size(plan: Plan, alerts: Sequence[Alert]) -> Plan:
    """The plan saying how many alerts the message stood for, when its sender said many
    (Alertmanager's ``[FIRING:2000]`` shows only what the 2,000 alerts share)."""
    sizes = [a.labels.get(GROUP_SIZE_LABEL, "") for a in alerts]
    covered = max((int(size) for size in sizes if size.isdecimal()), default=1)
    if covered <= 1:
        return plan
    note = (
        f"{_GROUP_NOTE}{covered:,} firing alerts; the plan is drafted from what they share as "
        "shown in the message"
    )
    return plan.model_copy(update={"notes": (note, *plan.notes)})


def _alerts_of(store: Store, plan: Plan) -> list[Alert]:
    incident = store.incidents.incident(plan.incident.id)
    if incident is None:
        started = plan.incident.started_at or plan.generated_at
        return [
            Alert(
                fingerprint=f"slash:{service}:{started.timestamp():.0f}",
                service=service,
                name=f"/rollback plan {service}",
                started_at=started,
                source="slack:command",
            )
            for service in plan.incident.services
        ]
    alerts = [alert_of(a) for a in incident.alerts]
    then = [a for a in alerts if a.started_at <= plan.generated_at] or alerts
    firing = [a for a in then if a.status == AlertStatus.FIRING]
    if not firing:
        firing = [a.model_copy(update={"status": AlertStatus.FIRING}) for a in then]
    return representatives(firing)


def _with_retired(plan: Plan, *, retired: Mapping[str, str]) -> Plan:
    """The plan listing the changes no longer live as excluded, with why."""
    if not retired:
        return plan
    gone = tuple(
        Excluded(change_id=change_id, why=f"{NO_LONGER_LIVE}{why}")
        for change_id, why in sorted(retired.items())
        if change_id not in {e.change_id for e in plan.excluded}
    )
    excluded = tuple(sorted((*plan.excluded, *gone), key=lambda e: e.change_id))
    return with_evidence(plan.model_copy(update={"excluded": excluded}))


def _as_drafted(plan: Plan, *, original: Plan, retired: Mapping[str, str]) -> Plan:
    """A plan re-drafted from a stored plan's inputs, finished as the bot finished that one."""
    plan = renamed(_with_retired(plan, retired=retired), original.incident.id)
    group = [n for n in original.notes if n.startswith(_GROUP_NOTE)]
    if group and group[0] not in plan.notes:
        plan = plan.model_copy(update={"notes": (group[0], *plan.notes)})
    pins = {
        step.service: (pin["version"], pin["who"])
        for step in original.steps
        if step.action == Action.ROLLBACK_DEPLOY
        and (pin := _PIN.search(step.why)) is not None
        and step.target_version == pin["version"]
    }
    for service, (version, who) in sorted(pins.items()):
        plan = pinned(plan, service=service, version=version, requester=who)
    return with_evidence(plan)


def alert_of(row: IncidentAlert) -> Alert:
    """A stored alert of an incident as the planner takes it."""
    return Alert(
        fingerprint=row.fingerprint,
        service=row.service,
        name=row.name,
        status=AlertStatus(row.status),
        started_at=row.started_at,
        source=row.source,
    )
