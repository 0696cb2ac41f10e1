"""The audit log's hash chain: append without forking, and verify that nothing was altered.

Every decision Backout takes or is told (a plan drafted, a step claimed, an approval) becomes one
entry of an append-only log. Each entry's hash covers the previous entry's hash, so editing,
deleting or reordering any stored entry breaks the chain from that point on, and
:func:`verify_chain` names the first broken ``seq``. Several replicas append to one chain: an
append runs inside the caller's transaction, takes the ``audit_head`` row with a no-op ``UPDATE``
(a row lock on PostgreSQL, the write lock on SQLite; never ``SELECT … FOR UPDATE``), inserts the
entry with ``seq = head.seq + 1`` and then compare-and-sets the head
(``… WHERE id = 1 AND seq = :old``). If the head moved anyway, :class:`ChainMovedError` tells the
repository to roll the whole transaction back and retry it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa

from bot.store.base import ChainMovedError, Repository
from bot.store.tables import AuditHeadRecord, AuditLogRecord
from prompts import redact_secrets

__all__ = [
    "GENESIS_HASH",
    "AuditCheck",
    "AuditEntry",
    "AuditLog",
    "ChainMovedError",
    "append_entry",
    "canonical_details",
    "entry_from_row",
    "entry_hash",
    "format_at",
    "verify_chain",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry."""

_LOG: sa.Table = AuditLogRecord.__table__  # type: ignore[attr-defined]  # sqlmodel sets it at class creation
_HEAD: sa.Table = AuditHeadRecord.__table__  # type: ignore[attr-defined]  # same


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit log, as stored."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditCheck:
    """The result of :func:`verify_chain`.

    ``entries`` counts the entries that verified (all of them when ``ok``), ``first_broken`` is the
    first ``seq`` that does not verify (``None`` when ``ok``), and ``reason`` says why in words.
    """

    ok: bool
    entries: int
    first_broken: int | None
    reason: str


