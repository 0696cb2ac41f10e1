"""Each webhook delivery handled once: a sender's retry, redelivery or a replay of a captured
request is answered ``200 {"ok": true, "duplicate": true}`` and does nothing again.

Part of the webhook routes (:mod:`bot.slack.webhooks`), for the senders that name their
deliveries and sign no timestamp (PagerDuty and GitHub; :mod:`.auth`). :meth:`Once.wrap` wraps a
route's handler, so it runs only after the sender's signature was verified and the body decoded:
an unsigned, badly signed or unreadable request never uses up an id. The id is claimed in the
database (:meth:`bot.store.Handled.claim_delivery`), so every replica agrees and a restart
forgets nothing, for :data:`~bot.store.handled.DELIVERY_RETENTION`. A delivery whose
handling fails (400, 503) gives its id back, so the sender's retry is handled.

Which id:

* PagerDuty: ``event.id`` of the body, "the unique id of the event". It is inside the signed
  body, so a replay cannot change it; PagerDuty's ``X-Webhook-Id`` header (repeated on each
  retry) is not signed and is not used. The same event sent by two subscriptions is handled once.
  An event is also refused (202) when its signed ``event.occurred_at`` is older than
  :data:`PAGERDUTY_MAX_AGE`, half the retention: PagerDuty retries for about 20 minutes, so only
  a replay comes that late, and one whose id was already forgotten cannot get through.
* GitHub: the ``X-GitHub-Delivery`` header, a GUID per delivery that GitHub's "Redeliver" reuses.
  The header is not signed: a replay under a new GUID is handled again, and a
  ``deployment_status`` then records nothing, its change being stored once by its id
  (:mod:`bot.store.changes`), for as long as the store keeps it.

A delivery without an id is handled (the signature proves its sender) and logged as a warning:
refusing it would lose a real event sent through a proxy that drops headers.

References: https://github.com/PagerDuty/developer-docs/blob/main/docs/webhooks/01-Overview.md ,
``02-Behavior.md`` ("At-Least-Once Delivery");
https://docs.github.com/en/webhooks/testing-and-troubleshooting-webhooks/redelivering-webhooks
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from bot.slack.webhooks.endpoint import Answer, Delivery, Handler
from bot.store.handled import DELIVERY_RETENTION

__all__ = [
    "DUPLICATE",
    "PAGERDUTY_MAX_AGE",
    "Ledger",
    "Once",
    "github_delivery",
    "pagerduty_event",
    "pagerduty_occurred_at",
]

log = logging.getLogger(__name__)

DUPLICATE: Final[Mapping[str, object]] = {"ok": True, "duplicate": True}
"""The answer (with 200) to a delivery already handled."""

PAGERDUTY_MAX_AGE: Final = DELIVERY_RETENTION / 2
"""A PagerDuty event that occurred longer ago than this is a replay. Below the retention, with a
margin for clock skew, so an event young enough to pass still has its id remembered."""


class Ledger(Protocol):
    """Where claimed delivery ids are remembered (:class:`bot.store.Handled`)."""

    def claim_delivery(self, sender: str, delivery_id: str) -> bool:
        """True the first time ``delivery_id`` of ``sender`` is claimed."""
        ...

    def release_delivery(self, sender: str, delivery_id: str) -> bool:
        """Forget a claimed id, so it can be claimed again."""
        ...


@dataclass(frozen=True, kw_only=True)
class Once:
    """Handles each delivery of one sender once (see the module docstring).

    Attributes:
        ledger: where claimed ids are kept.
        clock: the current time, timezone-aware.
        sender: the sender's namespace in the ledger (``"github"``).
        source: where the id is, for the log (``"the X-GitHub-Delivery header"``).
        delivery_id: the delivery's id, or None when it has none.
        occurred_at: when the delivered event happened, if the signed body says so; an event
            older than ``max_age`` is refused as a replay.
        max_age: see ``occurred_at``.
    """

    ledger: Ledger
    clock: Callable[[], datetime]
    sender: str
    source: str
    delivery_id: Callable[[Delivery], str | None]
    occurred_at: Callable[[Delivery], datetime | None] | None = None
    max_age: timedelta = PAGERDUTY_MAX_AGE

    def wrap(self, handle: Handler) -> Handler:
        """``handle``, run only for a delivery not handled before."""

        def once(delivery: Delivery) -> Answer:
            stale = self._stale(delivery)
            if stale is not None:
                log.warning("webhook %s: delivery refused: %s", self.sender, stale)
                return Answer(202, {"ignored": stale})
            delivery_id = self.delivery_id(delivery)
            if delivery_id is None:
                log.warning(
                    "webhook %s: no delivery id in %s; handled without de-duplication",
                    self.sender,
                    self.source,
                )
                return handle(delivery)
            if not self.ledger.claim_delivery(self.sender, delivery_id):
                log.info("webhook %s: delivery %s already handled", self.sender, delivery_id)
                return Answer(200, DUPLICATE)
            try:
                return handle(delivery)
            except BaseException:
                self.ledger.release_delivery(self.sender, delivery_id)
                raise

        return once

    def _stale(self, delivery: Delivery) -> str | None:
        """Why the delivered event is too old to be anything but a replay, if it is."""
        occurred = self.occurred_at(delivery) if self.occurred_at else None
        if occurred is None or occurred >= self.clock() - self.max_age:
            return None
        days = self.max_age / timedelta(days=1)
        return (
            f"event occurred at {occurred.isoformat()}, more than {days:g} days ago: "
            "a replay, not a delivery"
        )


def github_delivery(delivery: Delivery) -> str | None:
    """GitHub's ``X-GitHub-Delivery`` header, or None."""
    return _usable(delivery.headers.get("x-github-delivery"))


def pagerduty_event(delivery: Delivery) -> str | None:
    """PagerDuty v3's ``event.id``, or None."""
    event = _event(delivery.payload)
    value = event.get("id") if event else None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return _usable(value) if isinstance(value, str) else None


def pagerduty_occurred_at(delivery: Delivery) -> datetime | None:
    """PagerDuty v3's ``event.occurred_at``; None if missing, unreadable or without a zone."""
    event = _event(delivery.payload)
    value = event.get("occurred_at") if event else None
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return at.astimezone(UTC) if at.utcoffset() is not None else None


def _event(payload: object) -> Mapping[str, object] | None:
    event = payload.get("event") if isinstance(payload, Mapping) else None
    return event if isinstance(event, Mapping) else None


def _usable(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None
