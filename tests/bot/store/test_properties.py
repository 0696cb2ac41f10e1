"""Any sequence of step transitions behaves like a simple model of the compare-and-set."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.lifecycle import StepStatus
from tests.support.store import make_plan

STATUSES = [status.value for status in StepStatus]
WORKERS = ["w1", "w2", None]


@dataclass
class Model:
    status: str = "pending"
    claimed_by: str | None = None
    attempts: int = 0


moves = st.lists(
    st.tuples(
        st.sampled_from(["s1", "s2"]),
        st.frozensets(st.sampled_from(STATUSES), min_size=1, max_size=3),
        st.sampled_from(STATUSES),
        st.sampled_from(WORKERS),
    ),
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    # The store is shared by the examples on purpose: each example saves a plan of its own.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(moves=moves)
def test_transitions_follow_the_compare_and_set_model(store, moves):
    """Each move succeeds exactly when the model says so, and is audited exactly when it does."""
    plan_id = store.plans.save(make_plan(2))
    model = {"s1": Model(), "s2": Model()}
    audited: list[tuple[str, str]] = []
    for step_id, sources, to, worker in moves:
        if to == "running" and worker is None:
            continue  # refused with ValueError; covered in test_transitions
        state = model[step_id]
        expected = state.status in sources and not (
            worker is not None and sources == {"running"} and state.claimed_by != worker
        )
        won = store.steps.transition(
            plan_id, step_id, from_statuses=sources, to=to, actor="prop", worker=worker
        )
        assert won == expected
        if won:
            audited.append((f"{plan_id}/{step_id}", f"step.{to}"))
            state.status = to
            if to == "running":
                state.claimed_by, state.attempts = worker, state.attempts + 1
            elif to in ("pending", "queued"):
                state.claimed_by = None
    rows = {row.step_id: row for row in store.steps.of(plan_id)}
    for step_id, state in model.items():
        row = rows[step_id]
        assert (row.status, row.claimed_by, row.attempts) == (
            state.status,
            state.claimed_by,
            state.attempts,
        )
    entries = store.audit.entries(subject_prefix=f"{plan_id}/")
    assert [(entry.subject, entry.action) for entry in entries] == audited
