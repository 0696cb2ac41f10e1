"""The Slack side of the store: plan messages and the outbox of Slack calls.

Every replica behind the load balancer gets Slack's deliveries (DESIGN.md, "Several replicas"), so
what the Slack handlers must agree on lives here, in the database (which event ids were handled
is :mod:`bot.store.handled`):

* :meth:`Conversations.set_plan_message` remembers which message shows which plan, so a click on
  any replica finds its plan by ``(channel, ts)``.
* The outbox holds Slack calls that must not be lost. :meth:`Conversations.enqueue` stores a call
  once per idempotency key; :meth:`Conversations.claim_due` hands each due call to one worker with
  a compare-and-set ``UPDATE … WHERE status = …`` per row (no ``SELECT … FOR UPDATE``, which
  SQLite ignores) and a lease, after which a call whose worker died is claimed again. Calls are
  therefore sent at least once; the key keeps a retried enqueue from doubling them.

:class:`Conversations` is a :class:`~bot.store.base.Repository`, like
:class:`~bot.store.repository.Store`: same engine, transactions and retries.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from bot.store.audit import canonical_details
from bot.store.base import Repository
from bot.store.records import PlanNotFoundError
from bot.store.tables import OutboxRecord, PlanMessageRecord, PlanRecord

__all__ = ["Conversations", "OutboxItem", "OutboxStatus", "PlanMessage"]

log = logging.getLogger(__name__)

# sqlmodel sets ``__table__`` when it creates a table class; mypy cannot see it.
_MESSAGES: sa.Table = PlanMessageRecord.__table__  # type: ignore[attr-defined]
_OUTBOX: sa.Table = OutboxRecord.__table__  # type: ignore[attr-defined]
_PLANS: sa.Table = PlanRecord.__table__  # type: ignore[attr-defined]


class OutboxStatus(StrEnum):
    """Where a Slack call in the outbox is in its life."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class PlanMessage:
    """The Slack message a plan is shown in, and who asked for the plan."""

    plan_id: str
    channel: str
    ts: str
    thread_ts: str | None
    requester: str | None
    created_at: datetime
    summary_ts: str | None = None
    """The post-incident summary's message, once posted."""


@dataclass(frozen=True)
class OutboxItem:
    """A Slack call in the outbox: the Web API ``method`` and its ``args``, and its delivery state.

    ``attempts`` counts the tries that have finished (sent, retried or failed).
    """

    id: int
    key: str
    method: str
    args: Mapping[str, Any]
    status: OutboxStatus
    attempts: int
    next_at: datetime
    claimed_by: str | None
    lease_until: datetime | None
    last_error: str | None
    result: Mapping[str, Any] | None
    created_at: datetime
    sent_at: datetime | None


