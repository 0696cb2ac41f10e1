"""Conversations: plan messages found again, outbox calls never lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from bot.lifecycle import Mode, PlanKind
from bot.store import (
    Conversations,
    OutboxStatus,
    PlanNotFoundError,
    Store,
    create_engine,
    current_revision,
    upgrade,
)
from bot.store.db import alembic_config
from tests.support.store import START, TABLES_0001, TABLES_0002, Clock, make_plan, race


def clocked(store: Store, clock: Clock) -> Conversations:
    """Conversations on the store's database, reading the time from ``clock``."""
    return Conversations(store.engine, clock=clock)


# -- plan messages ------------------------------------------------------------------------------


def test_a_plan_message_reads_back_and_is_found_by_channel_and_ts(store):
    """The message set for a plan comes back whole, and ``(channel, ts)`` leads to the plan."""
    clock = Clock()
    talk = clocked(store, clock)
    plan_id = store.plans.save(make_plan())
    talk.set_plan_message(plan_id, channel="C1", ts="1700.01", thread_ts="1700.00", requester="U1")
    message = talk.plan_message(plan_id)
    assert message is not None
    assert (message.plan_id, message.channel, message.ts) == (plan_id, "C1", "1700.01")
    assert (message.thread_ts, message.requester, message.created_at) == ("1700.00", "U1", START)
    assert talk.plan_at("C1", "1700.01") == plan_id
    assert talk.plan_at("C1", "1700.02") is None
    assert talk.plan_at("C2", "1700.01") is None


def test_setting_a_plan_message_again_replaces_it(store):
    """A second set moves the plan to the new message; the old one leads nowhere."""
    clock = Clock()
    talk = clocked(store, clock)
    plan_id = store.plans.save(make_plan())
    talk.set_plan_message(plan_id, channel="C1", ts="1.1", requester="U1")
    clock.advance(60)
    talk.set_plan_message(plan_id, channel="C1", ts="2.2")
    message = talk.plan_message(plan_id)
    assert message is not None
    assert (message.ts, message.thread_ts, message.requester) == ("2.2", None, None)
    assert message.created_at == START
    assert talk.plan_at("C1", "1.1") is None
    assert talk.plan_at("C1", "2.2") == plan_id


def test_a_plan_without_a_message_has_none(store):
    """A stored plan whose message was never set, and an unknown plan, both give ``None``."""
    talk = store.conversations
    plan_id = store.plans.save(make_plan())
    assert talk.plan_message(plan_id) is None
    assert talk.plan_message("pl-unknown") is None


def test_a_message_for_an_unknown_plan_is_refused(store):
    """Setting the message of a plan that is not stored raises and stores nothing."""
    talk = store.conversations
    with pytest.raises(PlanNotFoundError):
        talk.set_plan_message("pl-00000000", channel="C1", ts="1.1")
    assert talk.plan_at("C1", "1.1") is None


def test_one_message_shows_one_plan(store):
    """A message already showing a plan cannot be given to another; the first plan keeps it."""
    talk = store.conversations
    first = store.plans.save(make_plan(incident="inc-1"))
    second = store.plans.save(make_plan(incident="inc-2"))
    talk.set_plan_message(first, channel="C1", ts="1.1")
    with pytest.raises(ValueError, match="already shows plan"):
        talk.set_plan_message(second, channel="C1", ts="1.1")
    assert talk.plan_at("C1", "1.1") == first
    assert talk.plan_message(second) is None


def test_racing_sets_of_one_plan_message_keep_one_row(store):
    """Eight threads setting the message of one plan at once all succeed; one message remains."""
    talk = store.conversations
    plan_id = store.plans.save(make_plan())
    race(8, lambda i: talk.set_plan_message(plan_id, channel="C1", ts=f"{i}.0"))
    message = talk.plan_message(plan_id)
    assert message is not None
    assert talk.plan_at("C1", message.ts) == plan_id
    found = [ts for ts in (f"{i}.0" for i in range(8)) if talk.plan_at("C1", ts) is not None]
    assert found == [message.ts]


# -- outbox -------------------------------------------------------------------------------------


def test_enqueue_stores_a_queued_call_due_now(store):
    """A new call is queued, due at once, with no attempts, its args as JSON."""
    talk = clocked(store, Clock())
    item_id = talk.enqueue("chat.postMessage", {"channel": "C1", "blocks": ({"a": 1},)}, key="k1")
    item = talk.outbox_item(item_id)
    assert item is not None
    assert (item.id, item.key, item.method) == (item_id, "k1", "chat.postMessage")
    assert item.args == {"channel": "C1", "blocks": [{"a": 1}]}
    assert (item.status, item.attempts, item.next_at, item.created_at) == (
        OutboxStatus.QUEUED,
        0,
        START,
        START,
    )
    assert (item.claimed_by, item.lease_until, item.last_error, item.result, item.sent_at) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert talk.pending_count() == 1


