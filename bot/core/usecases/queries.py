"""Reading what Backout knows: a plan by id, the latest plan, a service's history, and whether a
plan may be previewed. Nothing here changes a plan; every read of a plan and every refusal is
audited.

A plan is shown only to whom :class:`~bot.core.access.Access` lets read it: the people of the
channel it is posted in and its approvers (issue 11, item 1). Reads are audited as
``plan.read``, refusals as ``plan.read_refused`` and dry runs as ``plan.simulated``, each with
the plan as subject, the channel asked from and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.access import Access
from bot.core.policy import Decision
from bot.lifecycle import PlanKind
from bot.store import Store, StoredPlan
from planners.model import Change

__all__ = ["Queries", "Read"]

READ = "plan.read"
READ_REFUSED = "plan.read_refused"
SIMULATED = "plan.simulated"

_LATEST_SCAN = 100
"""How many of the newest plans (standby ones included, then left out) ``/rollback status``
looks through for a live one the user may read."""
_HISTORY_SCAN = 20
_HISTORY_SHOWN = 5


@dataclass(frozen=True, kw_only=True)
class Read:
    """The answer to a request to read a plan: whether it is allowed, and why (or why not)."""

    plan_id: str
    allowed: bool
    reason: str


@dataclass(frozen=True, kw_only=True)
class Queries:
    """Read-only questions about plans and services, for the people allowed to ask them.

    Args:
        store: plans, incidents, where plans are posted, the audit log.
        access: who may read which plan.
    """

    store: Store
    access: Access

    def read(self, plan_id: str, *, user: str, channel: str) -> Read:
        """``/rollback status <plan>``: may ``user``, asking in ``channel``, see the plan?
        Audited either way.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        stored = self.store.plans.get(plan_id)
        decision = self._decide(stored, user=user, channel=channel)
        self._audit(READ if decision.allowed else READ_REFUSED, stored.id, user, channel, decision)
        return Read(plan_id=stored.id, allowed=decision.allowed, reason=decision.reason)

    def latest(self, *, user: str, channel: str) -> str | None:
        """``/rollback status``: the newest live plan ``user`` may read (audited as read): the
        newest one posted in ``channel`` if there is one, else the newest they may read
        elsewhere; None when there is none."""
        recent = [p for p in self.store.plans.recent(limit=_LATEST_SCAN) if p.kind == PlanKind.LIVE]
        posted = {p.id: self._posted_in(p.id) for p in recent}
        here = [p for p in recent if posted[p.id] == channel]
        for stored in here[:1] + [p for p in recent if posted[p.id] != channel]:
            where = posted[stored.id]
            decision = self.access.may_read(user, stored.plan, posted_in=where, asked_in=channel)
            if decision.allowed:
                self._audit(READ, stored.id, user, channel, decision)
                return stored.id
        return None

    def history(
        self, service: str, *, user: str, channel: str
    ) -> tuple[list[Change], list[StoredPlan]]:
        """``/rollback history <service>``: the service's recent changes and the newest plans
        that touched it among those ``user`` may read (each audited as read)."""
        changes = self.store.incidents.changes_of(service, limit=10)
        shown: list[StoredPlan] = []
        for stored in self.store.plans.touching(service, limit=_HISTORY_SCAN):
            decision = self._decide(stored, user=user, channel=channel)
            if decision.allowed:
                self._audit(READ, stored.id, user, channel, decision, via="history")
                shown.append(stored)
                if len(shown) == _HISTORY_SHOWN:
                    break
        return changes, shown

    def may_simulate(self, plan_id: str, *, user: str, channel: str) -> Read:
        """May ``user`` have the plan's steps previewed (a dry run through the executors)? A
        refusal is audited; an allowed dry run is audited by :meth:`simulated` once it is
        under way.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        stored = self.store.plans.get(plan_id)
        decision = self._decide(stored, user=user, channel=channel)
        if not decision.allowed:
            self._audit(READ_REFUSED, stored.id, user, channel, decision, via="simulate")
        return Read(plan_id=stored.id, allowed=decision.allowed, reason=decision.reason)

    def simulated(self, plan_id: str, *, user: str, channel: str) -> None:
        """Record that ``user`` started a dry run of the plan."""
        self.store.audit.append(
            actor=user, action=SIMULATED, subject=plan_id, details={"channel": channel}
        )

    def _posted_in(self, plan_id: str) -> str | None:
        message = self.store.conversations.plan_message(plan_id)
        return message.channel if message else None

    def _decide(self, stored: StoredPlan, *, user: str, channel: str) -> Decision:
        where = self._posted_in(stored.id)
        return self.access.may_read(user, stored.plan, posted_in=where, asked_in=channel)

    def _audit(
        self,
        action: str,
        plan_id: str,
        user: str,
        channel: str,
        decision: Decision,
        *,
        via: str = "status",
    ) -> None:
        details = {"via": via, "channel": channel, "reason": decision.reason}
        self.store.audit.append(actor=user, action=action, subject=plan_id, details=details)
