"""The audit log: a linear hash chain that several writers extend and any tampering breaks."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from bot.store import GENESIS_HASH, Store
from tests.support.store import race

AT = datetime(2026, 11, 27, 10, 14, 0, 250000, tzinfo=UTC)


def fill(store: Store, count: int = 5) -> None:
    for n in range(1, count + 1):
        store.audit.append(
            actor="U1", action="test.entry", subject=f"subject-{n}", details={"n": n}
        )


def tamper(store: Store, *statements: str, **params: object) -> None:
    with store.engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement), params)


def hash_of(store: Store, seq: int) -> str:
    with store.engine.connect() as conn:
        query = sa.text("SELECT hash FROM audit_log WHERE seq = :s")
        return str(conn.execute(query, {"s": seq}).scalar_one())


def test_an_entry_is_hashed_over_the_previous_hash_and_its_canonical_json(store):
    """The stored hash is sha256(prev_hash + sorted, compact JSON of the entry)."""
    clocked = Store(store.engine, clock=lambda: AT)
    first = clocked.audit.append(
        actor="U1", action="plan.note", subject="pl-1", details={"b": 2, "a": "é"}
    )
    second = clocked.audit.append(actor="U2", action="plan.note", subject="pl-1")
    body = {
        "seq": 1,
        "at": "2026-11-27T10:14:00.250000Z",
        "actor": "U1",
        "action": "plan.note",
        "subject": "pl-1",
        "details": {"a": "é", "b": 2},
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first.prev_hash == GENESIS_HASH
    assert first.hash == hashlib.sha256((GENESIS_HASH + text).encode()).hexdigest()
    assert (second.seq, second.prev_hash, second.details) == (2, first.hash, {})
    assert store.audit.entries() == [first, second]


def test_details_are_stored_as_plain_json(store):
    """Tuples, datetimes and sets in details are stored as lists and ISO strings."""
    entry = store.audit.append(
        actor="U1", action="x", subject="s", details={"t": (1, 2), "at": AT, "users": {"b", "a"}}
    )
    assert entry.details == {"t": [1, 2], "at": "2026-11-27T10:14:00.250000Z", "users": ["a", "b"]}
    assert store.audit.entries()[0].details == entry.details
    with pytest.raises(TypeError, match="object is not JSON serialisable"):
        store.audit.append(actor="U1", action="x", subject="s", details={"bad": object()})
    assert len(store.audit.entries()) == 1


def test_an_intact_chain_verifies(store):
    """Verifying an untouched chain reports every entry and no break."""
    fill(store, 5)
    check = store.audit.verify()
    assert (check.ok, check.entries, check.first_broken, check.reason) == (True, 5, None, "")


def test_an_empty_chain_verifies(store):
    """A new database's empty chain is intact."""
    assert store.audit.verify().ok


def test_edited_details_break_the_chain_at_that_entry(store):
    """Changing one entry's details is reported at that entry's seq."""
    fill(store, 5)
    tamper(store, """UPDATE audit_log SET details = '{"n": 99}' WHERE seq = 3""")
    check = store.audit.verify()
    assert (check.ok, check.first_broken, check.entries) == (False, 3, 2)
    assert "altered" in check.reason


def test_a_deleted_entry_is_reported_as_a_gap(store):
    """Deleting an entry from the middle is reported at the missing seq."""
    fill(store, 5)
    tamper(store, "DELETE FROM audit_log WHERE seq = 3")
    check = store.audit.verify()
    assert (check.ok, check.first_broken) == (False, 3)
    assert "missing" in check.reason


def test_deleting_the_newest_entry_is_caught_by_the_head(store):
    """Deleting the last entry leaves the head pointing past the chain's end."""
    fill(store, 5)
    tamper(store, "DELETE FROM audit_log WHERE seq = 5")
    check = store.audit.verify()
    assert (check.ok, check.first_broken, check.entries) == (False, 5, 4)