def test_enqueue_is_idempotent_on_its_key(store):
    """The same key returns the first id and stores nothing new, even with other args."""
    talk = store.conversations
    first = talk.enqueue("chat.postMessage", {"text": "one"}, key="plan-1/post")
    again = talk.enqueue("chat.postMessage", {"text": "two"}, key="plan-1/post")
    other = talk.enqueue("chat.postMessage", {"text": "one"}, key="plan-2/post")
    assert again == first
    assert other != first
    assert talk.pending_count() == 2
    item = talk.outbox_item(first)
    assert item is not None
    assert item.args == {"text": "one"}


def test_racing_enqueues_of_one_key_store_it_once(store):
    """Eight threads enqueueing one key at once all get the same id; one call is queued."""
    talk = store.conversations
    ids = race(8, lambda _: talk.enqueue("chat.update", {"ts": "1.1"}, key="once"))
    assert len(set(ids)) == 1
    assert talk.pending_count() == 1


def test_args_json_cannot_carry_are_refused(store):
    """An argument JSON cannot carry raises before anything is stored."""
    talk = store.conversations
    with pytest.raises(TypeError):
        talk.enqueue("chat.postMessage", {"x": object()}, key="bad")
    assert talk.pending_count() == 0


def test_claiming_takes_due_calls_oldest_first_under_a_lease(store):
    """A claim takes the due calls oldest first up to the limit, each sending under a lease."""
    clock = Clock()
    talk = clocked(store, clock)
    ids = []
    for n in range(3):
        ids.append(talk.enqueue("chat.postMessage", {"n": n}, key=f"k{n}"))
        clock.advance(1)
    claimed = talk.claim_due(worker="w1", limit=2, lease_seconds=30)
    assert [item.id for item in claimed] == ids[:2]
    assert {item.status for item in claimed} == {OutboxStatus.SENDING}
    assert {item.claimed_by for item in claimed} == {"w1"}
    assert {item.lease_until for item in claimed} == {clock.now + timedelta(seconds=30)}
    assert [item.id for item in talk.claim_due(worker="w2")] == ids[2:]
    assert talk.claim_due(worker="w3") == []
    assert talk.pending_count() == 3


def test_two_workers_racing_claim_each_call_once(store):
    """Two workers claiming in a loop at the same time share 30 calls, none twice or lost."""
    talk = store.conversations
    ids = {talk.enqueue("chat.postMessage", {"n": n}, key=f"k{n}") for n in range(30)}

    def drain(index: int) -> list[int]:
        mine: list[int] = []
        while batch := talk.claim_due(worker=f"w{index}", limit=4):
            mine.extend(item.id for item in batch)
        return mine

    first, second = race(2, drain)
    assert sorted(first + second) == sorted(ids)
    assert not set(first) & set(second)
    owners = {item_id: talk.outbox_item(item_id) for item_id in ids}
    assert all(item is not None and item.status is OutboxStatus.SENDING for item in owners.values())


def test_a_sent_call_is_done(store):
    """Marking a call sent stores Slack's result; it leaves the queue and cannot be retried."""
    clock = Clock()
    talk = clocked(store, clock)
    item_id = talk.enqueue("chat.postMessage", {"text": "hi"}, key="k")
    talk.claim_due(worker="w1")
    clock.advance(2)
    assert talk.mark_sent(item_id, result={"ok": True, "ts": "1.1"}) is True
    assert talk.mark_sent(item_id, result={"ok": True, "ts": "2.2"}) is False
    assert talk.mark_retry(item_id, error="late", delay=5) is False
    item = talk.outbox_item(item_id)
    assert item is not None
    assert (item.status, item.attempts, item.result, item.sent_at, item.lease_until) == (
        OutboxStatus.SENT,
        1,
        {"ok": True, "ts": "1.1"},
        clock.now,
        None,
    )
    assert talk.pending_count() == 0
    assert talk.claim_due(worker="w2") == []


def test_a_retried_call_waits_for_its_delay(store):
    """A retried call is queued again with one more attempt and its error, due after the delay."""
    clock = Clock()
    talk = clocked(store, clock)
    item_id = talk.enqueue("chat.postMessage", {"text": "hi"}, key="k")
    talk.claim_due(worker="w1")
    assert talk.mark_retry(item_id, error="ratelimited", delay=30) is True
    item = talk.outbox_item(item_id)
    assert item is not None
    assert (item.status, item.attempts, item.last_error, item.claimed_by) == (
        OutboxStatus.QUEUED,
        1,
        "ratelimited",
        None,
    )
    assert item.next_at == START + timedelta(seconds=30)
    clock.advance(29)
    assert talk.claim_due(worker="w2") == []
    clock.advance(1)
    [again] = talk.claim_due(worker="w2")
    assert (again.id, again.claimed_by, again.attempts) == (item_id, "w2", 1)


