"""A whole engine process for the crash tests:
``python -m tests.bot.core.engine_worker URL PLAN STATE``.

Optional fourth and fifth arguments: the lease and each step's simulated duration, in seconds.
Verification takes as long as the step, so a kill often lands after the change took effect but
before it was recorded: the window that reconciliation must cover.

It runs one stored plan with the simulated executor keeping its state in ``STATE`` (a file shared
by every worker, so side effects can be counted after a SIGKILL), then exits.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from bot.core.engine import Engine, EngineConfig
from bot.core.health import HealthResult
from bot.store import Store
from integrations.executors.simulated import SimulatedExecutor
from planners.model import Action


def main(url: str, plan_id: str, state_file: str, lease: str = "0.5", step: str = "0.15") -> int:
    store = Store.from_url(url, upgrade=False)
    executor = SimulatedExecutor(
        state_file=state_file, durations={Action.ROLLBACK_DEPLOY: float(step)}
    )

    def slow_health(services: Sequence[str]) -> HealthResult:
        time.sleep(float(step))
        return HealthResult(healthy=True, reason=f"{len(services)} service(s) simulated healthy")

    engine = Engine(
        store=store,
        executors={"simulated": executor},
        health=slow_health,
        config=EngineConfig(max_parallel=4, lease_seconds=float(lease)),
    )
    report = engine.run(plan_id)
    print(report.status, flush=True)
    if report.status != "done":
        print(report, flush=True)
    return 0 if report.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