def test_swapped_hashes_break_the_chain_at_the_first_of_them(store):
    """Swapping the hashes of entries 2 and 3 is reported at entry 2."""
    fill(store, 5)
    two, three = hash_of(store, 2), hash_of(store, 3)
    tamper(
        store,
        "UPDATE audit_log SET hash = :three WHERE seq = 2",
        "UPDATE audit_log SET hash = :two WHERE seq = 3",
        two=two,
        three=three,
    )
    check = store.audit.verify()
    assert (check.ok, check.first_broken) == (False, 2)


def test_reordered_entries_break_the_chain(store):
    """Swapping the seq numbers of entries 2 and 3 is reported at entry 2."""
    fill(store, 5)
    tamper(
        store,
        "UPDATE audit_log SET seq = -1 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = -1",
    )
    check = store.audit.verify()
    assert (check.ok, check.first_broken) == (False, 2)


def test_concurrent_appends_form_one_linear_chain(store):
    """Eight threads appending 15 entries each produce seqs 1..120 with no fork and no gap."""
    per_thread = 15

    def append(worker):
        return [
            store.audit.append(
                actor=f"w{worker}", action="test.append", subject="race", details={"n": n}
            )
            for n in range(per_thread)
        ]

    entries = [entry for appended in race(8, append) for entry in appended]
    assert sorted(entry.seq for entry in entries) == list(range(1, 8 * per_thread + 1))
    stored = store.audit.entries()
    assert [entry.seq for entry in stored] == list(range(1, 121))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(stored))
    assert store.audit.verify().entries == 120


def test_audit_entries_filter_by_subject_prefix_and_keep_the_newest(store):
    """A prefix matches literally (``_`` is no wildcard); ``limit`` keeps the newest entries."""
    for subject in ("pl_1", "pl_1/s1", "plx1", "pl_1/s2", "pl_2"):
        store.audit.append(actor="U1", action="x", subject=subject)
    assert [e.subject for e in store.audit.entries(subject_prefix="pl_1")] == [
        "pl_1",
        "pl_1/s1",
        "pl_1/s2",
    ]
    assert [e.subject for e in store.audit.entries(limit=2)] == ["pl_1/s2", "pl_2"]
    assert [e.seq for e in store.audit.entries(subject_prefix="pl_1", limit=1)] == [4]


def rewrite_approver(store: Store, seq: int, actor: str) -> None:
    """What someone who can write the database does: change an entry and recompute the chain
    from there (the chain is unkeyed, so this alone passes ``verify``)."""
    from bot.store.audit import entry_hash

    entries = store.audit.entries()
    prev = entries[seq - 2].hash if seq > 1 else GENESIS_HASH
    with store.engine.begin() as conn:
        for entry in entries[seq - 1 :]:
            new_actor = actor if entry.seq == seq else entry.actor
            digest = entry_hash(
                prev_hash=prev,
                seq=entry.seq,
                at=entry.at,
                actor=new_actor,
                action=entry.action,
                subject=entry.subject,
                details=entry.details,
            )
            conn.execute(
                sa.text(
                    "UPDATE audit_log SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s"
                ),
                {"a": new_actor, "p": prev, "h": digest, "s": entry.seq},
            )
            prev = digest
        conn.execute(sa.text("UPDATE audit_head SET hash = :h WHERE id = 1"), {"h": prev})


def test_a_rewritten_chain_is_caught_by_a_head_published_outside_the_database(store):
    """Issue 12 item 6: the bare chain cannot tell a careful rewrite; a head published earlier
    (the bot logs it) can."""
    fill(store, 5)
    published = store.audit.head()
    assert published == (5, hash_of(store, 5))
    fill(store, 2)
    assert store.audit.verify(published=[published]).ok  # later entries do not matter

    rewrite_approver(store, 3, actor="U_SOMEONE_ELSE")
    assert store.audit.verify().ok  # the chain alone is fooled ...
    check = store.audit.verify(published=[published])
    assert not check.ok and check.first_broken == 5  # ... the published head is not
    assert "differs from its published head" in check.reason
