"""Approvals: each responder's decision on each step of a stored plan, recorded once.

A user decides a step once: a second click, even from another replica at the same instant,
changes nothing (the table's unique key decides). Who may approve is the policy's business
(:mod:`bot.core.policy`); this only remembers who did.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

import sqlalchemy as sa

from bot.store.audit import append_entry
from bot.store.base import Repository
from bot.store.records import StepNotFoundError
from bot.store.steps import require_plan, step_rows
from bot.store.tables import ApprovalRecord

__all__ = ["Approvals"]

log = logging.getLogger(__name__)

_APPROVALS: sa.Table = ApprovalRecord.__table__  # type: ignore[attr-defined]


class Approvals(Repository):
    """Who approved (or took another decision on) which step of which plan."""

    def add(
        self,
        plan_id: str,
        *,
        user: str,
        step_ids: Collection[str],
        decision: str = "approve",
    ) -> list[str]:
        """Record ``user``'s decision on each step they have not decided yet.

        A user decides a step once: a second click, even from another replica at the same
        instant, changes nothing (the database's unique key decides). Each new decision is
        audited as ``approval.<decision>``.

        Returns:
            The step ids newly decided by this call, in the order given.

        Raises:
            PlanNotFoundError: no plan has this id.
            StepNotFoundError: the plan has no step with one of these ids (nothing is recorded).
        """
        wanted = list(dict.fromkeys(step_ids))
        with self._reading() as conn:
            known = {row.step_id for row in step_rows(conn, [plan_id]).get(plan_id, ())}
            if not known:
                require_plan(conn, plan_id)
        for step_id in wanted:
            if step_id not in known:
                raise StepNotFoundError(plan_id, step_id)
        added: list[str] = []
        for step_id in wanted:
            try:
                self._write(self._approval_work(plan_id, step_id, user=user, decision=decision))
            except sa.exc.IntegrityError:
                log.debug("%s already decided %s/%s", user, plan_id, step_id)
                continue
            added.append(step_id)
        return added

    def _approval_work(
        self, plan_id: str, step_id: str, *, user: str, decision: str
    ) -> Callable[[sa.Connection], None]:
        def work(conn: sa.Connection) -> None:
            now = self._now()
            conn.execute(
                sa.insert(_APPROVALS).values(
                    plan_id=plan_id, step_id=step_id, user_id=user, decision=decision, at=now
                )
            )
            append_entry(
                conn,
                at=now,
                actor=user,
                action=f"approval.{decision}",
                subject=f"{plan_id}/{step_id}",
                details={"user": user, "decision": decision},
            )

        return work

    def of(self, plan_id: str, *, decision: str = "approve") -> dict[str, frozenset[str]]:
        """Step id -> the users who took ``decision`` on it; steps nobody decided are left out."""
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(_APPROVALS.c.step_id, _APPROVALS.c.user_id).where(
                    _APPROVALS.c.plan_id == plan_id, _APPROVALS.c.decision == decision
                )
            ).all()
        users: dict[str, set[str]] = {}
        for row in rows:
            users.setdefault(row.step_id, set()).add(row.user_id)
        return {step_id: frozenset(names) for step_id, names in users.items()}
