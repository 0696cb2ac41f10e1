"""Drafting plans: on request (``/rollback plan``), for alerts seen in a watched channel, for a
known incident again, and as a standby for every announced deploy; and closing an incident when
its alerts resolve.

An alert's incident is recorded before its plan is stored and posted, so anything that looks the
incident up (``/rollback plan inc-…``, the summary) finds it as soon as the plan is visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from bot.core.policy import Policy
from bot.core.ports import Clock, Notifier
from bot.core.usecases.execution import Execution
from bot.core.usecases.summaries import RESOLVED_ACTION, summarise_if_due
from bot.lifecycle import Mode, PlanKind
from bot.store import Store
from integrations.alerts import GROUP_SIZE_LABEL
from planners.errors import UnknownServiceError
from planners.evidence import with_evidence
from planners.model import Action, Alert, AlertStatus, Change, Excluded, Plan
from planners.planner import PlanningOptions, plan_rollback, suggest_services
from planners.topology import Topology

__all__ = ["Planning"]


@dataclass(frozen=True, kw_only=True)
class Planning:
    """Drafts, stores and posts plans.

    Args:
        store: plans, incidents, changes, audit.
        topology: the service graph plans are made on.
        policy: the mode, and what autopilot may run.
        execution: runs what autopilot queues.
        notifier: posts plans and summaries.
        clock: the current time.
        options: planning options.
    """

    store: Store
    topology: Topology
    policy: Policy
    execution: Execution
    notifier: Notifier
    clock: Clock
    options: PlanningOptions = field(default_factory=PlanningOptions)

    def check_service(self, name: str) -> None:
        """Check that ``name`` is a service of the topology.

        Raises:
            UnknownServiceError: it is not; with close names as suggestions.
        """
        if name not in self.topology:
            raise UnknownServiceError(name, suggestions=suggest_services(name, self.topology))

    def plan_for_service(
        self,
        service: str,
        *,
        requester: str,
        channel: str,
        window: timedelta | None = None,
        to_version: str | None = None,
    ) -> str:
        """Draft, store and post a plan as if ``service`` were alerting now.

        ``to_version`` (``/rollback plan svc --to v1.8.1``) sets the version ``service``'s own
        deploy rollback returns to, instead of the version before the suspect change.
        """
        now = self.clock()
        alert = Alert(
            fingerprint=f"slash:{service}:{now.timestamp():.0f}",
            service=service,
            name=f"/rollback plan {service}",
            started_at=now,
            source="slack:command",
        )
        plan = self._plan([alert], window=window)
        if to_version:
            plan = _pinned(plan, service=service, version=to_version, requester=requester)
        return self._publish(plan, requester=requester, channel=channel, thread_ts=None)

    def replan(
        self, incident_id: str, *, requester: str, channel: str, window: timedelta | None = None
    ) -> str | None:
        """Draft a fresh plan for a known incident's firing alerts (``/rollback plan inc-…``).

        Returns the new plan's id, or None when no such incident is stored.
        """
        incident = self.store.incidents.incident(incident_id)
        if incident is None:
            return None
        alerts = [
            Alert(
                fingerprint=a.fingerprint,
                service=a.service,
                name=a.name,
                status=AlertStatus(a.status),
                started_at=a.started_at,
                source=a.source,
            )
            for a in incident.alerts
        ]
        firing = [a for a in alerts if a.status == AlertStatus.FIRING] or alerts
        thread = incident.thread_ts if incident.channel == channel else None
        plan = self._plan(firing, window=window)
        return self._publish(plan, requester=requester, channel=channel, thread_ts=thread)

    def alerts_posted(self, alerts: Sequence[Alert], *, channel: str, ts: str | None) -> str | None:
        """Alerts seen in a watched channel (``ts`` the message's) or received by a webhook
        (``ts`` None, posted in ``channel`` itself): firing ones get a plan, in the message's
        thread; alerts already in an open incident add nothing; resolved ones close their
        incident and bring the summary. Returns the new plan's id."""
        for alert in alerts:
            if alert.status == AlertStatus.RESOLVED:
                self._resolved(alert, channel=channel)
        firing = [a for a in alerts if a.status == AlertStatus.FIRING]
        if firing:  # an alert already in an open incident here is that incident's, not a new one
            known_alerts = self.store.incidents.open_alerts(
                channel=channel, fingerprints=[a.fingerprint for a in firing]
            )
            firing = [a for a in firing if (a.source, a.fingerprint) not in known_alerts]
        if not firing:
            return None
        plan = _with_group_size(self._plan(firing, window=None), firing)
        known = self.store.incidents.incident(plan.incident.id)
        if known is not None and known.status == "open":
            if self.store.plans.for_incident(known.id) is not None:
                return None  # the same alerts announced again: the incident's plan stands
        elif known is not None:
            # The same alerts firing again after their incident resolved: a new incident.
            moment = ts.split(".", 1)[0] if ts else f"{self.clock().timestamp():.0f}"
            plan = _renamed(plan, f"{plan.incident.id}-{moment}")
        self.store.incidents.open_incident(
            plan.incident.id,
            services=list(plan.incident.services),
            started_at=plan.incident.started_at,
            channel=channel,
            thread_ts=ts,
            alerts=firing,
        )
        return self._publish(plan, requester=None, channel=channel, thread_ts=ts)

    def deploy_announced(
        self, change: Change, *, channel: str | None = None, ts: str | None = None
    ) -> str | None:
        """Record a deploy and keep a standby rollback plan for it, shown on request in the
        announcement's thread (``channel``/``ts`` of a Slack announcement; a webhook's change has
        none, and its plan is shown by ``/rollback status``). Returns the standby plan's id
        (None for a repeat)."""
        if not self.store.incidents.record_change(change):
            return None
        standby = Alert(
            fingerprint=f"standby:{change.id}",
            service=change.service,
            name=f"standby for {change.id}",
            started_at=change.at + timedelta(minutes=1),
            source="backout:standby",
        )
        plan = self._plan([standby], window=None)
        plan_id = self.store.plans.save(
            plan, mode=self.policy.mode, kind=PlanKind.STANDBY, actor="backout"
        )
        if channel and ts:
            self.store.conversations.set_plan_message(plan_id, channel=channel, ts=ts, thread_ts=ts)
        return plan_id

    def standby_for(self, *, channel: str, thread_ts: str) -> str | None:
        """The standby plan kept for the deploy announced at ``thread_ts``, if any."""
        return self.store.conversations.plan_at(channel, thread_ts)

    def show_plan(self, plan_id: str, *, channel: str, thread_ts: str | None) -> None:
        """Post a stored plan (a standby one, or one asked for by id)."""
        self.notifier.post_plan(plan_id, channel=channel, thread_ts=thread_ts)

    def _plan(self, alerts: Sequence[Alert], *, window: timedelta | None) -> Plan:
        """The planner's plan for ``alerts`` on the changes still live in the window; changes
        no longer live (rolled back, or replaced by a later deploy) are listed as excluded, with
        the reason, instead of being suspected again."""
        now = self.clock()
        options = self.options if window is None else replace(self.options, window=window)
        start = min(a.started_at for a in alerts)
        changes = self.store.incidents.changes_between(start - options.window, now)
        retired = self.store.incidents.retirements([c.id for c in changes])
        plan = plan_rollback(
            self.topology,
            changes=[c for c in changes if c.id not in retired],
            alerts=alerts,
            now=now,
            options=options,
            history=self.store.incidents.culprit_history(),
        )
        if not retired:
            return plan
        gone = tuple(
            Excluded(change_id=change_id, why=f"no longer live: {why}")
            for change_id, why in sorted(retired.items())
        )
        excluded = tuple(sorted((*plan.excluded, *gone), key=lambda e: e.change_id))
        return with_evidence(plan.model_copy(update={"excluded": excluded}))

    def _publish(
        self, plan: Plan, *, requester: str | None, channel: str, thread_ts: str | None
    ) -> str:
        """Store ``plan``, post it, and in autopilot queue its contain stage."""
        plan_id = self.store.plans.save(plan, mode=self.policy.mode, actor=requester or "alert")
        self.notifier.post_plan(plan_id, channel=channel, thread_ts=thread_ts, requester=requester)
        if self.policy.mode == Mode.AUTOPILOT:
            self._autopilot(plan_id, plan)
        return plan_id

    def _autopilot(self, plan_id: str, plan: Plan) -> None:
        contain = [s.id for s in plan.steps if self.policy.autopilot_may_run(s)]
        if contain:
            self.store.audit.append(
                actor="autopilot",
                action="autopilot.queued",
                subject=plan_id,
                details={"steps": contain, "why": "mode autopilot runs the contain stage"},
            )
            self.execution.queue(plan_id, contain, actor="autopilot")

    def _resolved(self, alert: Alert, *, channel: str) -> None:
        """Close the open incident this alert belongs to (found by what identifies the alert,
        never its rendered title), and show the summary once execution has settled."""
        incidents = self.store.incidents
        incident = incidents.find_open_incident(
            channel=channel,
            name=alert.name,
            service=alert.service,
            source=alert.source,
            fingerprint=alert.fingerprint,
        )
        if incident is None or not incidents.resolve_incident(incident.id):
            return
        stored = self.store.plans.for_incident(incident.id)
        if stored is None:
            return
        self.store.audit.append(
            actor=alert.source or "alert",
            action=RESOLVED_ACTION,
            subject=stored.id,
            details={"incident": incident.id, "alert": alert.name, "service": alert.service},
        )
        summarise_if_due(self.store, self.notifier, stored.id)


def _pinned(plan: Plan, *, service: str, version: str, requester: str | None) -> Plan:
    """The plan with ``service``'s deploy rollbacks going to ``version``, saying who chose it."""
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
    return plan.model_copy(update={"steps": steps})


def _renamed(plan: Plan, incident_id: str) -> Plan:
    """The plan for a new incident with this id (its alerts are those of an earlier one)."""
    incident = plan.incident.model_copy(update={"id": incident_id})
    return plan.model_copy(update={"incident": incident})


def _with_group_size(plan: Plan, alerts: Sequence[Alert]) -> Plan:
    """The plan saying how many alerts the message stood for, when its sender said many
    (Alertmanager's ``[FIRING:2000]`` shows only what the 2,000 alerts share)."""
    sizes = [a.labels.get(GROUP_SIZE_LABEL, "") for a in alerts]
    covered = max((int(size) for size in sizes if size.isdecimal()), default=1)
    if covered <= 1:
        return plan
    note = (
        f"the alert message stands for {covered:,} firing alerts; the plan is drafted from what "
        "they share as shown in the message"
    )
    return plan.model_copy(update={"notes": (note, *plan.notes)})
