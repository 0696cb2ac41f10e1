"""How fast the graph planner is at 100, 1,000 and 10,000 services (``make bench``).

Run from the repository root as ``python -m benchmarks.planning``. Each size is a generated
catalog (:func:`fakes.scenarios.generate_large`) with 500 changes and 5 alerting services. In the
process it measures the topology build and the planning separately (the median of several runs,
after one warm-up) and the planner's peak memory (``tracemalloc``, a run of its own since tracing
slows Python down). Then it times the whole ``backout plan --format json`` process on the
10,000-service files, as an operator would run it, the median of five runs. The targets are
300 ms in the process and 3 s for the whole command at 10,000 services. A last row plans one
payload of 2,000 alerts on the 10,000-service catalog (a burst on the alerting services, chronic
and flapping alerts, exporter alerts on unknown services): deciding which alerts belong together
must not make planning quadratic in the number of alerts (target: well under a second). The
markdown table is printed and written to ``benchmarks/results.md``; nothing here asserts a time.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from fakes.scenarios import Scenario, build, generate_large, write_files
from planners.model import Alert, AlertStatus, Plan
from planners.planner import PlanningOptions, plan_rollback
from planners.topology import Topology

SIZES = (100, 1_000, 10_000)
CHANGES = 500
ALERTING = 5
RUNS = {100: 21, 1_000: 11, 10_000: 7}
PROCESS_RUNS = 5
TARGET_IN_PROCESS_S = 0.300
TARGET_PROCESS_S = 3.0
MANY_ALERTS = 2_000
TARGET_MANY_ALERTS_S = 1.0
RESULTS = Path(__file__).with_name("results.md")
_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True)
class InProcess:
    """The in-process measurements at one size."""

    size: int
    build_s: float
    plan_s: float
    plan_peak_bytes: int
    build_peak_bytes: int
    found_culprit: bool
    steps: int


def _median_seconds(work: Callable[[], _T], runs: int) -> tuple[float, _T]:
    """Run ``work`` once to warm up, then ``runs`` times; the median time and the last result."""
    result = work()
    times = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _peak_bytes(work: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def _planner(scenario: Scenario, topology: Topology) -> Callable[[], Plan]:
    options = PlanningOptions()
    return lambda: plan_rollback(
        topology,
        changes=scenario.changes,
        alerts=scenario.alerts,
        now=scenario.now,
        options=options,
    )


def measure(size: int) -> tuple[InProcess, Scenario]:
    """Build and plan one generated scenario of ``size`` services."""
    scenario = generate_large(size, seed=size, changes=CHANGES, alerting=ALERTING)
    runs = RUNS.get(size, 5)
    build_s, topology = _median_seconds(lambda: build(scenario), runs)
    plan_s, plan = _median_seconds(_planner(scenario, topology), runs)
    row = InProcess(
        size=size,
        build_s=build_s,
        plan_s=plan_s,
        plan_peak_bytes=_peak_bytes(_planner(scenario, topology)),
        build_peak_bytes=_peak_bytes(lambda: build(scenario)),
        found_culprit=bool(plan.suspects) and plan.suspects[0].change_id == scenario.culprit_id,
        steps=len(plan.steps),
    )
    return row, scenario


def with_many_alerts(scenario: Scenario, count: int = MANY_ALERTS, seed: int = 0) -> Scenario:
    """``scenario`` with ``count`` alerts in one payload: half a burst on its alerting services
    (many instances each), the rest chronic, flapping and exporter alerts."""
    rng = random.Random(seed)
    start = min(a.started_at for a in scenario.alerts)
    names = [s.name for s in scenario.topology_services]
    alerts = list(scenario.alerts)
    while len(alerts) < count:
        roll = rng.random()
        index = len(alerts)
        if roll < 0.5:
            service, at, status = rng.choice(scenario.alerting), start, AlertStatus.FIRING
            at += timedelta(seconds=rng.randint(0, 600))
        elif roll < 0.75:
            service, status = rng.choice(names), AlertStatus.FIRING
            at = start - timedelta(minutes=rng.randint(120, 600))
        elif roll < 0.9:  # flapping: resolved, then firing again
            service, status = rng.choice(names), AlertStatus.FIRING
            at = start - timedelta(minutes=rng.randint(1, 30))
            alerts.append(
                Alert(
                    fingerprint=f"bench-{index}-before",
                    service=service,
                    name=f"Alert{index % 7}",
                    status=AlertStatus.RESOLVED,
                    started_at=at - timedelta(minutes=20),
                )
            )
        else:
            service, status = f"node-exporter-{index % 20}", AlertStatus.FIRING
            at = start - timedelta(minutes=rng.randint(1, 60))
        alerts.append(
            Alert(
                fingerprint=f"bench-{index}",
                service=service,
                name=f"Alert{index % 7}",
                status=status,
                started_at=at,
            )
        )
    return replace(scenario, alerts=alerts)


def measure_many_alerts(scenario: Scenario, topology: Topology) -> tuple[float, bool]:
    """The median in-process planning time with :func:`with_many_alerts`, and whether the
    culprit stays the top suspect."""
    busy = with_many_alerts(scenario)
    seconds, plan = _median_seconds(_planner(busy, topology), 5)
    return seconds, bool(plan.suspects) and plan.suspects[0].change_id == scenario.culprit_id


def _backout() -> list[str]:
    script = Path(sys.executable).with_name("backout")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bot.cli.main import main; sys.exit(main())"]


def measure_process(scenario: Scenario, runs: int = PROCESS_RUNS) -> tuple[float, bool]:
    """The median wall time of the whole ``backout plan`` command on the scenario's files."""
    with tempfile.TemporaryDirectory(prefix="backout-bench-") as folder:
        paths = write_files(scenario, Path(folder))
        command = [
            *_backout(),
            "plan",
            "--topology",
            str(paths["topology"]),
            "--changes",
            str(paths["changes"]),
            "--alerts",
            str(paths["alerts"]),
            "--at",
            scenario.now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "--format",
            "json",
        ]
        times = []
        found = True
        for _ in range(runs):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=folder)
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(f"backout plan failed ({done.returncode}): {done.stderr.strip()}")
            suspects = json.loads(done.stdout)["suspects"]
            found = found and bool(suspects) and suspects[0]["change_id"] == scenario.culprit_id
    return statistics.median(times), found


