"""Drafting plans: on request (``/rollback plan``), for alerts seen in a watched channel or
received by a webhook, for a known incident again, and as a standby for every announced deploy;
and closing an incident when all its alerts have resolved.

Alerts are filed into incidents first (:meth:`bot.store.Incidents.file_alerts`, by the rule of
:mod:`bot.core.usecases.grouping`), so anything that looks the incident up (``/rollback plan
inc-…``, the summary) finds it as soon as its plan is visible. An alert an open incident of the
channel holds already costs one indexed lookup and nothing else. A new incident gets its plan
drafted and posted at once (one message). Alerts joining an open incident only ask for a
coalesced refresh of its plan message (:class:`~bot.core.coalescer.Coalescer`: at most one
``chat.update`` per ``update_interval_seconds``, the last state always shown), which runs on the
runner, off the webhook's request:

* while the plan is ``proposed`` with no step moved and nobody's approval, it is **redrafted**
  from every firing alert of the incident as a *new* plan, which takes over the old plan's Slack
  message (same ``ts``, updated in place; its buttons carry the new plan's id). The old plan is
  retired (``expired``, by a compare-and-set that fails if anyone approved meanwhile), so a click
  on a button drawn before the update is refused instead of approving steps nobody saw;
* once the plan has started (or finished), its steps never change: the joining alerts are
  recorded and the message says how many joined after it was drafted.

With a model configured, every live plan posted (and every redraft) is then refined and
explained off the request (:meth:`Explaining.posted`): a refinement the guard accepts takes
the untouched plan's place the same way, as a new plan in the same message
(:mod:`bot.core.usecases.refining`).

The incident resolves when none of its alerts fires any more (not at the first resolution); the
summary follows once execution has settled (:func:`~bot.core.usecases.summaries.summarise_if_due`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from bot.core.coalescer import Coalescer
from bot.core.policy import Policy
from bot.core.ports import Clock, Notifier, Runner
from bot.core.usecases.deadlines import Deadlines
from bot.core.usecases.execution import Execution
from bot.core.usecases.explaining import Explaining
from bot.core.usecases.grouping import place, representatives
from bot.core.usecases.inputs import alert_of, drafting, pinned, renamed, with_group_size
from bot.core.usecases.refining import record_refinement, refinement_of, untouched
from bot.core.usecases.summaries import RESOLVED_ACTION, summarise_if_due
from bot.core.usecases.watches import WatchSchedule
from bot.lifecycle import Mode, PlanKind
from bot.store import Store, StoredPlan
from bot.store.filing import OpenIncident, Placement
from planners.errors import UnknownServiceError
from planners.graph import distances_from
from planners.llm import StructuredModel
from planners.model import Alert, AlertStatus, Change, Plan
from planners.planner import PlanningOptions, suggest_services
from planners.topology import Topology

__all__ = ["Planning"]

log = logging.getLogger(__name__)


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
        runner: where coalesced refreshes of incident plans run; on the caller's thread when
            None.
        group_window_minutes: how long after an incident started an alert may still join it.
        update_interval_seconds: the least time between two refreshes of one incident's plan
            message while alerts keep arriving.
        deadlines: schedules each posted plan's reminders and expiry (none when None).
        watches: starts the health watch of each production deploy (none when None).
        explaining: refines and explains each posted live plan with the model, off the
            request (no model when None).
    """

    store: Store
    topology: Topology
    policy: Policy
    execution: Execution
    notifier: Notifier
    clock: Clock
    options: PlanningOptions = field(default_factory=PlanningOptions)
    runner: Runner | None = None
    group_window_minutes: float = 30.0
    update_interval_seconds: float = 10.0
    deadlines: Deadlines | None = None
    watches: WatchSchedule | None = None
    explaining: Explaining | None = None
    updates: Coalescer = field(init=False)
    """The coalesced refreshes of incident plan messages, by incident id."""
    _reach: dict[str, frozenset[str]] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        updates = Coalescer(
            interval=timedelta(seconds=self.update_interval_seconds),
            clock=self.clock,
            runner=self.runner,
        )
        object.__setattr__(self, "updates", updates)

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
            plan = pinned(plan, service=service, version=to_version, requester=requester)
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
        alerts = [alert_of(a) for a in incident.alerts]
        firing = [a for a in alerts if a.status == AlertStatus.FIRING] or alerts
        thread = incident.thread_ts if incident.channel == channel else None
        plan = self._plan(firing, window=window)
        plan_id = self._publish(plan, requester=requester, channel=channel, thread_ts=thread)
        self.store.incidents.set_drafted(incident_id, alerts=len(alerts))
        return plan_id

    def alerts_posted(self, alerts: Sequence[Alert], *, channel: str, ts: str | None) -> str | None:
        """Alerts seen in a watched channel (``ts`` the message's) or received by a webhook
        (``ts`` None, posted in ``channel`` itself).

        Firing alerts an open incident of the channel holds already add nothing; new ones join
        the open incident they belong with (its plan message is refreshed, coalesced) or open
        an incident whose plan is posted at once (in the message's thread). Resolved ones are
        marked, and an incident none of whose alerts fires any more resolves and brings the
        summary.

        Returns:
            The id of the plan posted for a new incident (the first, if several), else None.
        """
        firing = [a for a in alerts if a.status == AlertStatus.FIRING]
        resolved = [a for a in alerts if a.status == AlertStatus.RESOLVED]
        posted = self._fired(firing, channel=channel, ts=ts) if firing else None
        if resolved:
            self._resolved(resolved, channel=channel, by_name=ts is not None)
        return posted

    def flush_updates(self) -> int:
        """Start the coalesced plan-message refreshes that are due now; returns how many."""
        return self.updates.flush_due()

    def refresh_incident(self, incident_id: str) -> None:
        """Bring the incident's plan message up to date: redraft the plan from all the
        incident's firing alerts if alerts joined and nothing of it has started, then update
        the message in place (which says how many alerts joined, and how many resolved)."""
        stored = self.store.plans.for_incident(incident_id)
        tally = self.store.incidents.tally(incident_id)
        if (
            stored is None
            or tally is None
            or self.store.conversations.plan_message(stored.id) is None
        ):
            return  # its plan is still being posted; the poster asks again if alerts joined
        plan_id = stored.id
        if tally.joined and untouched(stored, store=self.store):
            plan_id = self._redraft(incident_id, stored, joined=tally.joined) or plan_id
        self.notifier.refresh_plan(plan_id)

    def refine(self, plan_id: str, model: StructuredModel) -> str:
        """Ask ``model`` to refine a posted live plan nobody has touched; a plan the graph
        refined takes its place in its message (it is retired, by a compare-and-set that fails
        if anyone approved or started anything meanwhile). Runs on the explanations' pool.

        Returns:
            The id of the plan shown now: the refined one, or ``plan_id``.
        """
        if self.policy.mode == Mode.AUTOPILOT:
            return plan_id  # what runs at once stays the graph's alone
        stored = self.store.plans.get(plan_id)
        refined = refinement_of(
            stored, model=model, store=self.store, topology=self.topology, options=self.options
        )
        if refined is None:
            return plan_id
        shown = None
        if refined.applied and self.store.plans.retire(
            plan_id, reason=f"refined at the proposal of {refined.model}", actor="backout"
        ):
            tally = self.store.incidents.tally(stored.plan.incident.id)
            drafted = tally.drafted if tally is not None else 0
            shown = self._replace(stored, refined.plan, drafted=drafted, actor="backout")
            self.notifier.refresh_plan(shown)
        record_refinement(refined, stored=stored, store=self.store, shown=shown)
        return shown or plan_id

    def deploy_announced(
        self, change: Change, *, channel: str | None = None, ts: str | None = None
    ) -> str | None:
        """Record a deploy and keep a standby rollback plan for it, shown on request in the
        announcement's thread (``channel``/``ts`` of a Slack announcement; a webhook's change has
        none, and its plan is shown by ``/rollback status``). Returns the standby plan's id
        (None for a repeat)."""
        if not self.store.incidents.record_change(change):
            return None
        if self.watches is not None:
            self.watches.start(change)
        if self.deadlines is not None:
            self.deadlines.expire_superseded(change.service)
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
        the reason, instead of being suspected again (:func:`~.inputs.drafting`)."""
        options = self.options if window is None else replace(self.options, window=window)
        return drafting(
            self.store, topology=self.topology, options=options, alerts=alerts, now=self.clock()
        ).draft()

    def _publish(
        self, plan: Plan, *, requester: str | None, channel: str, thread_ts: str | None
    ) -> str:
        """Store ``plan``, post it, and in autopilot queue its contain stage."""
        plan_id = self.store.plans.save(plan, mode=self.policy.mode, actor=requester or "alert")
        self.notifier.post_plan(plan_id, channel=channel, thread_ts=thread_ts, requester=requester)
        if self.policy.mode == Mode.AUTOPILOT:
            self._autopilot(plan_id, plan)
        if self.deadlines is not None:
            self.deadlines.schedule_for(plan_id, self.clock())
        if self.explaining is not None:  # refined and explained by the model, off the request
            self.explaining.posted(plan_id, refine=self.refine)
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

    def _fired(self, firing: Sequence[Alert], *, channel: str, ts: str | None) -> str | None:
        """File firing alerts; post a plan per incident they open, refresh those they join."""
        incidents = self.store.incidents
        known = incidents.known_alerts(channel=channel, alerts=firing)
        if all(
            (k := known.get((a.source, a.fingerprint))) and k.status == AlertStatus.FIRING
            for a in firing
        ):
            return None  # all repeats: Alertmanager's repeat_interval, a Slack retry
        now = self.clock()
        filed = incidents.file_alerts(
            channel=channel,
            alerts=firing,
            since=min(a.started_at for a in firing) - self._window,
            thread_ts=ts,
            moment=ts.split(".", 1)[0] if ts else f"{now.timestamp():.0f}",
            place=self._place,
        )
        for incident_id in filed.joined:
            self._changed(incident_id)
        posted = None
        for opened in filed.opened:
            self.updates.ran(opened.incident_id)  # its post is its first message: joins wait
            alerts = representatives(opened.alerts)
            plan = with_group_size(self._plan(alerts, window=None), opened.alerts)
            if plan.incident.id != opened.incident_id:
                plan = renamed(plan, opened.incident_id)
            plan_id = self._publish(plan, requester=None, channel=channel, thread_ts=ts)
            self.updates.ran(opened.incident_id)
            tally = incidents.tally(opened.incident_id)
            if tally is not None and tally.joined:  # alerts joined while it was being posted
                self._changed(opened.incident_id)
            posted = posted or plan_id
        return posted

    def _resolved(self, resolved: Sequence[Alert], *, channel: str, by_name: bool) -> None:
        """Mark alerts resolved; an incident with nothing firing any more resolves, is audited
        on its plan, and its summary shows once execution has settled."""
        closing = self.store.incidents.resolve_alerts(
            channel=channel, alerts=resolved, by_name=by_name
        )
        for incident_id in closing.changed:
            self._changed(incident_id)
        for incident_id in closing.resolved:
            self._closed(incident_id, last=resolved[-1])

    def _closed(self, incident_id: str, *, last: Alert | None) -> None:
        """The incident resolved: say so on its newest plan (once), show the message with every
        alert resolved, and the summary once execution has settled."""
        stored = self.store.plans.for_incident(incident_id)
        if stored is None:
            return
        said = self.store.audit.entries(subject_prefix=stored.id)
        if not any(e.action == RESOLVED_ACTION and e.subject == stored.id for e in said):
            self.store.audit.append(
                actor=(last.source if last else None) or "alert",
                action=RESOLVED_ACTION,
                subject=stored.id,
                details={
                    "incident": incident_id,
                    "alert": last.name if last else None,
                    "service": last.service if last else None,
                },
            )
        self._changed(incident_id)  # the message shows every alert resolved
        summarise_if_due(self.store, self.notifier, stored.id)

    def _changed(self, incident_id: str) -> None:
        self.updates.request(incident_id, lambda: self.refresh_incident(incident_id))

    def _redraft(self, incident_id: str, stored: StoredPlan, *, joined: int) -> str | None:
        """Replace a plan nothing of which has started by one drafted from all the incident's
        firing alerts, in the same message; None when it cannot be (it started meanwhile)."""
        held = self.store.incidents.tally(incident_id)  # before reading: a later one is joined
        alerts = self.store.incidents.representative_alerts(incident_id)
        if held is None or not alerts:
            return None
        plan = with_group_size(self._plan(alerts, window=None), alerts)
        plan = renamed(plan, incident_id)
        noun = "alert" if joined == 1 else "alerts"
        reason = f"redrafted: {joined} more {noun} joined incident {incident_id}"
        if not self.store.incidents.supersede(stored.id, reason=reason):
            return None
        plan_id = self._replace(stored, plan, drafted=held.total, actor="alert")
        if self.explaining is not None:  # refined and explained like the plan it replaces
            self.explaining.posted(plan_id, refine=self.refine)
        return plan_id

    def _replace(self, stored: StoredPlan, plan: Plan, *, drafted: int, actor: str) -> str:
        """Store ``plan`` in the place of ``stored`` (retired already): in its message, queued
        in autopilot, with its deadlines; returns its id."""
        incident_id = plan.incident.id
        plan_id = self.store.plans.save(plan, mode=stored.mode, actor=actor)
        if not self.store.incidents.hand_over(
            stored.id, plan_id, incident_id=incident_id, drafted=drafted
        ):
            log.warning("plan %s had no message to hand over to %s", stored.id, plan_id)
        if self.policy.mode == Mode.AUTOPILOT:
            self._autopilot(plan_id, plan)
        if self.deadlines is not None:  # counted from the message's first post
            self.deadlines.schedule_for(plan_id)
        tally = self.store.incidents.tally(incident_id)
        if tally is not None and not tally.firing:  # it resolved while this was drafted
            self._closed(incident_id, last=None)
        return plan_id

    def _place(self, incidents: Sequence[OpenIncident], alerts: Sequence[Alert]) -> list[Placement]:
        return place(incidents, alerts, reach=self._reach_of, window=self._window)

    def _reach_of(self, service: str) -> frozenset[str]:
        """The service and everything it depends on, transitively (itself if unknown)."""
        found = self._reach.get(service)
        if found is None:
            reached = distances_from(self.topology, [service]).get(service, {})
            found = frozenset(reached) | {service}
            self._reach[service] = found
        return found

    @property
    def _window(self) -> timedelta:
        return timedelta(minutes=self.group_window_minutes)
