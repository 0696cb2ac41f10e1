"""How often the graph planner is right on messy incidents, per family (issue 8).

Run from the repository root as ``python -m benchmarks.accuracy [seeds]`` (default 60 seeds per
family). Each family of :mod:`fakes.families` is planned in process with DESIGN.md's defaults;
the markdown table (top suspect right, every culprit rolled back, correct abstention, wrong
abstentions, plans breaking a rule of the independent oracle) is printed. The README's
"Scenario accuracy" paragraph quotes it. Nothing here asserts: ``tests/planners/test_families.py``
holds the targets.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from fakes.families import Case, measure, table
from fakes.scenarios import CLOCK_SKEW, WINDOW, build
from planners.planner import PlanningOptions, plan_rollback

SEEDS = 60


def plan_case(case: Case) -> Mapping[str, Any]:
    """The JSON plan for one case, planned in process."""
    scenario = case.scenario
    plan = plan_rollback(
        build(scenario),
        changes=scenario.changes,
        alerts=scenario.alerts,
        now=scenario.now,
        options=PlanningOptions(window=WINDOW, clock_skew=CLOCK_SKEW),
    )
    return plan.to_json_dict()


def main(argv: list[str] | None = None) -> int:
    """Print the accuracy table for ``argv[0]`` seeds per family."""
    args = sys.argv[1:] if argv is None else argv
    seeds = int(args[0]) if args else SEEDS
    print(table(measure(plan_case, range(seeds))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
