"""Stored plans: the plan itself, its kind, mode and status, found by id, incident or service.

A plan's status moves only along :data:`bot.lifecycle.TRANSITIONS`: :meth:`Plans.move` is a
compare-and-set from exactly the statuses that may reach the new one, so a move the table does
not allow is refused by the database, whoever asks, however many replicas ask at once. Every
change is audited in the same transaction.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.lifecycle import TRANSITIONS, Mode, PlanKind, PlanStatus, StepStatus
from bot.store.approvals import lock_plan
from bot.store.audit import append_entry
from bot.store.base import Repository
from bot.store.records import PlanNotFoundError, StoredExplanation, StoredPlan, stored_plan
from bot.store.steps import require_plan, step_rows
from bot.store.tables import (
    ApprovalRecord,
    IncidentRecord,
    PlanRecord,
    PlanServiceRecord,
    StepRecord,
)
from planners.model import Plan

__all__ = ["Plans", "StoredNarrative", "services_of"]

log = logging.getLogger(__name__)

# sqlmodel sets ``__table__`` when it creates a table class; mypy cannot see it.
_PLANS: sa.Table = PlanRecord.__table__  # type: ignore[attr-defined]
_STEPS: sa.Table = StepRecord.__table__  # type: ignore[attr-defined]
_SERVICES: sa.Table = PlanServiceRecord.__table__  # type: ignore[attr-defined]
_APPROVALS: sa.Table = ApprovalRecord.__table__  # type: ignore[attr-defined]
_INCIDENTS: sa.Table = IncidentRecord.__table__  # type: ignore[attr-defined]
_NEWEST = (_PLANS.c.created_at.desc(), _PLANS.c.id.desc())
_OPEN = "open"


@dataclass(frozen=True, kw_only=True)
class StoredNarrative:
    """The post-incident summary's narrative as the graph checked it, stored when it arrived.

    Attributes:
        model: the model that was asked.
        outcome: ``ok`` (``text`` is the checked narrative) or ``rejected`` (``reason`` says
            why the guard refused it).
        text: plain prose, untrusted: views escape it.
        cited: the ids of the summary's facts it rests on.
        reason: why the guard rejected it, when it did.
        digest: the digest of the facts it was written from
            (:func:`planners.narrative.facts_digest`): it is current only while they are.
        at: when it was stored.
    """

    model: str
    outcome: str
    text: str
    digest: str
    cited: tuple[str, ...] = ()
    reason: str = ""
    at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The column's JSON."""
        return {
            "model": self.model,
            "outcome": self.outcome,
            "text": self.text,
            "digest": self.digest,
            "cited": list(self.cited),
            "reason": self.reason,
            "at": self.at.isoformat() if self.at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoredNarrative:
        """Read the column's JSON back."""
        at = data.get("at")
        return cls(
            model=str(data.get("model") or ""),
            outcome=str(data.get("outcome") or ""),
            text=str(data.get("text") or ""),
            digest=str(data.get("digest") or ""),
            cited=tuple(str(c) for c in data.get("cited") or ()),
            reason=str(data.get("reason") or ""),
            at=datetime.fromisoformat(at) if isinstance(at, str) else None,
        )


class Plans(Repository):
    """Stored plans and their life cycle."""

    def save(
        self,
        plan: Plan,
        *,
        mode: Mode = Mode.APPROVE,
        kind: PlanKind = PlanKind.LIVE,
        actor: str = "backout",
    ) -> str:
        """Store ``plan`` as a new plan (status ``proposed``, version 1) with all steps pending.

        Audited as ``plan.created``.

        Returns:
            The new plan id, ``"pl-"`` and 8 hex digits.

        Raises:
            ValueError: two steps of the plan share an id.
        """
        mode, kind = Mode(mode), PlanKind(kind)
        step_ids = [step.id for step in plan.steps]
        if len(set(step_ids)) != len(step_ids):
            raise ValueError(f"plan steps must have distinct ids, got {step_ids}")
        data = plan.to_json_dict()

        def work(conn: sa.Connection) -> str:
            now = self._now()
            plan_id = f"pl-{secrets.token_hex(4)}"
            conn.execute(
                sa.insert(_PLANS).values(
                    id=plan_id,
                    incident_id=plan.incident.id,
                    version=1,
                    plan_json=data,
                    mode=mode.value,
                    kind=kind.value,
                    status=PlanStatus.PROPOSED.value,
                    created_at=now,
                    updated_at=now,
                )
            )
            if plan.steps:
                conn.execute(
                    sa.insert(_STEPS),
                    [
                        {
                            "plan_id": plan_id,
                            "step_id": step.id,
                            "position": position,
                            "stage": step.stage.value,
                            "action": step.action.value,
                            "service": step.service,
                            "status": StepStatus.PENDING.value,
                            "attempts": 0,
                            "reason": "",
                            "updated_at": now,
                        }
                        for position, step in enumerate(plan.steps)
                    ],
                )
            if touched := sorted(services_of(plan)):
                rows = [{"plan_id": plan_id, "service": service} for service in touched]
                conn.execute(sa.insert(_SERVICES), rows)
            details = {
                "incident": plan.incident.id,
                "mode": mode.value,
                "kind": kind.value,
                "steps": step_ids,
                "drafted_by": plan.drafted_by,
            }
            append_entry(
                conn, at=now, actor=actor, action="plan.created", subject=plan_id, details=details
            )
            return plan_id

        for _ in range(3):
            try:
                return self._write(work)
            except sa.exc.IntegrityError:
                # Two plans drew the same random id: draw again.
                log.warning("plan id collision; drawing a new id")
        return self._write(work)

    def get(self, plan_id: str) -> StoredPlan:
        """The stored plan with its steps.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        found = self._select(sa.select(_PLANS).where(_PLANS.c.id == plan_id))
        if not found:
            raise PlanNotFoundError(plan_id)
        return found[0]

    def recent(self, *, limit: int = 20) -> list[StoredPlan]:
        """The newest ``limit`` plans, newest first, each with its steps."""
        return self._select(sa.select(_PLANS).order_by(*_NEWEST).limit(limit))

    def latest_live(self) -> StoredPlan | None:
        """The newest live (not standby) plan, or None."""
        query = sa.select(_PLANS).where(_PLANS.c.kind == PlanKind.LIVE.value)
        found = self._select(query.order_by(*_NEWEST).limit(1))
        return found[0] if found else None

    def for_incident(self, incident_id: str) -> StoredPlan | None:
        """The newest live plan drafted for this incident, or None."""
        query = sa.select(_PLANS).where(
            _PLANS.c.incident_id == incident_id, _PLANS.c.kind == PlanKind.LIVE.value
        )
        found = self._select(query.order_by(*_NEWEST).limit(1))
        return found[0] if found else None

    def touching(self, service: str, *, limit: int = 10) -> list[StoredPlan]:
        """The newest ``limit`` plans that touch ``service`` (their incident names it or one of
        their steps acts on it), newest first."""
        query = (
            sa.select(_PLANS)
            .join(_SERVICES, _SERVICES.c.plan_id == _PLANS.c.id)
            .where(_SERVICES.c.service == service)
        )
        return self._select(query.order_by(*_NEWEST).limit(max(limit, 0)))

    def move(self, plan_id: str, to: PlanStatus, *, actor: str, reason: str = "") -> bool:
        """Move the plan to ``to`` if :data:`~bot.lifecycle.TRANSITIONS` allows it from the status
        it has right now (a compare-and-set); audited as ``plan.<to>``.

        Returns:
            True if this call moved the plan; False if its status cannot move to ``to`` (a
            finished plan, a move the table does not have, or no move at all).

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        to = PlanStatus(to)
        sources = sorted(s.value for s, moves in TRANSITIONS.items() if to in moves)

        def work(conn: sa.Connection) -> bool:
            now = self._now()
            changed = conn.execute(
                sa.update(_PLANS)
                .where(_PLANS.c.id == plan_id, _PLANS.c.status.in_(sources))
                .values(status=to.value, version=_PLANS.c.version + 1, updated_at=now)
            )
            if changed.rowcount != 1:
                require_plan(conn, plan_id)  # an unknown plan raises; a known one stays as it is
                return False
            details = {"status": to.value, "reason": reason}
            append_entry(
                conn,
                at=now,
                actor=actor,
                action=f"plan.{to.value}",
                subject=plan_id,
                details=details,
            )
            return True

        moved = self._write(work)
        if not moved:
            log.debug("plan %s: move to %s refused by its current status", plan_id, to)
        return moved

    def retire(self, plan_id: str, *, reason: str, actor: str) -> bool:
        """Retire an untouched live plan for the plan that replaces it (its refinement): see
        :func:`retire_untouched`; its incident, if one is stored, must be open.

        Returns:
            True if this call retired it; False if it was touched meanwhile.
        """
        return self._write(
            lambda conn: retire_untouched(
                conn, plan_id, reason=reason, actor=actor, now=self._now(), needs_incident=False
            )
        )

    def set_explanation(self, plan_id: str, explanation: StoredExplanation, *, actor: str) -> None:
        """Store the plan's checked explanation (replacing an earlier one); audited as
        ``plan.explained`` with the model, the outcome and how many claims were dropped. The
        plan itself, its status and its version do not change.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        stored = replace(explanation, at=explanation.at or self._now())
        details = {
            "model": stored.model,
            "source": stored.source,
            "outcome": stored.outcome,
            "dropped": len(stored.dropped),
        }
        self._annotate(
            plan_id,
            explanation=stored.to_json(),
            action="plan.explained",
            details=details,
            actor=actor,
        )

    def set_narrative(self, plan_id: str, narrative: StoredNarrative, *, actor: str) -> None:
        """Store the summary's checked narrative (replacing an earlier one); audited as
        ``plan.narrated`` with the model, the outcome and the facts' digest. The plan, its
        status and its version do not change.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        stored = replace(narrative, at=narrative.at or self._now())
        details = {"model": stored.model, "outcome": stored.outcome, "digest": stored.digest}
        self._annotate(
            plan_id,
            narrative=stored.to_json(),
            action="plan.narrated",
            details=details,
            actor=actor,
        )

    def _annotate(
        self, plan_id: str, *, action: str, details: dict[str, Any], actor: str, **column: Any
    ) -> None:
        """Set what the model wrote about the plan (one JSON column) and audit it."""

        def work(conn: sa.Connection) -> None:
            changed = conn.execute(sa.update(_PLANS).where(_PLANS.c.id == plan_id).values(**column))
            if changed.rowcount != 1:
                raise PlanNotFoundError(plan_id)
            append_entry(
                conn, at=self._now(), actor=actor, action=action, subject=plan_id, details=details
            )

        self._write(work)

    def narrative(self, plan_id: str) -> StoredNarrative | None:
        """The summary's stored narrative; None when none was stored (or no plan has this id)."""
        with self._reading() as conn:
            value = conn.execute(
                sa.select(_PLANS.c.narrative).where(_PLANS.c.id == plan_id)
            ).scalar_one_or_none()
        return StoredNarrative.from_json(value) if isinstance(value, Mapping) else None

    def _select(self, query: sa.Select[Any]) -> list[StoredPlan]:
        with self._reading() as conn:
            rows = conn.execute(query).all()
            steps = step_rows(conn, [row.id for row in rows])
        return [stored_plan(row, steps.get(row.id, ())) for row in rows]


def services_of(plan: Plan) -> set[str]:
    """The services a plan touches: those its incident names and those its steps act on."""
    return set(plan.incident.services) | {step.service for step in plan.steps}


def retire_untouched(
    conn: sa.Connection,
    plan_id: str,
    *,
    reason: str,
    actor: str,
    now: datetime,
    needs_incident: bool,
) -> bool:
    """Retire a live plan for the plan that replaces it (a grouping redraft, a refinement): a
    compare-and-set from ``proposed`` to ``expired`` while none of its steps has moved, nobody
    has approved any and its incident is open (stored, when ``needs_incident``); audited as
    ``plan.expired`` with ``reason``. The plan's row is locked first
    (:func:`bot.store.approvals.lock_plan`), as an approval locks it, so an approval racing the
    retirement either lands first (and the plan stays) or is refused.

    Returns:
        True if this call retired it; False if it was touched, or its incident closed.
    """
    lock_plan(conn, plan_id)
    moved = sa.exists().where(
        _STEPS.c.plan_id == _PLANS.c.id, _STEPS.c.status != StepStatus.PENDING.value
    )
    approved = sa.exists().where(_APPROVALS.c.plan_id == _PLANS.c.id)
    incident = sa.exists().where(_INCIDENTS.c.id == _PLANS.c.incident_id)
    closed = sa.exists().where(
        _INCIDENTS.c.id == _PLANS.c.incident_id, _INCIDENTS.c.status != _OPEN
    )
    conditions = [~moved, ~approved, ~closed] + ([incident] if needs_incident else [])
    changed = conn.execute(
        sa.update(_PLANS)
        .where(
            _PLANS.c.id == plan_id,
            _PLANS.c.status == PlanStatus.PROPOSED.value,
            _PLANS.c.kind == PlanKind.LIVE.value,
            *conditions,
        )
        .values(status=PlanStatus.EXPIRED.value, version=_PLANS.c.version + 1, updated_at=now)
    )
    if changed.rowcount != 1:
        return False
    details = {"status": PlanStatus.EXPIRED.value, "reason": reason}
    append_entry(conn, at=now, actor=actor, action="plan.expired", subject=plan_id, details=details)
    return True
