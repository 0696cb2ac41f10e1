"""Approval deadlines (issue 12, item 3): a posted plan reminds its approvers, and expires when
nobody approved it in time; a standby plan expires when its deploy is superseded.

When a live plan is posted, :meth:`Deadlines.schedule_for` stores two jobs (due work as rows,
:mod:`bot.store.jobs`), keyed by the plan's id so scheduling twice stores nothing:

* ``plan.remind`` at *posted + remind_after*: if the plan still waits for approval (``proposed``
  or ``waiting``, with a stage to approve), the approvers the policy names for that stage's
  steps (users and user groups, less the users who approved the step already:
  :func:`named_approvers`) are reminded in
  the plan's thread through the :class:`Reminders` port; then, with ``remind_every``, the next
  reminder is stored, as long as it falls before the expiry. A plan that moved on is not
  reminded, and the chain stops;
* ``plan.expire`` at *posted + expire_after*: the plan becomes ``expired`` through its life cycle
  if nobody approved any of its steps and none is queued or running (one compare-and-set,
  :class:`~bot.store.expiries.Expiries`, audited as ``plan.expired``), and its message is
  redrawn: expired, no buttons. A click on it is refused and audited by
  :class:`~bot.core.usecases.Decisions`, since an expired plan offers nothing
  (:func:`~bot.lifecycle.available_actions`).

The expiry job's row is also the record of the plan's approval window
(:func:`approval_window`; its payload's ``expires_at``). The job may run late (the scheduler is
slow or down) or race with a click, so the window does not wait for it: an approval arriving
once the window has closed on a plan nobody approved is refused by the store in the same
transaction that would record it (:meth:`~bot.store.Approvals.add`), and
:class:`~bot.core.usecases.Decisions` then expires the plan itself (:func:`expire_late`).

Each job is claimed once among every replica; its effect is idempotent (a reminder is posted
through the outbox under its own key, an expiry is a compare-and-set), so a job run again after
a crash changes nothing more.

A standby plan is kept for one deploy. :meth:`Deadlines.expire_superseded` is asked when a
deploy of a service is recorded: each standby plan of the service still ``proposed`` whose
deploy is no longer live (a later deploy replaced it, or it was rolled back: the store's
retirements) expires, saying why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from bot.core.policy import Policy, PolicyConfig, is_group_id, is_user_id
from bot.core.ports import Clock, Notifier
from bot.core.recheck import ApprovalRecheck
from bot.core.usecases.actions import plan_actions
from bot.lifecycle import Click, PlanKind, PlanStatus, StepStatus
from bot.store import Store, StoredPlan
from bot.store.expiries import Expiries
from planners.model import ChangeKind, Step
from planners.topology import Topology

__all__ = [
    "EXPIRE",
    "REMIND",
    "ApprovalWindow",
    "Deadlines",
    "PlanNotPostedError",
    "Reminders",
    "approval_window",
    "expire_late",
    "named_approvers",
]

log = logging.getLogger(__name__)

REMIND: Final = "plan.remind"
"""The job kind of a reminder (payload: ``plan``, ``n``, ``posted_at``)."""
EXPIRE: Final = "plan.expire"
"""The job kind of an expiry (payload: ``plan``, ``posted_at``, ``expires_at``)."""

_WAITS = frozenset({PlanStatus.PROPOSED, PlanStatus.WAITING})
"""The statuses in which a plan waits for someone to approve its next stage."""
_STANDBY_SCAN = 50
"""How many of a service's newest plans are looked at for standby plans to expire."""


class Reminders(Protocol):
    """Where reminders are said: in the plan's thread (``bot.slack.reminders``)."""

    def remind(
        self,
        plan_id: str,
        *,
        number: int,
        mentions: Sequence[str],
        stage: str,
        steps: Sequence[str],
        waited: timedelta,
        expires_in: timedelta,
    ) -> bool:
        """Remind ``mentions`` (user and user-group ids, from the policy) that ``stage`` of the
        plan waits for their approval; reminder ``number`` of the plan (once each, however often
        asked). Returns False when the plan has no message to reply to yet."""


class PlanNotPostedError(RuntimeError):
    """The plan's message is not in Slack yet (its post waits in the outbox): the reminder is
    retried by the job runner later."""

    def __init__(self, plan_id: str) -> None:
        self.plan_id = plan_id
        super().__init__(f"plan {plan_id} has no message in Slack yet to remind in")

    def __repr__(self) -> str:
        return f"PlanNotPostedError({self.plan_id!r})"


