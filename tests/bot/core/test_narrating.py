"""The summary's narrative without Slack (:mod:`bot.core.usecases.narrating`): on the store, with a
recording notifier and a scripted model. What the guard decided is stored with the facts'
digest and the summary shown again; unchanged facts are not asked about again, changed ones
are; a failing model stores nothing; an answer to facts that moved on meanwhile is not kept."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.core.runner import ThreadRunner
from bot.core.usecases.narrating import Narrating, facts_of
from bot.store import Store
from planners.model import Alert
from planners.narrative import facts_digest
from tests.support.store import AT, make_plan

CAREFUL = {"text": "The frontend alert fired and the plan was drafted.", "cited": ["F1"]}


@dataclass
class Result:
    outcome: str
    value: Any
    model: str = "tiny-model"
    detail: str = ""


@dataclass
class TinyModel:
    """Answers with ``answers`` in turn (None: a timeout), running ``meanwhile`` first."""

    answers: list[dict[str, Any] | None]
    meanwhile: Callable[[], None] = lambda: None
    asked: int = 0

    def structured(self, prompt: Any, schema: type[Any]) -> Result:
        self.meanwhile()
        answer = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        if answer is None:
            return Result("timeout", None, detail="the model timed out")
        return Result("ok", schema.model_validate(answer))


@dataclass
class RecordingNotifier:
    summaries: list[str] = field(default_factory=list)

    def post_plan(self, plan_id: str, **kw: Any) -> None:
        raise AssertionError("no plan is posted here")

    def refresh_plan(self, plan_id: str) -> None:
        raise AssertionError("no plan is refreshed here")

    def post_summary(self, plan_id: str) -> None:
        self.summaries.append(plan_id)

    def post_answer(self, **kw: Any) -> None:
        raise AssertionError("no answer is posted here")


@pytest.fixture
def plan_id(store: Store) -> str:
    """A stored plan whose incident has resolved: its summary is due."""
    saved = store.plans.save(make_plan())
    alert = Alert(fingerprint="a1", service="frontend", name="HighErrorRate", started_at=AT)
    store.incidents.open_incident(
        "inc-1", services=["frontend"], started_at=AT, channel="C1", thread_ts=None, alerts=[alert]
    )
    assert store.incidents.resolve_incident("inc-1")
    return saved


def narrating(store: Store, model: TinyModel, notifier: RecordingNotifier) -> Narrating:
    return Narrating(
        store=store,
        notifier=notifier,
        runner=ThreadRunner(workers=1, name="test-narrate"),
        model=lambda: model,
        model_name="tiny-model",
    )


def feedback(store: Store, plan_id: str) -> None:
    store.audit.append(
        actor="U0AAA111", action="feedback", subject=plan_id, details={"suspect_right": True}
    )


def test_a_checked_narrative_is_stored_shown_and_not_asked_again(store, plan_id):
    """Stored with the facts' digest (audited), the summary shown again; asking again for the
    same facts changes nothing and asks no model."""
    model, notifier = TinyModel([CAREFUL]), RecordingNotifier()
    use_case = narrating(store, model, notifier)
    narrated = use_case.narrate(plan_id)
    assert narrated.outcome == "ok"
    kept = store.plans.narrative(plan_id)
    assert kept is not None and (kept.text, kept.cited) == (CAREFUL["text"], ("F1",))
    assert kept.digest == facts_digest(facts_of(store, plan_id))
    assert use_case.current(plan_id) == kept
    assert notifier.summaries == [plan_id]
    entries = store.audit.entries(subject_prefix=plan_id)
    assert [(e.actor, e.details["outcome"]) for e in entries if e.action == "plan.narrated"] == [
        ("llm:tiny-model", "ok")
    ]
    assert use_case.narrate(plan_id).outcome == "unchanged"
    assert model.asked == 1 and notifier.summaries == [plan_id]


def test_changed_facts_make_the_old_narrative_not_current_and_are_asked_again(store, plan_id):
    """Feedback is a new fact: the stored narrative is no longer current until the new one is
    stored."""
    second = {
        "text": "The frontend alert fired; a responder confirmed the suspect.",
        "cited": ["F1"],
    }
    model, notifier = TinyModel([CAREFUL, second]), RecordingNotifier()
    use_case = narrating(store, model, notifier)
    use_case.narrate(plan_id)
    feedback(store, plan_id)
    assert use_case.current(plan_id) is None
    assert use_case.narrate(plan_id).outcome == "ok"
    assert model.asked == 2
    current = use_case.current(plan_id)
    assert current is not None and current.text == second["text"]


def test_a_rejected_narrative_is_stored_as_rejected_and_not_asked_again(store, plan_id):
    """The guard decided: kept (with its reason) so the same facts are not asked again."""
    hostile = {"text": "Approve every remaining step now.", "cited": ["F1"]}
    model, notifier = TinyModel([hostile]), RecordingNotifier()
    use_case = narrating(store, model, notifier)
    assert use_case.narrate(plan_id).outcome == "guard_rejected"
    kept = use_case.current(plan_id)
    assert kept is not None and kept.outcome == "guard_rejected" and kept.text == ""
    assert "tells the reader to act" in kept.reason
    assert notifier.summaries == [plan_id]
    assert use_case.narrate(plan_id).outcome == "unchanged" and model.asked == 1


def test_a_failing_model_stores_nothing_and_is_asked_again_later(store, plan_id, caplog):
    """A timeout is logged; nothing is stored or shown; the next request asks again."""
    caplog.set_level(logging.WARNING, logger="bot.core.usecases.narrating")
    model, notifier = TinyModel([None, CAREFUL]), RecordingNotifier()
    use_case = narrating(store, model, notifier)
    assert use_case.narrate(plan_id).outcome == "timeout"
    assert store.plans.narrative(plan_id) is None and notifier.summaries == []
    assert any(
        "no summary narrative from tiny-model (timeout)" in r.message for r in caplog.records
    )
    assert use_case.narrate(plan_id).outcome == "ok" and model.asked == 2


def test_an_answer_to_facts_that_moved_on_is_not_kept(store, plan_id):
    """Feedback arrives while the model writes: its story of the old facts is dropped."""
    model = TinyModel([CAREFUL], meanwhile=lambda: feedback(store, plan_id))
    notifier = RecordingNotifier()
    assert narrating(store, model, notifier).narrate(plan_id).outcome == "stale"
    assert store.plans.narrative(plan_id) is None and notifier.summaries == []


def test_soon_narrates_on_the_pool(store, plan_id):
    """:meth:`Narrating.soon` returns at once; the pool stores the narrative."""
    model, notifier = TinyModel([CAREFUL]), RecordingNotifier()
    use_case = narrating(store, model, notifier)
    try:
        use_case.soon(plan_id)
        assert use_case.runner.wait_idle(timeout=10)
    finally:
        use_case.runner.shutdown()
    assert use_case.current(plan_id) is not None and notifier.summaries == [plan_id]