def format_at(at: datetime) -> str:
    """``at`` in UTC as ``2026-11-27T10:14:00.000000Z`` (always with microseconds)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: audit times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return format_at(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Set):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable in audit details")


def canonical_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """``details`` as plain JSON data, exactly as it reads back from a JSON column.

    Tuples become lists, datetimes ISO strings with ``Z``, enums their values and sets sorted lists;
    secrets in strings are redacted (:func:`prompts.redact_secrets`, idempotent, so a stored entry
    reads back and hashes the same). Anything else that JSON cannot carry raises
    :class:`TypeError`.
    """
    if details is None:
        return {}
    text = json.dumps(dict(details), default=_jsonable, ensure_ascii=False, allow_nan=False)
    data: dict[str, Any] = _redacted(json.loads(text))
    return data


def _redacted(value: Any) -> Any:
    """``value`` (plain JSON data) with every string's secrets redacted: an executor's error or
    preview, a URL with ``?token=`` in it, never reaches the log in clear."""
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    return value


def entry_hash(
    *,
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any],
) -> str:
    """``sha256(prev_hash + canonical JSON of the entry)`` as 64 hex digits.

    The canonical JSON has sorted keys and no spaces, and ``at`` is written by :func:`format_at`.
    """
    body = {
        "seq": seq,
        "at": format_at(at),
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + text).encode("utf-8")).hexdigest()


def append_entry(
    conn: sa.Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any] | None,
) -> AuditEntry:
    """Append one entry inside the caller's open transaction and return it.

    Raises:
        ChainMovedError: the head moved under us; the caller must roll back and retry.
    """
    # Take the head row first: this no-op UPDATE waits for any other appender to commit and
    # then holds the row (or, on SQLite, the database) until our transaction ends.
    conn.execute(sa.update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq))
    head = conn.execute(sa.select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)).one()
    old_seq, prev_hash = int(head.seq), str(head.hash)
    seq = old_seq + 1
    data = canonical_details(details)
    digest = entry_hash(
        prev_hash=prev_hash,
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        details=data,
    )
    try:
        conn.execute(
            sa.insert(_LOG).values(
                seq=seq,
                at=at,
                actor=actor,
                action=action,
                subject=subject,
                details=data,
                prev_hash=prev_hash,
                hash=digest,
            )
        )
    except sa.exc.IntegrityError as exc:
        raise ChainMovedError(old_seq) from exc
    moved = conn.execute(
        sa.update(_HEAD).where(_HEAD.c.id == 1, _HEAD.c.seq == old_seq).values(seq=seq, hash=digest)
    )
    if moved.rowcount != 1:
        raise ChainMovedError(old_seq)
    return AuditEntry(
        seq=seq,
        at=at.astimezone(UTC),
        actor=actor,
        action=action,
        subject=subject,
        details=data,
        prev_hash=prev_hash,
        hash=digest,
    )


def entry_from_row(row: sa.Row[Any]) -> AuditEntry:
    """An :class:`AuditEntry` from a row of ``audit_log``."""
    return AuditEntry(
        seq=int(row.seq),
        at=row.at,
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        details=row.details,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def verify_chain(conn: sa.Connection) -> AuditCheck:
    """Recompute every hash in ``seq`` order and report the first entry that does not verify.

    An entry is broken when its ``seq`` is not the next number (a deleted or moved row), when its
    ``prev_hash`` is not the previous entry's hash, or when its own hash does not match its
    content. The head row must name the last entry, so deleting the newest entries is caught too.
    """
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    rows = conn.execute(sa.select(_LOG).order_by(_LOG.c.seq)).yield_per(500)
    for row in rows:
        entry = entry_from_row(row)
        if entry.seq != expected_seq:
            return _broken(
                count,
                expected_seq,
                f"entry {expected_seq} is missing: the next stored entry is {entry.seq}",
            )
        if entry.prev_hash != prev_hash:
            return _broken(
                count, entry.seq, f"entry {entry.seq} does not link to the previous entry's hash"
            )
        recomputed = entry_hash(
            prev_hash=entry.prev_hash,
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            subject=entry.subject,
            details=entry.details,
        )
        if recomputed != entry.hash:
            return _broken(
                count, entry.seq, f"entry {entry.seq} was altered: its hash does not match"
            )
        count += 1
        expected_seq, prev_hash = entry.seq + 1, entry.hash
    head = conn.execute(sa.select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)).one_or_none()
    if head is None:
        return _broken(count, expected_seq, "the audit head row is missing")
    if int(head.seq) != count:
        first = count + 1 if int(head.seq) > count else int(head.seq) + 1
        return _broken(
            count, first, f"the head names entry {head.seq} but the chain ends at entry {count}"
        )
    if head.hash != prev_hash:
        return _broken(count, count, f"the head's hash does not match entry {count}")
    return AuditCheck(ok=True, entries=count, first_broken=None, reason="")


def _broken(entries: int, seq: int, reason: str) -> AuditCheck:
    return AuditCheck(ok=False, entries=entries, first_broken=seq, reason=reason)


class AuditLog(Repository):
    """The audit log as a repository: append, read, verify."""

    def append(
        self,
        *,
        actor: str,
        action: str,
        subject: str,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append an entry to the audit log and return it as stored.

        Raises:
            TypeError: ``details`` holds something JSON cannot carry.
        """
        canonical_details(details)  # fail before the transaction, not inside the retry loop

        def work(conn: sa.Connection) -> AuditEntry:
            return append_entry(
                conn, at=self._now(), actor=actor, action=action, subject=subject, details=details
            )

        return self._write(work)

    def entries(
        self, *, subject_prefix: str | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        """Audit entries, oldest first.

        Args:
            subject_prefix: only entries whose subject starts with this (``"pl-1234abcd"``
                matches the plan and all its steps).
            limit: only the newest ``limit`` matching entries (still oldest first).
        """
        query = sa.select(_LOG)
        if subject_prefix is not None:
            query = query.where(_LOG.c.subject.startswith(subject_prefix, autoescape=True))
        with self._reading() as conn:
            if limit is None:
                rows: Sequence[sa.Row[Any]] = conn.execute(query.order_by(_LOG.c.seq)).all()
            else:
                newest = conn.execute(query.order_by(_LOG.c.seq.desc()).limit(limit)).all()
                rows = newest[::-1]
        return [entry_from_row(row) for row in rows]

    def head(self) -> tuple[int, str]:
        """The chain's head: the newest entry's ``seq`` and hash (``0`` and the genesis hash for
        an empty log). Published outside the database (the bot logs it), it lets ``backout audit
        verify --head`` catch a chain rewritten by someone who can write the database."""
        with self._reading() as conn:
            head = conn.execute(sa.select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)).one()
        return int(head.seq), str(head.hash)

    def verify(self, *, published: Sequence[tuple[int, str]] = ()) -> AuditCheck:
        """Recompute the whole hash chain and report the first entry that does not verify.

        Args:
            published: heads published earlier (``seq``, hash): each must still be in the chain,
                unchanged. The chain alone resists accidents; a head kept outside the database
                also resists a rewrite of the chain by someone who can write the database.
        """
        with self._reading() as conn:
            if conn.dialect.name == "postgresql":
                # One snapshot for the entries and the head, while other replicas keep appending.
                conn.execution_options(isolation_level="REPEATABLE READ")
            check = verify_chain(conn)
            if not check.ok:
                return check
            for seq, digest in sorted(published):
                stored = conn.execute(sa.select(_LOG.c.hash).where(_LOG.c.seq == seq)).scalar()
                if stored != digest:
                    found = "is missing" if stored is None else "differs from its published head"
                    return _broken(
                        check.entries, seq, f"entry {seq} {found}: the chain was rewritten"
                    )
            return check