def test_only_a_call_being_sent_is_retried(store):
    """Retrying or failing a call still queued (not claimed) changes nothing."""
    talk = store.conversations
    item_id = talk.enqueue("chat.postMessage", {"text": "hi"}, key="k")
    assert talk.mark_retry(item_id, error="e", delay=1) is False
    assert talk.mark_failed(item_id, error="e") is False
    assert talk.mark_retry(999_999, error="e", delay=1) is False
    item = talk.outbox_item(item_id)
    assert item is not None
    assert (item.status, item.attempts, item.last_error) == (OutboxStatus.QUEUED, 0, None)


def test_a_call_whose_lease_runs_out_is_claimed_again(store):
    """A worker that dies leaves its call sending; once the lease runs out another takes it."""
    clock = Clock()
    talk = clocked(store, clock)
    item_id = talk.enqueue("chat.postMessage", {"text": "hi"}, key="k")
    [claimed] = talk.claim_due(worker="w1", lease_seconds=30)
    clock.advance(30)
    assert talk.claim_due(worker="w2") == []  # the lease ends at this instant, not before
    clock.advance(1)
    [reclaimed] = talk.claim_due(worker="w2", lease_seconds=10)
    assert (reclaimed.id, reclaimed.claimed_by) == (item_id, "w2")
    assert reclaimed.lease_until == clock.now + timedelta(seconds=10)
    assert claimed.lease_until == START + timedelta(seconds=30)
    assert talk.claim_due(worker="w3") == []


def test_a_failed_call_is_given_up(store):
    """A failed call keeps its error, leaves the queue and is never claimed again."""
    clock = Clock()
    talk = clocked(store, clock)
    item_id = talk.enqueue("chat.postMessage", {"text": "hi"}, key="k")
    talk.claim_due(worker="w1")
    assert talk.mark_failed(item_id, error="channel_not_found") is True
    item = talk.outbox_item(item_id)
    assert item is not None
    assert (item.status, item.attempts, item.last_error, item.sent_at) == (
        OutboxStatus.FAILED,
        1,
        "channel_not_found",
        None,
    )
    clock.advance(3600)
    assert talk.claim_due(worker="w2") == []
    assert talk.pending_count() == 0
    assert talk.enqueue("chat.postMessage", {"text": "hi"}, key="k") == item_id


def test_an_unknown_outbox_item_is_none(store):
    """Looking up an id that was never enqueued gives ``None``."""
    assert store.conversations.outbox_item(424242) is None


def test_conversations_of_a_store_share_its_clock(store):
    """``of`` reads the time from the store's clock."""
    clock = Clock(START + timedelta(days=3))
    talk = Store(store.engine, clock=clock).conversations
    item = talk.outbox_item(talk.enqueue("m", {}, key="k"))
    assert item is not None
    assert item.created_at == clock.now


# -- migration ----------------------------------------------------------------------------------


def _downgrade(engine: sa.Engine, revision: str) -> None:
    config = alembic_config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_migration_0002_upgrades_and_downgrades(database_url):
    """0002 adds the Slack tables; downgrading drops them and keeps 0001's data; it re-applies."""
    engine = create_engine(database_url)
    try:
        upgrade(engine, revision="0001")
        assert set(sa.inspect(engine).get_table_names()) == TABLES_0001
        upgrade(engine, revision="0002")
        assert current_revision(engine) == "0002"
        assert set(sa.inspect(engine).get_table_names()) == TABLES_0001 | TABLES_0002
        with engine.begin() as conn:
            insert_plan(conn, "pl-00000001", mode="approve")
            conn.execute(
                sa.text(
                    "INSERT INTO plan_messages (plan_id, channel, ts, created_at) "
                    "VALUES ('pl-00000001', 'C1', '1.1', :at)"
                ),
                {"at": datetime(2026, 11, 27, tzinfo=UTC)},
            )

        _downgrade(engine, "0001")
        assert current_revision(engine) == "0001"
        assert set(sa.inspect(engine).get_table_names()) == TABLES_0001
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT id FROM plans")).scalars().all() == ["pl-00000001"]

        upgrade(engine, revision="0002")
        assert current_revision(engine) == "0002"
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM plan_messages")).scalar() == 0
    finally:
        engine.dispose()