class Conversations(Repository):
    """Plan messages and the outbox, shared by every replica.

    Thread-safe: each call runs in its own connection and transaction.

    Args:
        engine: an engine, best made by :func:`bot.store.db.create_engine`, on a database
            migrated to the newest schema.
        clock: returns the current time, timezone-aware.
    """

    def prune_outbox(self, *, older_than: timedelta, limit: int = 5000) -> int:
        """Delete up to ``limit`` outbox rows sent more than ``older_than`` ago, oldest first
        (failed ones stay, to be seen). Returns how many were deleted."""

        def work(conn: sa.Connection) -> int:
            cutoff = self._now() - older_than
            oldest = (
                sa.select(_OUTBOX.c.id)
                .where(
                    _OUTBOX.c.status == OutboxStatus.SENT.value,
                    _OUTBOX.c.sent_at < cutoff,
                )
                .order_by(_OUTBOX.c.sent_at)
                .limit(limit)
            )
            ids = conn.execute(oldest).scalars().all()
            if not ids:
                return 0
            return conn.execute(sa.delete(_OUTBOX).where(_OUTBOX.c.id.in_(ids))).rowcount

        return self._write(work)

    # -- plan messages -------------------------------------------------------------------------

    def set_plan_message(
        self,
        plan_id: str,
        *,
        channel: str,
        ts: str,
        thread_ts: str | None = None,
        requester: str | None = None,
    ) -> None:
        """Remember that the plan is shown in message ``ts`` of ``channel``.

        A plan has one message: setting it again replaces channel, ts, thread and requester (the
        first ``created_at`` stays).

        Raises:
            PlanNotFoundError: no plan has this id.
            ValueError: that message already shows another plan.
        """
        values = {"channel": channel, "ts": ts, "thread_ts": thread_ts, "requester": requester}

        def work(conn: sa.Connection) -> None:
            found = conn.execute(sa.select(_PLANS.c.id).where(_PLANS.c.id == plan_id)).first()
            if found is None:
                raise PlanNotFoundError(plan_id)
            other = conn.execute(
                sa.select(_MESSAGES.c.plan_id).where(
                    _MESSAGES.c.channel == channel,
                    _MESSAGES.c.ts == ts,
                    _MESSAGES.c.plan_id != plan_id,
                )
            ).scalar_one_or_none()
            if other is not None:
                raise ValueError(f"message {channel}/{ts} already shows plan {other!r}")
            changed = conn.execute(
                sa.update(_MESSAGES).where(_MESSAGES.c.plan_id == plan_id).values(**values)
            )
            if changed.rowcount == 0:
                conn.execute(
                    sa.insert(_MESSAGES).values(plan_id=plan_id, created_at=self._now(), **values)
                )

        self._insert_racing(work)

    def set_summary_message(self, plan_id: str, *, ts: str) -> bool:
        """Remember that the plan's post-incident summary is message ``ts`` (in its channel).

        Returns:
            True if the plan has a message to attach it to.
        """

        def work(conn: sa.Connection) -> bool:
            changed = conn.execute(
                sa.update(_MESSAGES).where(_MESSAGES.c.plan_id == plan_id).values(summary_ts=ts)
            )
            return changed.rowcount == 1

        return self._write(work)

    def plan_message(self, plan_id: str) -> PlanMessage | None:
        """The message the plan is shown in, or ``None`` if none was set."""
        with self._reading() as conn:
            row = conn.execute(
                sa.select(_MESSAGES).where(_MESSAGES.c.plan_id == plan_id)
            ).one_or_none()
        return None if row is None else _plan_message(row)

    def plan_at(self, channel: str, ts: str) -> str | None:
        """The id of the plan shown in message ``ts`` of ``channel``, or ``None``."""
        with self._reading() as conn:
            plan_id: str | None = conn.execute(
                sa.select(_MESSAGES.c.plan_id).where(
                    _MESSAGES.c.channel == channel, _MESSAGES.c.ts == ts
                )
            ).scalar_one_or_none()
        return plan_id

    def plan_in_thread(self, channel: str, thread_ts: str) -> str | None:
        """The newest plan shown in the thread ``thread_ts`` of ``channel`` (as its first
        message or as a reply), or ``None``."""
        in_thread = sa.or_(_MESSAGES.c.ts == thread_ts, _MESSAGES.c.thread_ts == thread_ts)
        query = (
            sa.select(_MESSAGES.c.plan_id)
            .where(_MESSAGES.c.channel == channel, in_thread)
            .order_by(_MESSAGES.c.created_at.desc(), _MESSAGES.c.plan_id.desc())
            .limit(1)
        )
        with self._reading() as conn:
            plan_id: str | None = conn.execute(query).scalar_one_or_none()
        return plan_id

    # -- outbox --------------------------------------------------------------------------------

    def enqueue(self, method: str, args: Mapping[str, Any], *, key: str) -> int:
        """Put the Slack call ``method(**args)`` in the outbox, due now, unless ``key`` is there.

        ``key`` is the idempotency key: enqueueing with a key already used (by any replica, at
        any time) inserts nothing and returns the id stored under it.

        Returns:
            The id of the outbox item under ``key``.

        Raises:
            TypeError: ``args`` holds something JSON cannot carry.
        """
        data = canonical_details(args)

        def work(conn: sa.Connection) -> int:
            existing: int | None = conn.execute(
                sa.select(_OUTBOX.c.id).where(_OUTBOX.c.key == key)
            ).scalar_one_or_none()
            if existing is not None:
                log.debug("outbox key %s already queued as %d", key, existing)
                return existing
            now = self._now()
            conn.execute(
                sa.insert(_OUTBOX).values(
                    key=key,
                    method=method,
                    args=data,
                    status=OutboxStatus.QUEUED.value,
                    attempts=0,
                    next_at=now,
                    created_at=now,
                )
            )
            item_id: int = conn.execute(
                sa.select(_OUTBOX.c.id).where(_OUTBOX.c.key == key)
            ).scalar_one()
            return item_id

        return self._insert_racing(work)

    def claim_due(
        self, *, worker: str, limit: int = 20, lease_seconds: float = 30
    ) -> list[OutboxItem]:
        """Claim up to ``limit`` due calls for ``worker`` to send, oldest due first.

        Due means queued with ``next_at`` reached, or sending with a lease that has run out (its
        worker died). Each row is claimed with its own compare-and-set ``UPDATE`` that repeats
        the due condition, so of any number of workers racing, one gets each row. A claimed row
        is ``sending``, held by ``worker`` until ``lease_seconds`` from now.

        Returns:
            The calls this worker claimed, as claimed.
        """
        if limit < 1:
            return []

        def work(conn: sa.Connection) -> list[OutboxItem]:
            now = self._now()
            due = sa.or_(
                sa.and_(
                    _OUTBOX.c.status == OutboxStatus.QUEUED.value,
                    _OUTBOX.c.next_at <= now,
                ),
                sa.and_(
                    _OUTBOX.c.status == OutboxStatus.SENDING.value,
                    sa.or_(_OUTBOX.c.lease_until.is_(None), _OUTBOX.c.lease_until < now),
                ),
            )
            candidates = conn.execute(
                sa.select(_OUTBOX.c.id)
                .where(due)
                .order_by(_OUTBOX.c.next_at, _OUTBOX.c.id)
                .limit(limit)
            ).scalars()
            lease = now + timedelta(seconds=lease_seconds)
            claimed: list[int] = []
            for item_id in list(candidates):
                changed = conn.execute(
                    sa.update(_OUTBOX)
                    .where(_OUTBOX.c.id == item_id, due)
                    .values(status=OutboxStatus.SENDING.value, claimed_by=worker, lease_until=lease)
                )
                if changed.rowcount == 1:
                    claimed.append(item_id)
            if not claimed:
                return []
            rows = conn.execute(
                sa.select(_OUTBOX)
                .where(_OUTBOX.c.id.in_(claimed))
                .order_by(_OUTBOX.c.next_at, _OUTBOX.c.id)
            ).all()
            return [_outbox_item(row) for row in rows]

        items = self._write(work)
        if items:
            log.debug("%s claimed outbox items %s", worker, [item.id for item in items])
        return items

    def mark_sent(self, item_id: int, *, result: Mapping[str, Any]) -> bool:
        """Record that the call went out, with Slack's ``result``; a call is marked sent once.

        Any worker may mark it, even after its lease ran out: the call did go out.

        Returns:
            True if this call recorded it; False if it was already sent or does not exist.

        Raises:
            TypeError: ``result`` holds something JSON cannot carry.
        """
        data = canonical_details(result)

        def work(conn: sa.Connection) -> bool:
            now = self._now()
            changed = conn.execute(
                sa.update(_OUTBOX)
                .where(_OUTBOX.c.id == item_id, _OUTBOX.c.status != OutboxStatus.SENT.value)
                .values(
                    status=OutboxStatus.SENT.value,
                    attempts=_OUTBOX.c.attempts + 1,
                    result=data,
                    sent_at=now,
                    lease_until=None,
                )
            )
            return changed.rowcount == 1

        return self._write(work)

    def mark_retry(self, item_id: int, *, error: str, delay: float) -> bool:
        """Put a call being sent back in the queue, due ``delay`` seconds from now.

        Returns:
            True if the call was being sent (and is now queued with one more attempt).
        """

        def work(conn: sa.Connection) -> bool:
            now = self._now()
            changed = conn.execute(
                sa.update(_OUTBOX)
                .where(_OUTBOX.c.id == item_id, _OUTBOX.c.status == OutboxStatus.SENDING.value)
                .values(
                    status=OutboxStatus.QUEUED.value,
                    attempts=_OUTBOX.c.attempts + 1,
                    next_at=now + timedelta(seconds=delay),
                    last_error=error,
                    claimed_by=None,
                    lease_until=None,
                )
            )
            return changed.rowcount == 1

        return self._write(work)

    def mark_failed(self, item_id: int, *, error: str) -> bool:
        """Give up on a call being sent: it stays ``failed`` with ``error`` and is not retried.

        Returns:
            True if the call was being sent (and is now failed with one more attempt).
        """

        def work(conn: sa.Connection) -> bool:
            changed = conn.execute(
                sa.update(_OUTBOX)
                .where(_OUTBOX.c.id == item_id, _OUTBOX.c.status == OutboxStatus.SENDING.value)
                .values(
                    status=OutboxStatus.FAILED.value,
                    attempts=_OUTBOX.c.attempts + 1,
                    last_error=error,
                    lease_until=None,
                )
            )
            return changed.rowcount == 1

        return self._write(work)

    def outbox_item(self, item_id: int) -> OutboxItem | None:
        """The outbox item with this id, or ``None``."""
        with self._reading() as conn:
            row = conn.execute(sa.select(_OUTBOX).where(_OUTBOX.c.id == item_id)).one_or_none()
        return None if row is None else _outbox_item(row)

    def pending_count(self) -> int:
        """How many calls are queued or being sent."""
        pending = [OutboxStatus.QUEUED.value, OutboxStatus.SENDING.value]
        with self._reading() as conn:
            count: int = conn.execute(
                sa.select(sa.func.count()).select_from(_OUTBOX).where(_OUTBOX.c.status.in_(pending))
            ).scalar_one()
        return count


def _plan_message(row: sa.Row[Any]) -> PlanMessage:
    return PlanMessage(
        plan_id=row.plan_id,
        channel=row.channel,
        ts=row.ts,
        thread_ts=row.thread_ts,
        requester=row.requester,
        created_at=row.created_at,
        summary_ts=row.summary_ts,
    )


def _outbox_item(row: sa.Row[Any]) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        key=row.key,
        method=row.method,
        args=row.args,
        status=OutboxStatus(row.status),
        attempts=row.attempts,
        next_at=row.next_at,
        claimed_by=row.claimed_by,
        lease_until=row.lease_until,
        last_error=row.last_error,
        result=row.result,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )
