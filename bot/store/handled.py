"""Which deliveries were handled: Slack event ids, Slack request signatures and webhook delivery
ids, one table (``slack_events``) whose primary key lets exactly one replica handle each.

Every replica behind the load balancer gets every delivery (DESIGN.md, "Several replicas"):

* :meth:`Handled.claim_event` lets exactly one replica handle a Slack event, however often Slack
  retries it and whichever replica each retry lands on; the Slack edge also claims each
  request's signature (``sig:…``) to refuse exact replays.
* :meth:`Handled.claim_delivery` does the same for a webhook sender's delivery ids (GitHub,
  PagerDuty), under ``webhook:<sender>:``, kept at least :data:`DELIVERY_RETENTION`.
* :meth:`Handled.forget_events` prunes them (the scheduler's hourly prune).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Final

import sqlalchemy as sa

from bot.store.base import Repository
from bot.store.tables import SlackEventRecord

__all__ = ["DELIVERY_RETENTION", "Handled"]

log = logging.getLogger(__name__)

DELIVERY_RETENTION: Final = timedelta(days=14)
"""How long a webhook delivery id is remembered, whatever :meth:`Handled.forget_events` is
asked: past GitHub's manual redelivery window (3 days on github.com, 7 on Enterprise Server) and
PagerDuty's retries (about 20 minutes), with room to spare. A replay after that is not caught by
its id; the webhook routes refuse a PagerDuty event older than half of this by its signed time."""

_DELIVERY_PREFIX = "webhook:"
"""Webhook delivery ids are stored under this prefix; Slack's event ids (``Ev…``) and request
signatures (``sig:…``) never start with it."""
_MAX_ID_LENGTH = 128
"""A delivery id longer than this (no sender's is) is stored as its SHA-256."""


# sqlmodel sets ``__table__`` when it creates a table class; mypy cannot see it.
_EVENTS: sa.Table = SlackEventRecord.__table__  # type: ignore[attr-defined]


class Handled(Repository):
    """Handled Slack events and webhook deliveries, shared by every replica. Thread-safe: each
    call runs in its own connection and transaction."""

    def claim_event(self, event_id: str) -> bool:
        """Claim the Slack event ``event_id`` for handling.

        Returns:
            True the first time the id is claimed, False ever after: of any number of threads,
            processes or replicas claiming it at once, one gets True (the primary key decides).
        """
        if self._claim(event_id):
            return True
        log.debug("Slack event %s already handled", event_id)
        return False

    def claim_delivery(self, sender: str, delivery_id: str) -> bool:
        """Claim the webhook delivery ``delivery_id`` of ``sender`` (``"github"``) for handling.

        Like :meth:`claim_event`, exactly once across threads, processes and replicas, and kept
        at least :data:`DELIVERY_RETENTION`. The id is namespaced by ``sender``: two senders'
        ids, or a Slack event id, never collide.

        Returns:
            True the first time the id is claimed (and not released since), False otherwise.
        """
        key = _delivery_key(sender, delivery_id)
        if self._claim(key):
            return True
        log.debug("webhook delivery %s already handled", key)
        return False

    def release_delivery(self, sender: str, delivery_id: str) -> bool:
        """Forget a claimed delivery whose handling failed, so the sender's retry is handled.

        Returns:
            True if it was claimed.
        """
        key = _delivery_key(sender, delivery_id)

        def work(conn: sa.Connection) -> bool:
            deleted = conn.execute(sa.delete(_EVENTS).where(_EVENTS.c.event_id == key))
            return deleted.rowcount == 1

        return self._write(work)

    def _claim(self, key: str) -> bool:
        def work(conn: sa.Connection) -> None:
            conn.execute(sa.insert(_EVENTS).values(event_id=key, received_at=self._now()))

        try:
            self._write(work)
        except sa.exc.IntegrityError:
            return False
        return True

    def forget_events(self, *, older_than: timedelta, limit: int = 5000) -> int:
        """Delete up to ``limit`` event ids claimed more than ``older_than`` ago (Slack retries
        within minutes), oldest first: one run stays short however many piled up. Webhook
        delivery ids (:meth:`claim_delivery`) are kept at least :data:`DELIVERY_RETENTION`.

        Returns:
            How many were deleted.
        """

        def work(conn: sa.Connection) -> int:
            now = self._now()
            delivery = _EVENTS.c.event_id.startswith(_DELIVERY_PREFIX, autoescape=True)
            expired = sa.or_(
                sa.and_(~delivery, _EVENTS.c.received_at < now - older_than),
                sa.and_(
                    delivery,
                    _EVENTS.c.received_at < now - max(older_than, DELIVERY_RETENTION),
                ),
            )
            oldest = (
                sa.select(_EVENTS.c.event_id)
                .where(expired)
                .order_by(_EVENTS.c.received_at)
                .limit(limit)
            )
            ids = conn.execute(oldest).scalars().all()
            if not ids:
                return 0
            return conn.execute(sa.delete(_EVENTS).where(_EVENTS.c.event_id.in_(ids))).rowcount

        return self._write(work)


def _delivery_key(sender: str, delivery_id: str) -> str:
    """Where a webhook delivery id is stored: ``webhook:<sender>:<id>``."""
    if len(delivery_id) > _MAX_ID_LENGTH:
        delivery_id = "sha256:" + hashlib.sha256(delivery_id.encode("utf-8", "replace")).hexdigest()
    return f"{_DELIVERY_PREFIX}{sender}:{delivery_id}"
