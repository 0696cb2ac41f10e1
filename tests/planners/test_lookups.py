"""The read-only lookups a thread question may use (:mod:`planners.lookups`): each answers from
the planner, an unknown argument gets a finding that says so, and none changes the plan."""

from __future__ import annotations

from dataclasses import replace

from planners.lookups import Lookups
from tests.planners.llm_cases import INPUTS, base_plan
from tests.support.planning import topo

PLAN = base_plan()
LOOKUPS = Lookups(plan=PLAN, inputs=INPUTS)


def says(tool: str, *args: str) -> str:
    return LOOKUPS.run([(tool, args)])[0].says


def test_a_path_is_found_either_way_or_said_to_be_missing():
    assert says("path", "frontend", "paymentservice") == (
        "frontend depends on paymentservice through checkoutservice"
    )
    assert says("path", "cartservice", "checkoutservice") == (
        "checkoutservice depends on cartservice directly"
    )
    assert says("path", "cartservice", "paymentservice") == (
        "no dependency path between cartservice and paymentservice"
    )


def test_a_change_says_what_the_plan_made_of_it():
    suspect = LOOKUPS.run([("change", ("C3",))])[0]
    assert suspect.says.startswith("C3 (deploy on cartservice to v2.1.0) is suspect 2 of 4")
    assert suspect.result["steps"] == ["s3"]
    assert "was excluded: happened after the incident started" in says("change", "C4")


def test_a_replan_without_the_top_suspect_comes_from_the_planner():
    finding = LOOKUPS.run([("replan", ("C1",))])[0]
    assert finding.result["left_out"] == ["C1"]
    assert "C1" not in finding.result["suspects"]
    assert not any("(C1)" in step for step in finding.result["steps"])
    assert finding.result["steps"]  # the other suspects are still rolled back
    assert base_plan() == PLAN  # the plan itself is untouched


def test_leaving_out_every_suspect_makes_the_planner_abstain():
    everything = tuple(s.change_id for s in PLAN.suspects)
    finding = LOOKUPS.run([("replan", everything)])[0]
    assert finding.result["abstains"] is True
    assert "the planner abstains" in finding.says


def test_the_schedule_names_the_longest_chain():
    finding = LOOKUPS.run([("schedule", ())])[0]
    assert finding.result["critical_chain"][-1] == PLAN.steps[-1].id
    assert finding.result["critical_path_seconds"] == PLAN.critical_path_seconds


def test_unknown_arguments_are_answered_not_raised():
    assert says("path", "frontend", "nosuchservice").startswith("a path lookup takes")
    assert says("change", "C99").startswith("a change lookup takes")
    assert says("replan").startswith("a replan takes")
    assert says("delete", "C1") == "there is no lookup called 'delete'"


def test_the_question_seeds_lookups_for_what_it_names():
    seeded = LOOKUPS.seed("why not CartService? and what about C4")
    assert [f.query for f in seeded] == [
        "change C4",
        "change C3",
        "path cartservice checkoutservice",
    ]
    assert [f.id for f in seeded] == ["L1", "L2", "L3"]
    assert LOOKUPS.seed("is the cart-service-proxy fine?") == []  # a longer word is not a name


def test_a_large_topology_offers_only_the_services_that_matter():
    edges = {f"svc{n}": [f"svc{n + 1}"] for n in range(150)}
    edges["frontend"] = ["checkoutservice"]
    edges["checkoutservice"] = ["cartservice", "paymentservice"]
    big = Lookups(plan=PLAN, inputs=replace(INPUTS, topology=topo(edges)))
    offered = big.services("and svc42?")
    assert "svc42" in offered and "svc7" not in offered
    assert {"checkoutservice", "frontend", "cartservice", "paymentservice"} <= set(offered)