@dataclass(frozen=True, kw_only=True)
class Deadlines:
    """Reminders and expiry of posted plans, as jobs.

    Args:
        store: plans, approvals, jobs, audit.
        policy: who may approve which step.
        rules: the ``policy:`` settings ``policy`` was built from: with ``topology`` (the
            services' teams and owners), whom a reminder names (:func:`named_approvers`).
        topology: the services.
        notifier: redraws an expired plan's message.
        reminders: says reminders in the plan's thread.
        clock: the current time.
        remind_after_minutes: the first reminder, this long after the plan was posted.
        remind_every_minutes: later reminders, this far apart; 0 reminds once.
        expire_after_minutes: a plan nobody approved expires this long after it was posted.

    Raises:
        ValueError: a reminder delay or an expiry that is not positive, or a negative repeat.
    """

    store: Store
    policy: Policy
    rules: PolicyConfig
    topology: Topology
    notifier: Notifier
    reminders: Reminders
    clock: Clock
    remind_after_minutes: float = 15.0
    remind_every_minutes: float = 0.0
    expire_after_minutes: float = 120.0
    _expiries: Expiries = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.remind_after_minutes <= 0 or self.expire_after_minutes <= 0:
            raise ValueError("remind_after_minutes and expire_after_minutes must be positive")
        if self.remind_every_minutes < 0:
            raise ValueError("remind_every_minutes must not be negative (0 reminds once)")
        expiries = Expiries(self.store.engine, clock=self.store.clock)
        object.__setattr__(self, "_expiries", expiries)

    def handlers(self) -> dict[str, Callable[[Mapping[str, Any]], None]]:
        """The job kinds this use case runs, for :class:`~bot.runtime.jobs.JobRunner`."""
        return {REMIND: self.remind, EXPIRE: self.expire}

    def schedule_for(self, plan_id: str, posted_at: datetime | None = None) -> bool:
        """Store the first reminder and the expiry of a plan posted at ``posted_at``, unless the
        plan has nothing to approve (a standby plan, one that abstained, ``suggest`` mode).

        Without ``posted_at`` (a redraft, which takes over its predecessor's message), the
        deadlines count from when that message was first posted, else from now.

        Idempotent: the jobs are keyed by the plan's id.

        Returns:
            True if this call stored the jobs (False: nothing to approve, or stored already).

        Raises:
            PlanNotFoundError: no plan has this id.
            ValueError: a naive ``posted_at``.
        """
        if posted_at is None:
            message = self.store.conversations.plan_message(plan_id)
            posted_at = message.created_at if message is not None else self.clock()
        stored = self.store.plans.get(plan_id)
        if stored.kind != PlanKind.LIVE or Click.APPROVE_ALL not in plan_actions(stored).clicks:
            return False
        when, closes_at = posted_at.isoformat(), posted_at + self._expire_after
        expired = self.store.jobs.schedule(
            EXPIRE,
            key=_expire_key(plan_id),
            due_at=closes_at,
            payload={"plan": plan_id, "posted_at": when, "expires_at": closes_at.isoformat()},
        )
        first = posted_at + self._remind_after
        if first < posted_at + self._expire_after:
            self.store.jobs.schedule(
                REMIND,
                key=f"{REMIND}:{plan_id}:1",
                due_at=first,
                payload={"plan": plan_id, "n": 1, "posted_at": when},
            )
        return expired

    # -- the jobs -------------------------------------------------------------------------------

    def remind(self, payload: Mapping[str, Any]) -> None:
        """The ``plan.remind`` job: remind the approvers of the stage the plan waits on, if it
        still waits, and store the next reminder when reminders repeat.

        Raises:
            PlanNotPostedError: the plan's message is not in Slack yet (retried later).
            PlanNotFoundError: no plan has the payload's id.
        """
        plan_id, number = str(payload["plan"]), int(payload["n"])
        posted_at = datetime.fromisoformat(str(payload["posted_at"]))
        stored = self.store.plans.get(plan_id)
        waiting = self._waiting(stored)
        if waiting is None:
            log.debug("plan %s no longer waits for approval: no reminder", plan_id)
            return
        stage, steps = waiting
        mentions = self._mentions(plan_id, steps)
        now = self.clock()
        expires_at = posted_at + self._expire_after
        said = self.reminders.remind(
            plan_id,
            number=number,
            mentions=mentions,
            stage=stage,
            steps=[step.id for step in steps],
            waited=max(now - posted_at, timedelta(0)),
            expires_in=max(expires_at - now, timedelta(0)),
        )
        if not said:
            raise PlanNotPostedError(plan_id)
        self.store.audit.append(
            actor="backout",
            action="plan.reminded",
            subject=plan_id,
            details={
                "reminder": number,
                "stage": stage,
                "steps": [step.id for step in steps],
                "mentions": list(mentions),
            },
        )
        if self.remind_every_minutes > 0:
            following = posted_at + self._remind_after + number * self._remind_every
            if following < expires_at:
                self.store.jobs.schedule(
                    REMIND,
                    key=f"{REMIND}:{plan_id}:{number + 1}",
                    due_at=max(following, now),
                    payload={"plan": plan_id, "n": number + 1, "posted_at": posted_at.isoformat()},
                )

    def expire(self, payload: Mapping[str, Any]) -> None:
        """The ``plan.expire`` job: expire the plan if nobody approved it, and redraw its
        message (expired, without buttons). A plan that moved on stays as it is.

        Raises:
            PlanNotFoundError: no plan has the payload's id.
        """
        plan_id = str(payload["plan"])
        reason = _expiry_reason(self.expire_after_minutes)
        if self._expiries.expire_unattended(plan_id, reason=reason):
            log.info("plan %s expired: %s", plan_id, reason)
            self.notifier.refresh_plan(plan_id)
        else:
            log.debug("plan %s was acted on (or is finished): it does not expire", plan_id)

    # -- standby plans --------------------------------------------------------------------------

    def expire_superseded(self, service: str) -> list[str]:
        """Expire the standby plans of ``service`` whose deploy is no longer live (replaced by a
        later deploy, or rolled back), each audited as ``plan.expired`` with the reason, and
        redraw those shown in a message of their own.

        Returns:
            The ids of the plans this call expired.
        """
        standby = [
            stored
            for stored in self.store.plans.touching(service, limit=_STANDBY_SCAN)
            if stored.kind == PlanKind.STANDBY and stored.status == PlanStatus.PROPOSED
        ]
        deploys = {stored.id: deploy for stored in standby if (deploy := _deploy_of(stored))}
        retired = self.store.incidents.retirements(sorted(set(deploys.values())))
        expired = []
        for stored in standby:
            deploy = deploys.get(stored.id)
            why = retired.get(deploy) if deploy else None
            if why is None:
                continue
            reason = f"its deploy {deploy} is no longer live: {why}"
            if self.store.plans.move(stored.id, PlanStatus.EXPIRED, actor="backout", reason=reason):
                expired.append(stored.id)
                if self._shown_on_its_own(stored.id):
                    self.notifier.refresh_plan(stored.id)
        return expired

    # -- helpers --------------------------------------------------------------------------------

    def _waiting(self, stored: StoredPlan) -> tuple[str, list[Step]] | None:
        """The stage the plan waits to have approved, and its steps that still lack approvals;
        None when it waits for nobody's approval."""
        if stored.kind != PlanKind.LIVE or stored.status not in _WAITS:
            return None
        actions = plan_actions(stored)
        stage = actions.next_stage
        if stage is None or Click.APPROVE_STAGE not in actions.clicks:
            return None
        approvals = self.store.approvals.of(stored.id)
        requester = ApprovalRecheck(store=self.store, policy=self.policy).requester(stored.id)
        rows = {row.step_id: row.status for row in stored.steps}
        steps = [
            step
            for step in stored.plan.steps
            if step.stage.value == stage
            and rows.get(step.id) == StepStatus.PENDING
            and not self.policy.approved(
                step, approvals.get(step.id, frozenset()), requester=requester
            )
        ]
        return (stage, steps) if steps else None

    def _mentions(self, plan_id: str, steps: Sequence[Step]) -> list[str]:
        """Whom the policy lets approve the steps, less the users who approved each already."""
        approvals = self.store.approvals.of(plan_id)
        mentions: dict[str, None] = {}
        for step in steps:
            done = approvals.get(step.id, frozenset())
            for who in named_approvers(self.rules, self.topology, step):
                if is_user_id(who) and (
                    who in done or not self.policy.may_approve(who, step).allowed
                ):
                    continue
                mentions[who] = None
        return list(mentions)

    def _shown_on_its_own(self, plan_id: str) -> bool:
        """Whether the plan has a message of its own (a standby plan never shown is filed under
        its deploy announcement, which is someone else's message and is not ours to edit)."""
        message = self.store.conversations.plan_message(plan_id)
        return message is not None and message.ts != message.thread_ts

    @property
    def _remind_after(self) -> timedelta:
        return timedelta(minutes=self.remind_after_minutes)

    @property
    def _remind_every(self) -> timedelta:
        return timedelta(minutes=self.remind_every_minutes)

    @property
    def _expire_after(self) -> timedelta:
        return timedelta(minutes=self.expire_after_minutes)


