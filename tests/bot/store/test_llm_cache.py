"""The model cache's rows (issue 9 item 7): served until they expire, replaced by a new put,
pruned a bounded number at a time; on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.runtime.scheduler import prune
from bot.store import LLMCache, Store
from tests.support.store import Clock


def cache(store: Store, clock: Clock) -> LLMCache:
    return LLMCache(store.engine, clock=clock)


def put(repo: LLMCache, key: str, seconds: float, *, outcome: str = "ok") -> None:
    value = '{"kind": "none"}' if outcome == "ok" else None
    repo.put(
        key,
        prompt="parse_message.v1",
        model="gpt-test",
        outcome=outcome,
        value=value,
        ttl=timedelta(seconds=seconds),
        detail="x" * 2000,
    )


def test_an_entry_is_served_until_it_expires(store):
    clock = Clock()
    repo = cache(store, clock)
    assert repo.get("k") is None
    put(repo, "k", 10)
    entry = repo.get("k")
    assert entry is not None
    assert (entry.prompt, entry.model, entry.outcome, entry.value) == (
        "parse_message.v1",
        "gpt-test",
        "ok",
        '{"kind": "none"}',
    )
    assert entry.expires_at == clock.now + timedelta(seconds=10)
    assert len(entry.detail) == 500  # capped
    clock.advance(10)
    assert repo.get("k") is None


def test_a_put_replaces_the_entry_live_or_expired(store):
    clock = Clock()
    repo = cache(store, clock)
    put(repo, "k", 60, outcome="timeout")
    put(repo, "k", 3600)
    entry = repo.get("k")
    assert entry is not None
    assert entry.outcome == "ok"
    clock.advance(3600)
    put(repo, "k", 5, outcome="unavailable")
    again = repo.get("k")
    assert again is not None
    assert again.outcome == "unavailable"
    assert repo.forget("k")
    assert not repo.forget("k")


def test_a_put_needs_a_positive_ttl(store):
    with pytest.raises(ValueError, match="ttl"):
        put(cache(store, Clock()), "k", 0)


def test_prune_deletes_expired_entries_a_bounded_number_at_a_time(store):
    """Only expired rows go, the longest expired first, at most ``limit`` per call."""
    clock = Clock()
    repo = cache(store, clock)
    for n in range(5):
        put(repo, f"old{n}", 10 + n)
    put(repo, "live", 3600)
    clock.advance(60)
    assert repo.prune(limit=2) == 2
    assert repo.prune(limit=2) == 2
    assert repo.prune(limit=2) == 1
    assert repo.prune(limit=2) == 0
    assert repo.get("live") is not None


def test_the_hourly_prune_includes_the_cache(store):
    clock = Clock()
    clocked = Store(store.engine, clock=clock)
    put(clocked.llm_cache, "old", 1)
    clock.advance(2)
    assert prune(clocked)["llm_cache"] == 1
