"""The threads' memory: questions and answers by thread, newest few read oldest first, capped
per thread; on both backends."""

from __future__ import annotations

from bot.store import Store, ThreadTurn
from bot.store.threads import KEEP
from tests.support.store import START


def turn(n: int, *, plan_id: str = "pl-1") -> ThreadTurn:
    return ThreadTurn(
        plan_id=plan_id,
        asked_by="U1",
        question=f"question {n}",
        answer=f"answer {n}",
        source="graph",
        outcome="no_model",
        model=None,
        at=START,
    )


def test_the_newest_turns_come_back_oldest_first_per_thread(store: Store) -> None:
    for n in range(6):
        store.threads.record("C1", "100.1", turn(n))
    store.threads.record("C1", "200.2", turn(99))
    store.threads.record("C2", "100.1", turn(98))
    recent = store.threads.recent("C1", "100.1", limit=3)
    assert [t.question for t in recent] == ["question 3", "question 4", "question 5"]
    assert [t.answer for t in store.threads.recent("C1", "200.2")] == ["answer 99"]
    assert store.threads.recent("C9", "1.1") == []


def test_a_thread_keeps_only_its_newest_turns(store: Store) -> None:
    for n in range(KEEP + 5):
        store.threads.record("C1", "100.1", turn(n))
    store.threads.record("C1", "300.3", turn(0))
    kept = store.threads.recent("C1", "100.1", limit=1000)
    assert len(kept) == KEEP
    assert kept[0].question == "question 5" and kept[-1].question == f"question {KEEP + 4}"
    assert len(store.threads.recent("C1", "300.3", limit=1000)) == 1