def machine() -> str:
    """``nproc``, the CPU model and the Python version, on one line."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpus} CPU(s) (nproc), {model}, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.machine()}"
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _mib(count: int) -> str:
    return f"{count / 2**20:.1f} MiB"


def table(
    rows: list[InProcess],
    process_s: float,
    process_found: bool,
    many_alerts: tuple[float, bool] | None = None,
) -> str:
    """The results as markdown."""
    sizes = " | ".join(f"{r.size:,} services" for r in rows)
    largest = rows[-1]

    def line(label: str, cells: list[str], target: str) -> str:
        return f"| {label} | {' | '.join(cells)} | {target} |"

    meets = "meets" if largest.plan_s <= TARGET_IN_PROCESS_S else "MISSES"
    meets_process = "meets" if process_s <= TARGET_PROCESS_S else "MISSES"
    blank = ["" for _ in rows[:-1]]
    lines = [
        "# Planning benchmark",
        "",
        f"Generated by `python -m benchmarks.planning` on "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        f"Machine: {machine()}.",
        f"Each catalog: {CHANGES} changes, {ALERTING} alerting services "
        "(`fakes.scenarios.generate_large`); times are medians after a warm-up.",
        "",
        f"| measure | {sizes} | target at {largest.size:,} |",
        "|---|" + "---|" * len(rows) + "---|",
        line("topology build, in process", [_ms(r.build_s) for r in rows], "-"),
        line("topology build, peak memory", [_mib(r.build_peak_bytes) for r in rows], "-"),
        line(
            "**planning, in process**",
            [_ms(r.plan_s) for r in rows],
            f"{_ms(TARGET_IN_PROCESS_S)} ({meets})",
        ),
        line("planning, peak memory", [_mib(r.plan_peak_bytes) for r in rows], "-"),
        line("plan steps", [str(r.steps) for r in rows], "-"),
        line("top suspect is the culprit", ["yes" if r.found_culprit else "no" for r in rows], "-"),
        line(
            f"**whole `backout plan` process** (median of {PROCESS_RUNS})",
            [*blank, f"{process_s:.2f} s"],
            f"{TARGET_PROCESS_S:.0f} s ({meets_process})",
        ),
        line(
            "whole process: top suspect is the culprit",
            [*blank, "yes" if process_found else "no"],
            "-",
        ),
    ]
    if many_alerts is not None:
        seconds, found = many_alerts
        meets_alerts = "meets" if seconds <= TARGET_MANY_ALERTS_S else "MISSES"
        lines.append(
            line(
                f"**planning with {MANY_ALERTS:,} alerts in one payload**, in process "
                f"(culprit first: {'yes' if found else 'no'})",
                [*blank, _ms(seconds)],
                f"well under {TARGET_MANY_ALERTS_S:.0f} s ({meets_alerts})",
            )
        )
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    """Run every measurement, print the table and write ``benchmarks/results.md``."""
    rows = []
    scenario: Scenario | None = None
    many: tuple[float, bool] | None = None
    for size in SIZES:
        row, scenario = measure(size)
        rows.append(row)
        if size == SIZES[-1]:
            many = measure_many_alerts(scenario, build(scenario))
            print(f"{MANY_ALERTS:,} alerts: plan {_ms(many[0])}", file=sys.stderr)
        print(
            f"{size:>6,} services: build {_ms(row.build_s)}, plan {_ms(row.plan_s)}, "
            f"peak {_mib(row.plan_peak_bytes)}",
            file=sys.stderr,
        )
    assert scenario is not None
    process_s, process_found = measure_process(scenario)
    print(f"whole process at {SIZES[-1]:,} services: {process_s:.2f} s", file=sys.stderr)
    result = table(rows, process_s, process_found, many)
    print(result)
    RESULTS.write_text(result, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
