"""Synthetic rollback plans for engine tests and benchmarks: many steps, a valid ``after`` DAG."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from planners.model import Action, Incident, Plan, Risk, Stage, Step
from planners.schedule import critical_path

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def synthetic_plan(
    steps: int,
    *,
    seed: int = 0,
    width: int = 4,
    executor: str | None = "simulated",
    stages: tuple[Stage, ...] = (Stage.PARTIAL,),
    services: tuple[str, ...] = ("web",),
) -> Plan:
    """A plan of ``steps`` rollbacks on services ``svc-0``…, each after up to two of the
    ``width`` steps before it, spread over ``stages`` in order (a later stage after all earlier)."""
    rng = random.Random(seed)
    built: list[Step] = []
    per_stage = max(1, -(-steps // len(stages)))
    for i in range(steps):
        stage = stages[min(i // per_stage, len(stages) - 1)]
        recent = built[len(built) - width :] if width else []
        same_stage = [s for s in recent if s.stage == stage]
        after = {s.id for s in rng.sample(same_stage, min(len(same_stage), rng.randint(0, 2)))}
        previous = [s for s in built if s.stage != stage]
        if previous and not after:  # a root of its stage waits for the whole previous stage
            after = {s.id for s in previous if s.stage == previous[-1].stage}
        built.append(
            Step(
                id=f"s{i + 1}",
                stage=stage,
                action=Action.ROLLBACK_DEPLOY,
                service=f"svc-{i}",
                change_id=f"chg-{i}",
                target_version="v1",
                bad_version="v2",
                after=tuple(sorted(after, key=lambda a: int(a[1:]))),
                risk=Risk.MEDIUM,
                approvals_required=1,
                executor=executor,
                estimated_seconds=1,
                verify={"services": (f"svc-{i}",)},
                why="synthetic",
            )
        )
    return Plan(
        incident=Incident(id="inc-synthetic", services=services, started_at=T0),
        impacted=services,
        suspects=(),
        excluded=(),
        steps=tuple(built),
        critical_path_seconds=critical_path(built),
        explanation="synthetic plan for engine tests",
        generated_at=T0,
    )


def start_versions(plan: Plan) -> dict[str, str]:
    """Every step's service running the bad version, as before a rollback."""
    return {s.service: "v2" for s in plan.steps}