@dataclass(frozen=True, kw_only=True)
class ApprovalWindow:
    """When a posted plan could first be approved, and when its window closes (its expiry)."""

    opened_at: datetime
    closes_at: datetime

    def closed(self, now: datetime) -> bool:
        """Whether the window has closed at ``now``."""
        return now >= self.closes_at


def approval_window(store: Store, plan_id: str) -> ApprovalWindow | None:
    """The plan's approval window, as its expiry job was stored (:meth:`Deadlines.schedule_for`);
    None for a plan that has none (never posted for approval: standby, abstained, ``suggest``).

    The job's payload says when the window closes; a job stored before it did is read by its
    due time, which is the same unless a failed run was retried (then later).
    """
    job = store.jobs.get(_expire_key(plan_id))
    if job is None:
        return None
    payload = job.payload
    closes_at = _aware(payload.get("expires_at")) or job.due_at
    opened_at = _aware(payload.get("posted_at")) or job.created_at
    return ApprovalWindow(opened_at=opened_at, closes_at=closes_at)


def expire_late(store: Store, plan_id: str, window: ApprovalWindow) -> bool:
    """Expire a plan whose approval window has closed if nobody approved it and nothing of it is
    under way, as its ``plan.expire`` job would (the same compare-and-set and reason), for when
    a click arrives before the job has run.

    Returns:
        True if this call expired it.
    """
    minutes = (window.closes_at - window.opened_at).total_seconds() / 60
    expiries = Expiries(store.engine, clock=store.clock)
    return expiries.expire_unattended(plan_id, reason=_expiry_reason(minutes))


