"""Backout's use cases: what happens when someone asks for a plan, an alert fires, a deploy is
announced, or a responder clicks a button. No Slack types here: handlers parse Slack's payloads
into plain arguments, call these, and the :class:`Notifier` port shows the results.

Every decision that depends on configuration (a refused approval, an autopilot run) is audited.
Approvals come only from the ``user`` that the caller took from a signed Slack payload, never
from message text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.engine import Engine, simulate_plan
from bot.core.policy import Mode, Policy
from bot.store import PlanNotFoundError, StepStatus, Store, StoredPlan
from bot.store.conversations import Conversations
from bot.store.incidents import Incidents
from integrations.base import Executor
from planners.model import Action, Alert, AlertStatus, Change, Plan, Stage, Step
from planners.planner import PlanningOptions, plan_rollback, suggest_services
from planners.topology import Topology

__all__ = ["Approval", "Backout", "Notifier", "UnknownService"]

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """How the use cases show things to people (implemented on Slack by ``bot.slack.notifier``)."""

    def post_plan(
        self, plan_id: str, *, channel: str, thread_ts: str | None, requester: str | None = None
    ) -> None: ...

    def refresh_plan(self, plan_id: str) -> None: ...

    def post_summary(self, plan_id: str) -> None: ...


@dataclass(frozen=True, kw_only=True)
class UnknownService:
    """The service asked for is not in the topology; ``suggestions`` are close names."""

    name: str
    suggestions: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Approval:
    """What a click did: steps newly approved, steps now queued to run, and any refusals."""

    approved: tuple[str, ...] = ()
    queued: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()


class Backout:
    """The application: plans, approvals and execution, on the store.

    Args:
        store: plans, steps, approvals, audit.
        topology: the service graph plans are made on.
        policy: who may approve what, and the mode.
        executors: executors by name, for the engine and simulations.
        engine: runs queued steps.
        notifier: shows plans and progress.
        clock: the current time.
        options: planning options.
        runner: where plan executions run in the background.
    """

    def __init__(
        self,
        *,
        store: Store,
        topology: Topology,
        policy: Policy,
        executors: dict[str, Executor],
        engine: Engine,
        notifier: Notifier,
        clock: Callable[[], datetime],
        options: PlanningOptions | None = None,
        runner: ThreadPoolExecutor | None = None,
    ) -> None:
        self.store = store
        self.conversations = Conversations.of(store)
        self.incidents = Incidents.of(store)
        self.topology = topology
        self.policy = policy
        self.executors = executors
        self.engine = engine
        self.notifier = notifier
        self.clock = clock
        self.options = options or PlanningOptions()
        self.runner = runner or ThreadPoolExecutor(max_workers=4, thread_name_prefix="plan")

    # -- planning ------------------------------------------------------------------------------

    def check_service(self, name: str) -> UnknownService | None:
        """``None`` when ``name`` is a known service, else what to tell the user."""
        if name in self.topology:
            return None
        return UnknownService(name=name, suggestions=tuple(suggest_services(name, self.topology)))

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
        return self._draft(
            [alert],
            requester=requester,
            channel=channel,
            thread_ts=None,
            window=window,
            pin=(service, to_version) if to_version else None,
        )

    def replan(
        self, incident_id: str, *, requester: str, channel: str, window: timedelta | None = None
    ) -> str | None:
        """Draft a fresh plan for a known incident's firing alerts (``/rollback plan inc-…``).

        Returns the new plan's id, or None when no such incident is stored.
        """
        incident = self.incidents.incident(incident_id)
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
        return self._draft(
            firing, requester=requester, channel=channel, thread_ts=thread, window=window
        )

    def alerts_posted(self, alerts: Sequence[Alert], *, channel: str, ts: str) -> str | None:
        """Alerts seen in a watched channel: firing ones get a plan in the message's thread;
        resolved ones close their incident and get the summary. Returns the new plan's id."""
        firing = [a for a in alerts if a.status == AlertStatus.FIRING]
        for alert in alerts:
            if alert.status == AlertStatus.RESOLVED:
                self._resolved(alert, channel=channel)
        if not firing:
            return None
        plan_id = self._draft(firing, requester=None, channel=channel, thread_ts=ts, window=None)
        plan = self.store.get_plan(plan_id).plan
        self.incidents.open_incident(
            plan.incident.id,
            services=list(plan.incident.services),
            started_at=plan.incident.started_at,
            channel=channel,
            thread_ts=ts,
            alerts=firing,
        )
        return plan_id

    def deploy_announced(self, change: Change, *, channel: str, ts: str) -> str | None:
        """Record a deploy and keep a standby rollback plan for it, shown on request in the
        announcement's thread. Returns the standby plan's id (None for a repeat)."""
        if not self.incidents.record_change(change):
            return None
        standby = Alert(
            fingerprint=f"standby:{change.id}",
            service=change.service,
            name=f"standby for {change.id}",
            started_at=change.at + timedelta(minutes=1),
            source="backout:standby",
        )
        plan = self._plan([standby], window=None)
        plan_id = self.store.save_plan(plan, mode="standby", actor="backout")
        self.conversations.set_plan_message(plan_id, channel=channel, ts=ts, thread_ts=ts)
        return plan_id

    def standby_for(self, *, channel: str, thread_ts: str) -> str | None:
        """The standby plan kept for the deploy announced at ``thread_ts``, if any."""
        return self.conversations.plan_at(channel, thread_ts)

    def show_plan(self, plan_id: str, *, channel: str, thread_ts: str | None) -> None:
        """Post a stored plan (a standby one, or one asked for by id)."""
        self.notifier.post_plan(plan_id, channel=channel, thread_ts=thread_ts)

    def _draft(
        self,
        alerts: Sequence[Alert],
        *,
        requester: str | None,
        channel: str,
        thread_ts: str | None,
        window: timedelta | None,
        pin: tuple[str, str] | None = None,
    ) -> str:
        plan = self._plan(alerts, window=window)
        if pin is not None:
            plan = _pinned(plan, service=pin[0], version=pin[1], requester=requester)
        plan_id = self.store.save_plan(
            plan, mode=self.policy.mode.value, actor=requester or "alert"
        )
        self.notifier.post_plan(plan_id, channel=channel, thread_ts=thread_ts, requester=requester)
        if self.policy.mode == Mode.AUTOPILOT:
            self._autopilot(plan_id, plan)
        return plan_id

    def _plan(self, alerts: Sequence[Alert], *, window: timedelta | None) -> Plan:
        now = self.clock()
        options = self.options if window is None else replace(self.options, window=window)
        start = min(a.started_at for a in alerts)
        changes = self.incidents.changes_between(start - options.window, now)
        return plan_rollback(
            self.topology,
            changes=changes,
            alerts=alerts,
            now=now,
            options=options,
            history=self.incidents.culprit_history(),
        )

    def _autopilot(self, plan_id: str, plan: Plan) -> None:
        contain = [s.id for s in plan.steps if self.policy.autopilot_may_run(s)]
        if contain:
            self.store.audit(
                actor="autopilot",
                action="autopilot.queued",
                subject=plan_id,
                details={"steps": contain, "why": "mode autopilot runs the contain stage"},
            )
            self.engine.queue(plan_id, contain, actor="autopilot")
            self._run(plan_id)

    # -- approvals and execution -----------------------------------------------------------

    def approve(self, plan_id: str, *, user: str, stage: Stage | None) -> Approval:
        """``user`` approves the plan's pending steps (of ``stage``, or all). Steps with enough
        authorised approvals are queued and the engine starts on them."""
        stored = self.store.get_plan(plan_id)
        if stored.mode == "standby" or stored.status in ("aborted", "rejected", "done"):
            self._audit_refusal(plan_id, user, f"plan is {stored.status}")
            return Approval(refused=(f"this plan is {stored.status}: nothing to approve",))
        rows = {r.step_id: r for r in stored.steps}
        targets = [
            s
            for s in stored.plan.steps
            if rows[s.id].status == StepStatus.PENDING and (stage is None or s.stage == stage)
        ]
        allowed, refused = [], []
        for step in targets:
            decision = self.policy.may_approve(user, step)
            if decision.allowed:
                allowed.append(step.id)
            else:
                refused.append(f"{step.id}: {decision.reason}")
        if refused:
            self._audit_refusal(plan_id, user, "; ".join(refused))
        new = self.store.add_approvals(plan_id, user=user, step_ids=allowed) if allowed else []
        requester = self._requester(plan_id)
        approvals = self.store.approvals(plan_id)
        ready, waiting = [], []
        for step in targets:
            if step.id not in allowed:
                continue
            who = approvals.get(step.id, frozenset())
            if self.policy.approved(step, who, requester=requester):
                ready.append(step.id)
            else:
                waiting.append(f"{step.id}: {self.policy.missing(step, who, requester=requester)}")
        queued = self.engine.queue(plan_id, ready, actor=user) if ready else []
        if queued:
            self._run(plan_id)
        else:
            self.notifier.refresh_plan(plan_id)
        return Approval(
            approved=tuple(new),
            queued=tuple(queued),
            refused=tuple(refused),
            waiting=tuple(waiting),
        )

    def reject(self, plan_id: str, *, user: str) -> bool:
        """A responder rejects the plan: nothing of it will run. Needs approver rights."""
        if not self._approver_of_plan(plan_id, user, "reject"):
            return False
        self.engine.abort(plan_id, actor=user, reason=f"rejected by {user}")
        self.store.set_plan_status(plan_id, "rejected", actor=user, reason="rejected")
        self.notifier.refresh_plan(plan_id)
        return True

    def abort(self, plan_id: str, *, user: str) -> bool:
        """Stop a plan: nothing that has not started will run. Needs approver rights."""
        if not self._approver_of_plan(plan_id, user, "abort"):
            return False
        self.engine.abort(plan_id, actor=user)
        self.notifier.refresh_plan(plan_id)
        return True

    def retry(self, plan_id: str, step_id: str, *, user: str) -> bool:
        """Retry a failed step (approver rights on that step)."""
        return self._step_command(plan_id, step_id, user, "retry", self.engine.retry)

    def skip(self, plan_id: str, step_id: str, *, user: str) -> bool:
        """Skip a failed step and let the plan go on (approver rights on that step)."""
        return self._step_command(plan_id, step_id, user, "skip", self.engine.skip)

    def simulate(self, plan_id: str) -> list[tuple[Step, str | None, str]]:
        """Preview every step through the executors, touching nothing: per step, the preview's
        summary (None when it cannot preview) and the problem."""
        stored = self.store.get_plan(plan_id)
        results = simulate_plan(stored.plan.steps, executors=self.executors, plan_id=plan_id)
        return [(r.step, r.preview.summary if r.preview else None, r.problem) for r in results]

    def _run(self, plan_id: str) -> None:
        self.notifier.refresh_plan(plan_id)
        self.runner.submit(self.run_plan, plan_id)

    def run_plan(self, plan_id: str) -> None:
        """Run what the plan has queued, now, on this thread; then refresh its message."""
        try:
            self.engine.run(plan_id)
        except Exception:  # the job wrapper: a crashed run is logged; the rows keep the truth
            log.exception("running plan %s failed", plan_id)
        self.notifier.refresh_plan(plan_id)

    def _step_command(
        self,
        plan_id: str,
        step_id: str,
        user: str,
        what: str,
        act: Callable[..., bool],
    ) -> bool:
        """Retry or skip one step, if ``user`` may approve it; then the engine goes on."""
        stored = self.store.get_plan(plan_id)
        step = next((s for s in stored.plan.steps if s.id == step_id), None)
        if step is None:
            raise PlanNotFoundError(f"{plan_id}/{step_id}")
        decision = self.policy.may_approve(user, step)
        if not decision.allowed:
            self._audit_refusal(plan_id, user, f"{what} {step_id}: {decision.reason}")
            return False
        ok = act(plan_id, step_id, actor=user)
        if ok:
            self._run(plan_id)
        return ok

    def _approver_of_plan(self, plan_id: str, user: str, what: str) -> bool:
        """Whether ``user`` may approve at least one step (audited when not)."""
        stored = self.store.get_plan(plan_id)
        if any(self.policy.may_approve(user, s).allowed for s in stored.plan.steps):
            return True
        self._audit_refusal(plan_id, user, f"not an approver of any step: cannot {what}")
        return False

    def _requester(self, plan_id: str) -> str | None:
        message = self.conversations.plan_message(plan_id)
        return message.requester if message else None

    def _audit_refusal(self, plan_id: str, user: str, reason: str) -> None:
        self.store.audit(
            actor=user, action="approval.refused", subject=plan_id, details={"reason": reason}
        )

    # -- reading ----------------------------------------------------------------------------

    def latest_plan(self) -> str | None:
        """The newest plan (that is not a standby one)."""
        for stored in self.store.list_plans(limit=20):
            if stored.mode != "standby":
                return stored.id
        return None

    def history(self, service: str) -> tuple[list[Change], list[StoredPlan]]:
        """A service's recent changes and the plans that touched it."""
        changes = self.incidents.changes_of(service, limit=10)
        plans = [self.store.get_plan(p) for p in self.incidents.plans_for_service(service, limit=5)]
        return changes, plans

    def feedback(self, plan_id: str, *, user: str, right: bool) -> None:
        """Whether the top suspect was the cause; feeds the planner's history factor."""
        self.incidents.record_feedback(plan_id, user=user, right=right)
        self.store.audit(
            actor=user, action="feedback", subject=plan_id, details={"suspect_right": right}
        )

    def _resolved(self, alert: Alert, *, channel: str) -> None:
        incident = self.incidents.find_open_incident(
            channel=channel, name=alert.name, service=alert.service
        )
        if incident is None or not self.incidents.resolve_incident(incident.id):
            return
        for stored in self.store.list_plans(limit=50):
            if stored.plan.incident.id == incident.id:
                self.notifier.post_summary(stored.id)
                return


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
