"""What responders decide about a plan: approve (a stage or all of it), reject, abort, retry or
skip a failed step, and say whether the suspect was right.

A click is accepted only if :func:`plan_actions` offers it in the plan's state right now (the
same function the plan message draws its buttons from) and the policy lets this user make it.
The user always comes from a signed Slack payload, never from message text. Every refusal is
audited as ``approval.refused``.

An approval also has to arrive within the plan's approval window
(:func:`~bot.core.usecases.deadlines.approval_window`), whether or not its expiry job has run:
the store checks the window, and that the plan is not finished, in the transaction that records
the approval (:meth:`~bot.store.Approvals.add`), so a click racing the expiry either counts
before the deadline or is refused. A refused late click expires the plan on the spot, as the job
would. A plan somebody approved in time is taken up: its later approvals count, as the job does
not expire it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.core.policy import Policy
from bot.core.ports import Notifier
from bot.core.recheck import ApprovalRecheck
from bot.core.usecases.actions import plan_actions
from bot.core.usecases.deadlines import ApprovalWindow, approval_window, expire_late
from bot.core.usecases.execution import Execution
from bot.core.usecases.summaries import summarise_if_due
from bot.lifecycle import FINISHED, Actions, Click, Mode, PlanKind, PlanStatus, StepStatus
from bot.store import PlanNotFoundError, Store, StoredPlan
from bot.store.approvals import ApprovalClosedError

__all__ = ["Approval", "Decisions"]


@dataclass(frozen=True, kw_only=True)
class Approval:
    """What a click did: steps newly approved, steps now queued to run, and any refusals."""

    approved: tuple[str, ...] = ()
    queued: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Decisions:
    """Responders' decisions on plans.

    Args:
        store: plans, approvals, audit.
        policy: who may approve what.
        execution: carries out approved steps.
        notifier: shows the plan's new state.
    """

    store: Store
    policy: Policy
    execution: Execution
    notifier: Notifier

    def approve(self, plan_id: str, *, user: str, stage: str | None) -> Approval:
        """``user`` approves the plan's pending steps of ``stage`` (*Approve stage*; it must be
        the stage the plan offers), or of every stage when ``stage`` is None (*Approve all*).
        Steps with enough authorised approvals are queued and start running.

        Nothing is approved once the plan's approval window has closed with nobody having
        approved it, even if its expiry job has not run yet: the click is refused, saying when
        the window closed, and the plan expires now (its message redrawn without buttons).

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        stored = self.store.plans.get(plan_id)
        click = Click.APPROVE_ALL if stage is None else Click.APPROVE_STAGE
        actions = plan_actions(stored)
        window = approval_window(self.store, plan_id)
        if not actions.allows(click, stage=stage):
            reason = _why_not(stored, actions, stage, window=window, now=self.store.clock())
            self._refused(plan_id, user, reason)
            return Approval(refused=(reason,))
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
                allowed.append(step)
            else:
                refused.append(f"{step.id}: {decision.reason}")
        if refused:
            self._refused(plan_id, user, "; ".join(refused))
        new, lacking = [], {}
        if allowed:
            try:
                new = self.store.approvals.add(
                    plan_id,
                    user=user,
                    step_ids=[s.id for s in allowed],
                    closes_at=window.closes_at if window is not None else None,
                )
            except ApprovalClosedError as closed:
                return self._closed(stored, user, closed, window)
            lacking = self._approvals.lacking(plan_id, allowed)
        ready = [s.id for s in allowed if s.id not in lacking]
        waiting = [f"{step_id}: {missing}" for step_id, missing in lacking.items()]
        queued = self.execution.queue(plan_id, ready, actor=user)
        if not queued:
            self.notifier.refresh_plan(plan_id)
        return Approval(
            approved=tuple(new),
            queued=tuple(queued),
            refused=tuple(refused),
            waiting=tuple(waiting),
        )

    def reject(self, plan_id: str, *, user: str) -> bool:
        """Say no to a plan nothing of which has run (approver rights on every step, or the
        person who asked for the plan)."""
        return self._end(self.store.plans.get(plan_id), user=user, click=Click.REJECT)

    def abort(self, plan_id: str, *, user: str) -> bool:
        """Stop a started plan: nothing that has not started will run (approver rights on every
        step of the plan)."""
        return self._end(self.store.plans.get(plan_id), user=user, click=Click.ABORT)

    def stop(self, plan_id: str, *, user: str) -> bool:
        """``/rollback abort``: abort a started plan, reject one that has not started."""
        stored = self.store.plans.get(plan_id)
        click = Click.REJECT if Click.REJECT in plan_actions(stored).clicks else Click.ABORT
        return self._end(stored, user=user, click=click)

    def retry(self, plan_id: str, step_id: str, *, user: str) -> bool:
        """Run a failed step again (approver rights on that step)."""
        return self._step(plan_id, step_id, user=user, click=Click.RETRY)

    def skip(self, plan_id: str, step_id: str, *, user: str) -> bool:
        """Give up on a failed step and let the plan go on (approver rights on that step)."""
        return self._step(plan_id, step_id, user=user, click=Click.SKIP)

    def feedback(self, plan_id: str, *, user: str, right: bool) -> bool:
        """Whether the top suspect was the cause; feeds the planner's history factor. Only the
        incident's responders (who asked for the plan or approved a step of it) and those who
        may approve its steps may say; anyone else is refused (audited).

        Returns:
            True if the answer was recorded.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        stored = self.store.plans.get(plan_id)
        responders = {u for users in self.store.approvals.of(plan_id).values() for u in users}
        responders.add(self._requester(plan_id) or "")
        approver = any(self.policy.may_approve(user, s).allowed for s in stored.plan.steps)
        if user not in responders and not approver:
            self._refused(plan_id, user, "feedback: not a responder or approver of this plan")
            return False
        self.store.incidents.record_feedback(plan_id, user=user, right=right)
        self.store.audit.append(
            actor=user, action="feedback", subject=plan_id, details={"suspect_right": right}
        )
        summarise_if_due(self.store, self.notifier, plan_id)  # the summary shows the answer
        return True

    def _end(self, stored: StoredPlan, *, user: str, click: Click) -> bool:
        plan_id = stored.id
        if click not in plan_actions(stored).clicks:
            self._refused(plan_id, user, f"cannot {click} a plan that is {stored.status}")
            return False
        rejected = click == Click.REJECT
        requester_rejects = rejected and user == self._requester(plan_id)
        may_approve_all = all(self.policy.may_approve(user, s).allowed for s in stored.plan.steps)
        if not (may_approve_all or requester_rejects):
            self._refused(plan_id, user, f"not an approver of every step: cannot {click}")
            return False
        self.execution.engine.abort(
            plan_id,
            actor=user,
            reason=f"rejected by {user}" if rejected else "abort requested",
            status=PlanStatus.REJECTED if rejected else PlanStatus.ABORTED,
        )
        self.notifier.refresh_plan(plan_id)
        return True

    def _step(self, plan_id: str, step_id: str, *, user: str, click: Click) -> bool:
        stored = self.store.plans.get(plan_id)
        step = next((s for s in stored.plan.steps if s.id == step_id), None)
        if step is None:
            raise PlanNotFoundError(f"{plan_id}/{step_id}")
        if not plan_actions(stored).allows(click, step=step_id):
            why = f"this plan is {stored.status}" if stored.status in FINISHED else None
            self._refused(plan_id, user, f"{click} {step_id}: {why or 'the step has not failed'}")
            return False
        decision = self.policy.may_approve(user, step)
        if not decision.allowed:
            self._refused(plan_id, user, f"{click} {step_id}: {decision.reason}")
            return False
        engine = self.execution.engine
        act = engine.retry if click == Click.RETRY else engine.skip
        ok = act(plan_id, step_id, actor=user)
        if ok:
            self.execution.start(plan_id)
        return ok

    def _closed(
        self,
        stored: StoredPlan,
        user: str,
        closed: ApprovalClosedError,
        window: ApprovalWindow | None,
    ) -> Approval:
        """An approval the store refused (the plan finished, or its window closed, since it was
        read): say why, and expire a plan whose window closed unattended, as its job would."""
        plan_id, now = stored.id, self.store.clock()
        if closed.closed_at is not None:
            reason = _window_closed(closed.closed_at, now=now)
        elif closed.status == PlanStatus.EXPIRED and window is not None and window.closed(now):
            reason = _window_closed(window.closes_at, now=now)
        else:
            reason = f"this plan is {closed.status}: nothing to approve"
        self._refused(plan_id, user, reason)
        late = closed.closed_at is not None
        if late and window is not None and expire_late(self.store, plan_id, window):
            self.notifier.refresh_plan(plan_id)
        return Approval(refused=(reason,))

    @property
    def _approvals(self) -> ApprovalRecheck:
        return ApprovalRecheck(store=self.store, policy=self.policy)

    def _requester(self, plan_id: str) -> str | None:
        return self._approvals.requester(plan_id)

    def _refused(self, plan_id: str, user: str, reason: str) -> None:
        self.store.audit.append(
            actor=user, action="approval.refused", subject=plan_id, details={"reason": reason}
        )


def _why_not(
    stored: StoredPlan,
    actions: Actions,
    stage: str | None,
    *,
    window: ApprovalWindow | None,
    now: datetime,
) -> str:
    """Why an approve click is refused, in words for the person who clicked."""
    if stored.plan.abstained:
        return "this plan names no suspect: there is nothing to approve"
    if stored.status == PlanStatus.EXPIRED and window is not None and window.closed(now):
        return _window_closed(window.closes_at, now=now)
    if not actions.clicks:
        return f"this plan is {stored.status}: nothing to approve"
    if stored.mode == Mode.SUGGEST:
        return "Backout runs in suggest mode: plans are shown, nothing can be approved"
    if stored.kind == PlanKind.STANDBY:
        return "this is a standby plan: ask for a fresh one with /rollback plan"
    if actions.failed:
        return "a step failed: retry, skip or abort it first"
    if actions.next_stage is None:
        return "every step is already approved or finished"
    return f"stage {stage!r} has nothing to approve now (next: {actions.next_stage})"


def _window_closed(closed_at: datetime, *, now: datetime) -> str:
    """An approval came after the plan's window closed: when it closed (the day too, if not
    today), and what to do instead."""
    closed_at, now = closed_at.astimezone(UTC), now.astimezone(UTC)
    when = closed_at.strftime("%H:%M" if closed_at.date() == now.date() else "%Y-%m-%d %H:%M")
    return (
        f"this plan's approval window closed at {when} UTC; ask for a fresh one with /rollback plan"
    )