def named_approvers(rules: PolicyConfig, topology: Topology, step: Step) -> list[str]:
    """The ids the ``policy:`` settings name as approvers of ``step``, most general first, each
    once: the global approvers, those listed for its service and for its service's team, its
    catalog owners (with ``owners_may_approve``) and, for a step undoing a security fix, the
    security approvers. The same places :class:`~bot.core.policy.Policy` grants from; the caller
    asks the policy itself about each user (``Policy`` has no public listing yet, and
    ``policy.py`` is at the 500-line limit of ``tests/test_layout.py``)."""
    named = [*rules.approvers, *rules.services.get(step.service, ())]
    service = topology.services.get(step.service)
    if service is not None and service.team:
        named += rules.teams.get(service.team, ())
    if service is not None and rules.owners_may_approve:
        named += [i for i in service.owners if is_user_id(i) or is_group_id(i)]
    if step.security:
        named += rules.security_approvers
    return list(dict.fromkeys(named))


def _deploy_of(stored: StoredPlan) -> str | None:
    """The deploy a standby plan is kept for: its first suspect deploy on the plan's own service
    (the plan message names it as what the plan undoes)."""
    services = set(stored.plan.incident.services)
    for suspect in stored.plan.suspects:
        if suspect.kind == ChangeKind.DEPLOY and suspect.service in services:
            return suspect.change_id
    return None


def _expire_key(plan_id: str) -> str:
    return f"{EXPIRE}:{plan_id}"


def _aware(value: object) -> datetime | None:
    """A timezone-aware time from a job payload's ISO string; None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _expiry_reason(minutes: float) -> str:
    """Why a plan expired, as audited: ``not approved within 2 h``."""
    return f"not approved within {_minutes(minutes)}"


def _minutes(minutes: float) -> str:
    """``120`` → ``2 h``, ``90`` → ``90 min``."""
    if minutes >= 60 and minutes % 60 == 0:
        return f"{int(minutes // 60)} h"
    return f"{minutes:g} min"
