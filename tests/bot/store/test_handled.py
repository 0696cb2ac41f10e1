"""Handled deliveries: Slack events, request signatures and webhook delivery ids claimed once
across threads and replicas, and pruned (delivery ids kept longer); on both backends."""

from __future__ import annotations

from datetime import timedelta

from bot.store import Handled
from bot.store.handled import DELIVERY_RETENTION
from tests.support.store import Clock, race


def test_an_event_is_claimed_the_first_time_only(store):
    """The first claim of an event id wins; a retry of the same id and later claims lose."""
    talk = store.handled
    assert talk.claim_event("Ev001") is True
    assert talk.claim_event("Ev001") is False
    assert talk.claim_event("Ev002") is True


def test_racing_claims_of_one_event_give_one_winner(store):
    """Eight threads claiming one event id at the same instant: exactly one gets True."""
    talk = store.handled
    results = race(8, lambda _: talk.claim_event("Ev-race"))
    assert sorted(results) == [False] * 7 + [True]


def test_old_event_ids_are_forgotten(store):
    """Forgetting deletes only ids older than the cut-off; a forgotten id can be claimed again."""
    clock = Clock()
    talk = Handled(store.engine, clock=clock)
    assert talk.claim_event("Ev-old")
    clock.advance(3600)
    assert talk.claim_event("Ev-new")
    assert talk.forget_events(older_than=timedelta(minutes=30)) == 1
    assert talk.claim_event("Ev-old") is True
    assert talk.claim_event("Ev-new") is False


def test_forgetting_is_bounded_per_run_and_oldest_first(store):
    """Issue 12 item 8: a pile of old ids is pruned a bounded number at a time, oldest first."""
    clock = Clock()
    talk = Handled(store.engine, clock=clock)
    for n in range(5):
        assert talk.claim_event(f"Ev-{n}")
        clock.advance(60)
    clock.advance(3600)
    assert talk.forget_events(older_than=timedelta(minutes=30), limit=2) == 2
    assert talk.claim_event("Ev-0") and talk.claim_event("Ev-1")  # the oldest went first
    assert not talk.claim_event("Ev-2")
    assert talk.forget_events(older_than=timedelta(minutes=30), limit=10) == 3


# -- webhook deliveries -------------------------------------------------------------------------


def test_a_delivery_is_claimed_once_per_sender(store):
    """A sender's delivery id is claimed once; the same id from another sender, or as a Slack
    event id, is another thing."""
    talk = store.handled
    assert talk.claim_delivery("github", "72d3162e-cc78-11e3-81ab-4c9367dc0958") is True
    assert talk.claim_delivery("github", "72d3162e-cc78-11e3-81ab-4c9367dc0958") is False
    assert talk.claim_delivery("pagerduty", "72d3162e-cc78-11e3-81ab-4c9367dc0958") is True
    assert talk.claim_event("72d3162e-cc78-11e3-81ab-4c9367dc0958") is True


def test_racing_claims_of_one_delivery_give_one_winner(store):
    """Eight replicas handed the same redelivery at once: exactly one handles it."""
    talk = store.handled
    results = race(8, lambda _: talk.claim_delivery("pagerduty", "01JPB6YQ3T9M2K7W5X8N4R1ZHC"))
    assert sorted(results) == [False] * 7 + [True]


def test_a_released_delivery_can_be_claimed_again(store):
    """A delivery whose handling failed is released, so the sender's retry is handled."""
    talk = store.handled
    assert talk.claim_delivery("github", "d-1")
    assert talk.release_delivery("github", "d-1") is True
    assert talk.claim_delivery("github", "d-1") is True
    assert talk.release_delivery("github", "never-claimed") is False


def test_a_long_delivery_id_is_still_claimed_once(store):
    """An id longer than any sender's is stored by its digest: still claimed once, and another
    long id is not mistaken for it."""
    talk = store.handled
    long_id = "x" * 5000
    assert talk.claim_delivery("github", long_id) is True
    assert talk.claim_delivery("github", long_id) is False
    assert talk.claim_delivery("github", long_id[:-1] + "y") is True


def test_delivery_ids_outlive_the_slack_event_ids_pruned_beside_them(store):
    """The hourly prune forgets Slack event ids after a day; delivery ids pruned by the same call
    stay for ``DELIVERY_RETENTION`` (a redelivery or replay within it is caught), then go."""
    clock = Clock()
    talk = Handled(store.engine, clock=clock)
    assert talk.claim_event("Ev-1") and talk.claim_delivery("github", "d-1")
    clock.advance(timedelta(days=2).total_seconds())
    assert talk.forget_events(older_than=timedelta(days=1)) == 1
    assert talk.claim_event("Ev-1") is True
    assert talk.claim_delivery("github", "d-1") is False
    clock.advance((DELIVERY_RETENTION - timedelta(days=2)).total_seconds() + 1)
    assert talk.forget_events(older_than=timedelta(days=1)) == 2  # Ev-1 (again) and d-1
    assert talk.claim_delivery("github", "d-1") is True
