"""The planner on the messy-incident families of :mod:`fakes.families` (issue 8's targets).

Every family is drawn for a few dozen seeds and planned in process: the top suspect is a culprit
in at least 95 % of the incidents overall and 90 % of each family, every culprit of a
two-cause incident is rolled back in 90 %, the plan abstains in at least 90 % of the incidents
that no recorded change explains, and no plan breaks a rule of the independent oracle.
"""

from __future__ import annotations

from functools import cache

import pytest

from benchmarks.accuracy import plan_case
from fakes.families import FAMILIES, Row, generate_case, measure

SEEDS = range(40)


@cache
def _rows() -> tuple[Row, ...]:
    return tuple(measure(plan_case, SEEDS))


def test_every_family_is_drawn_with_its_ingredients():
    """Each family adds what it promises: noise alerts, unknown services, a second culprit, no
    culprit, coupled consumers, a security fix."""
    chronic = generate_case("chronic", 3)
    assert len(chronic.scenario.alerts) > len(generate_case("base", 3).scenario.alerts)
    assert len(generate_case("two-clusters", 3).culprits) == 2
    assert generate_case("external", 3).abstain
    coupled = [
        sum(c.id.startswith("chg-coupled") for c in generate_case("coupled", seed).scenario.changes)
        for seed in SEEDS
    ]
    assert sum(n > 0 for n in coupled) >= len(SEEDS) // 2 and max(coupled) >= 3
    sec = generate_case("security", 3)
    assert "fixes" in next(c for c in sec.scenario.changes if c.id == sec.culprits[0]).summary
    with pytest.raises(ValueError, match="unknown family"):
        generate_case("nonsense", 1)


def test_top_suspect_is_right_overall_and_in_every_family():
    """At least 95 % overall and 90 % in each family with a culprit."""
    rows = [r for r in _rows() if r.culprit_cases]
    overall = sum(r.top_right for r in rows) / sum(r.culprit_cases for r in rows)
    assert overall >= 0.95, rows
    for row in rows:
        assert row.top_right / row.culprit_cases >= 0.9, row


def test_both_causes_of_two_cluster_incidents_are_rolled_back():
    """In the two-clusters family both culprits have steps in at least 90 % of incidents."""
    (row,) = [r for r in _rows() if r.family == "two-clusters"]
    assert row.all_rolled_back / row.culprit_cases >= 0.9, row


def test_the_plan_abstains_when_no_change_explains_the_incident():
    """A provider outage with tempting recent deploys: abstention in at least 90 %."""
    rows = [r for r in _rows() if r.abstain_cases]
    assert rows
    for row in rows:
        assert row.abstained_right / row.abstain_cases >= 0.9, row


def test_no_plan_breaks_a_planning_rule_in_any_family():
    """The oracle, given each incident's true start, finds nothing wrong with any plan."""
    assert {r.family: r.broken for r in _rows()} == dict.fromkeys(FAMILIES, 0)