def test_migration_0003_makes_standby_a_kind_and_indexes_services(database_url):
    """0003 turns mode ``standby`` into kind ``standby`` and lists each plan's services; the
    plans are then readable, found by service, and a downgrade gives the old mode back."""
    engine = create_engine(database_url)
    try:
        upgrade(engine, revision="0002")
        with engine.begin() as conn:
            insert_plan(conn, "pl-00000001", mode="standby")
            insert_plan(conn, "pl-00000002", mode="suggest")
        upgrade(engine)
        store = Store(engine)
        standby, live = store.plans.get("pl-00000001"), store.plans.get("pl-00000002")
        assert (standby.kind, standby.mode) == (PlanKind.STANDBY, Mode.APPROVE)
        assert (live.kind, live.mode) == (PlanKind.LIVE, Mode.SUGGEST)
        assert {p.id for p in store.plans.touching("service-1")} == {"pl-00000001", "pl-00000002"}
        assert (latest := store.plans.latest_live()) is not None
        assert latest.id == "pl-00000002"

        _downgrade(engine, "0002")
        with engine.connect() as conn:
            modes = {
                row.id: row.mode for row in conn.execute(sa.text("SELECT id, mode FROM plans"))
            }
        assert modes == {"pl-00000001": "standby", "pl-00000002": "suggest"}
        assert "plan_services" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_migration_0004_adds_retirements_and_summary_messages(database_url):
    """0004 keeps every stored change live and every plan message without a summary; the new
    columns then work; a downgrade drops them and keeps the rows; it re-applies."""
    engine = create_engine(database_url)
    try:
        upgrade(engine, revision="0003")
        at = datetime(2026, 11, 27, tzinfo=UTC)
        with engine.begin() as conn:
            insert_plan(conn, "pl-00000001", mode="approve")
            conn.execute(
                sa.text(
                    "INSERT INTO plan_messages (plan_id, channel, ts, created_at) "
                    "VALUES ('pl-00000001', 'C1', '1.1', :at)"
                ),
                {"at": at},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO changes (id, service, kind, at, revertible, summary) "
                    "VALUES ('c-1', 'cartservice', 'deploy', :at, true, '')"
                ),
                {"at": at},
            )
        upgrade(engine)
        revision = current_revision(engine)
        assert revision is not None and revision >= "0004"  # 0004 and any later ones applied
        store = Store(engine)
        assert store.incidents.retirements(["c-1"]) == {}
        message = store.conversations.plan_message("pl-00000001")
        assert message is not None
        assert message.summary_ts is None
        assert store.incidents.retire_change("c-1", why="rolled back")
        assert store.conversations.set_summary_message("pl-00000001", ts="2.2")
        message = store.conversations.plan_message("pl-00000001")
        assert message is not None
        assert message.summary_ts == "2.2"

        _downgrade(engine, "0003")
        columns = {c["name"] for c in sa.inspect(engine).get_columns("changes")}
        assert "retired_at" not in columns
        assert "summary_ts" not in {
            c["name"] for c in sa.inspect(engine).get_columns("plan_messages")
        }
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT id FROM changes")).scalars().all() == ["c-1"]
        upgrade(engine)
        assert Store(engine).incidents.retirements(["c-1"]) == {}
    finally:
        engine.dispose()


def insert_plan(conn: sa.Connection, plan_id: str, *, mode: str) -> None:
    """A plan row as the 0001/0002 schema stores it."""
    at = datetime(2026, 11, 27, tzinfo=UTC)
    conn.execute(
        sa.text(
            "INSERT INTO plans (id, incident_id, version, plan_json, mode, status, created_at, "
            "updated_at) VALUES (:id, 'inc-1', 1, :plan, :mode, 'proposed', :at, :at)"
        ),
        {"id": plan_id, "plan": make_plan().model_dump_json(), "mode": mode, "at": at},
    )


def test_sent_outbox_rows_are_pruned_after_a_week_failed_ones_stay(store):
    """Issue 12 item 8: sent Slack calls are deleted once old; failed ones stay to be seen."""
    clock = Clock()
    talk = clocked(store, clock)
    sent = talk.enqueue("chat.postMessage", {"text": "one"}, key="k-sent")
    failed = talk.enqueue("chat.postMessage", {"text": "two"}, key="k-failed")
    waiting = talk.enqueue("chat.postMessage", {"text": "three"}, key="k-waiting")
    assert {i.id for i in talk.claim_due(worker="w", limit=2, lease_seconds=30)} == {sent, failed}
    assert talk.mark_sent(sent, result={"ok": True})
    assert talk.mark_failed(failed, error="channel_not_found")
    clock.advance(8 * 24 * 3600)
    assert talk.prune_outbox(older_than=timedelta(days=7)) == 1
    assert talk.outbox_item(sent) is None
    assert talk.outbox_item(failed) is not None and talk.outbox_item(waiting) is not None
