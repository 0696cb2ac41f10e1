"""A plan in time: its critical path and chain, and the steps that may run side by side."""

from __future__ import annotations

import pytest

from planners import plan_rollback
from planners.model import Action, Risk, Stage, Step
from planners.schedule import critical_chain, critical_path, parallel_groups
from tests.support.planning import T0, alert, change, topo


def step(step_id: str, *after: str, seconds: int = 60) -> Step:
    return Step(
        id=step_id,
        stage=Stage.PARTIAL,
        action=Action.ROLLBACK_DEPLOY,
        service=f"svc-{step_id}",
        change_id=f"c-{step_id}",
        target_version="v1",
        after=after,
        risk=Risk.MEDIUM,
        approvals_required=1,
        executor="simulated",
        estimated_seconds=seconds,
        verify={"services": ()},
        why="test",
    )


def test_no_steps_have_no_path_chain_or_groups():
    """An empty plan takes no time, has no chain and no groups."""
    assert (critical_path([]), critical_chain([]), parallel_groups([])) == (0, [], [])


def test_a_diamond_follows_its_slower_branch():
    """In a diamond the chain goes through the slower middle step, and the path sums it."""
    steps = [
        step("s1", seconds=15),
        step("s2", "s1", seconds=90),
        step("s3", "s1", seconds=30),
        step("s4", "s2", "s3", seconds=180),
    ]
    assert critical_chain(steps) == ["s1", "s2", "s4"]
    assert critical_path(steps) == 15 + 90 + 180
    assert parallel_groups(steps) == [["s1"], ["s2", "s3"], ["s4"]]


def test_independent_steps_form_one_group_and_the_longest_is_the_chain():
    """Steps with no ``after`` may all run at once; the chain is the slowest of them."""
    steps = [step("s1", seconds=30), step("s2", seconds=600), step("s3", seconds=90)]
    assert parallel_groups(steps) == [["s1", "s2", "s3"]]
    assert critical_chain(steps) == ["s2"]
    assert critical_path(steps) == 600


def test_ties_go_to_the_first_end_and_the_greatest_predecessor():
    """On equal times the earliest-listed end step wins, reached through the greatest id."""
    steps = [step("s1"), step("s2"), step("s3", "s1", "s2"), step("s4", "s1", "s2")]
    assert critical_chain(steps) == ["s2", "s3"]


def test_a_step_outside_the_sequence_counts_as_done():
    """One stage's steps may wait for another stage's: those are ignored, not an error."""
    steps = [step("s5", "s1", seconds=30), step("s6", "s5", "s2", seconds=30)]
    assert parallel_groups(steps) == [["s5"], ["s6"]]
    assert critical_chain(steps) == ["s5", "s6"]
    assert critical_path(steps) == 60


@pytest.mark.parametrize("seconds", [0, -30])
def test_a_step_without_time_adds_nothing(seconds):
    """A zero or (read back from JSON) negative estimate counts as zero, and ends no chain."""
    steps = [step("s1", seconds=45), step("s2", "s1", seconds=seconds)]
    assert critical_path(steps) == 45
    assert critical_chain(steps) == ["s1"]


def test_a_plan_built_by_the_planner_measures_its_path_here():
    """The planner's ``critical_path_seconds`` is the sum along :func:`critical_chain`."""
    topology = topo({"web": ["api"], "api": ["db"]})
    changes = [change("c1", "api", 10), change("c2", "web", 5), change("c3", "db", 20)]
    plan = plan_rollback(topology, changes=changes, alerts=[alert("web"), alert("api")], now=T0)
    by_id = {s.id: s for s in plan.steps}
    chain = critical_chain(plan.steps)
    assert chain
    assert plan.critical_path_seconds == sum(by_id[s].estimated_seconds for s in chain)
