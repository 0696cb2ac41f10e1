"""How close the engine runs a plan to the plan's critical path, and what a step costs it.

Run from the repository root as ``python -m benchmarks.engine`` (``make bench`` does). Plans are
:func:`fakes.plans.synthetic_plan` (one stage, an ``after`` DAG), run by the real
:class:`bot.core.engine.Engine` through the :class:`SimulatedExecutor` with a fixed duration per
step,
the default (no-op) health gate, and a fresh database per measurement: a copy of a migrated SQLite
file in a temporary folder, or a PostgreSQL database made from a migrated template (created on the
server named by ``BACKOUT_TEST_POSTGRES_URL``, like the tests, and dropped afterwards; when it is
unreachable its rows say so).

1. **Wall time against the critical path.** 20 steps of 0.2 s, 200 steps of 0.05 s and 20 steps of
   1 s, with
   ``max_parallel`` set to the widest point of the plan's as-soon-as-possible schedule (so slots
   are never the bottleneck), the median of several runs; then one run with the default 4. The
   lower bound is the critical path with the real durations (the longest chain of durations
   through ``after``); running the steps one after another takes the sum. The target is wall
   time within 10 % of the critical path.
2. **Overhead per step.** Plans whose steps take 0 s, one step at a time (``max_parallel=1``), so
   that wall / steps is what the engine itself costs per step (claim, one write of the phase
   records, final record, their audit entries, the loop's reads). The store's methods are
   wrapped on the instance by a timing proxy (product code is untouched) to split that time by
   method.
3. **Where the time goes.** For the runs of part 1, the chain of steps that actually decided the
   wall time (from the last step to finish, back through the dependency that finished last) is
   split into: waiting to be claimed after its dependencies finished, the phases before
   ``execute``, ``execute`` itself, and the work after it up to the recorded finish.

The markdown table is printed and written to ``benchmarks/results-engine.md``; nothing here
asserts a time.
"""

from __future__ import annotations

import gc
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.planning import machine
from bot.core.engine import Engine, EngineConfig
from bot.store import Store, create_engine, upgrade
from fakes.plans import start_versions, synthetic_plan
from integrations.executors.simulated import SimulatedExecutor
from planners.model import Action, Plan, Step

TIMED = ((20, 0.2), (200, 0.05), (20, 1.0))
"""(steps, seconds per step) of the wall-time plans; the last is closer to a real rollback's
pace (real steps take tens of seconds), where the engine's fixed cost per step matters less."""
ZERO_STEPS = (20, 200)
"""Sizes of the 0-second plans that measure the overhead per step."""
TIMED_RUNS = {20: 5, 200: 3}
DEFAULT_RUNS = 1
ZERO_RUNS = {20: 5, 200: 3}
WIDTH = 4
"""``synthetic_plan``'s ``width``: each step follows up to two of the four before it."""
TARGET_RATIO = 1.10
DEFAULT_MAX_PARALLEL = EngineConfig().max_parallel
POSTGRES_ADMIN_URL = os.environ.get(
    "BACKOUT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
RESULTS = Path(__file__).with_name("results-engine.md")
BACKENDS = ("SQLite", "PostgreSQL")
SKIPPED = "skipped (PostgreSQL not reachable)"
_ACTION = Action.ROLLBACK_DEPLOY  # every synthetic step is a deploy rollback
_TIMED_METHODS = (  # repository.method of the store
    "plans.get",
    "steps.of",
    "steps.transition",
    "steps.record_executions",
    "audit.entries",
    "audit.append",
    "plans.move",
    "steps.renew_lease",
)


# -- the plan's own bounds ----------------------------------------------------------------------


def _finish_times(steps: Sequence[Step], seconds: Callable[[Step], float]) -> dict[str, float]:
    """As-soon-as-possible finish of each step with unlimited slots (steps in a valid order)."""
    finish: dict[str, float] = {}
    for step in steps:
        finish[step.id] = max((finish[a] for a in step.after), default=0.0) + seconds(step)
    return finish


def critical_path_seconds(steps: Sequence[Step], seconds: Callable[[Step], float]) -> float:
    """The longest chain of real durations through ``after``: no engine can finish sooner.

    `planners.schedule.critical_path` with ``seconds`` in place of ``estimated_seconds``.
    """
    return max(_finish_times(steps, seconds).values(), default=0.0)


def peak_width(steps: Sequence[Step]) -> int:
    """How many steps run at once at the busiest moment of the as-soon-as-possible schedule
    (every step 1 s long): the ``max_parallel`` above which slots are never the bottleneck."""
    finish = _finish_times(steps, lambda _step: 1.0)
    starts: dict[float, int] = {}
    for step in steps:
        starts[finish[step.id] - 1.0] = starts.get(finish[step.id] - 1.0, 0) + 1
    return max(starts.values(), default=1)


# -- databases ----------------------------------------------------------------------------------


class SqliteDatabases:
    """Fresh, migrated SQLite files: one migration, then a copy of it per measurement."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.template = folder / "template.db"
        engine = create_engine(f"sqlite:///{self.template}")
        try:
            upgrade(engine)
        finally:
            engine.dispose()  # the last connection folds the WAL back into the file

    @contextmanager
    def fresh(self) -> Iterator[str]:
        path = self.folder / f"run-{secrets.token_hex(4)}.db"
        shutil.copyfile(self.template, path)
        try:
            yield f"sqlite:///{path}"
        finally:
            for leftover in path.parent.glob(path.name + "*"):
                leftover.unlink()


class PostgresDatabases:
    """Fresh, migrated PostgreSQL databases: a migrated template, then ``CREATE DATABASE …
    TEMPLATE`` per measurement; every database is dropped again."""

    def __init__(self, admin_url: sa.URL) -> None:
        self.admin_url = admin_url
        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.template = f"backout_bench_{secrets.token_hex(4)}"
        self._execute(f'CREATE DATABASE "{self.template}"')
        engine = create_engine(self._url(self.template))
        try:
            upgrade(engine)
        finally:
            engine.dispose()  # a template must have no connections

    def _url(self, name: str) -> str:
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def _execute(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(sql)

    @contextmanager
    def fresh(self) -> Iterator[str]:
        name = f"{self.template}_{secrets.token_hex(3)}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        try:
            yield self._url(name)
        finally:
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        self.admin.dispose()


def postgres_admin_url() -> tuple[sa.URL | None, str]:
    """The maintenance database's URL if the server answers, else ``None`` and why not."""
    url = sa.make_url(POSTGRES_ADMIN_URL)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        return None, f"{url.render_as_string(hide_password=True)}: {exc.orig}"
    finally:
        engine.dispose()
    return url, ""


# -- one run ------------------------------------------------------------------------------------


class StoreTimer:
    """Times the store's methods, per method and per thread kind (the engine's loop or a worker).

    The wrappers are set on the store instance, shadowing its methods; the class and the product
    code stay as they are. It also counts the new database connections the pool opens.
    """

    def __init__(self, store: Store) -> None:
        self.loop_thread = threading.get_ident()
        self.seconds: dict[tuple[str, bool], float] = {}
        self.calls: dict[tuple[str, bool], int] = {}
        self.connections = 0
        self._lock = threading.Lock()
        for name in _TIMED_METHODS:
            repository, method = name.split(".")
            owner = getattr(store, repository)
            setattr(owner, method, self._wrap(name, getattr(owner, method)))
        sa.event.listen(store.engine, "connect", self._connected)

    def _connected(self, *_args: object) -> None:
        with self._lock:
            self.connections += 1

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent = time.perf_counter() - started
                key = (name, threading.get_ident() == self.loop_thread)
                with self._lock:
                    self.seconds[key] = self.seconds.get(key, 0.0) + spent
                    self.calls[key] = self.calls.get(key, 0) + 1

        return timed

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()
            self.calls.clear()
            self.connections = 0

    def total(self, name: str | None = None, *, loop: bool | None = None) -> float:
        """Seconds spent in ``name`` (or any method), on the loop thread, workers, or both."""
        return sum(
            spent
            for (method, on_loop), spent in self.seconds.items()
            if name in (None, method) and loop in (None, on_loop)
        )

    def count(self, name: str, *, loop: bool | None = None) -> int:
        return sum(
            n
            for (method, on_loop), n in self.calls.items()
            if method == name and loop in (None, on_loop)
        )


@dataclass(frozen=True, kw_only=True)
class Chain:
    """The chain of steps that decided a run's wall time, split into where its time went.

    ``links`` steps; ``dispatch`` from a step's last dependency finishing (or the run starting)
    to its claim; ``before`` from the claim to ``execute`` (reconcile, preview and their
    records); ``execute`` the executor's work; ``after`` from its end to the step's recorded
    finish (records, verify, the final transition); ``tail`` from the last finish to ``run``
    returning. The five add up to the wall time.
    """

    links: int
    dispatch_s: float
    before_s: float
    execute_s: float
    after_s: float
    tail_s: float


@dataclass(frozen=True, kw_only=True)
class Run:
    """One engine run of one plan."""

    steps: int
    step_s: float
    max_parallel: int
    wall_s: float
    cpu_s: float
    store_s: Mapping[str, float]
    loop_store_s: float
    claims_s: float
    loop_reads: int
    connections: int
    chain: Chain


def realised_chain(
    store: Store, plan: Plan, plan_id: str, *, started: datetime, ended: datetime
) -> Chain:
    """Walk back from the last step to finish through the dependency that finished last."""
    rows = {r.step_id: r for r in store.steps.of(plan_id)}
    execute = {e.step_id: e for e in store.steps.executions(plan_id) if e.phase == "execute"}
    after = {s.id: s.after for s in plan.steps}

    def finished(step_id: str) -> datetime:
        at = rows[step_id].finished_at
        assert at is not None, f"step {step_id} has no finish time"
        return at

    last = max(rows, key=finished)
    current: str | None = last
    links, dispatch, before, work, post = 0, 0.0, 0.0, 0.0, 0.0
    while current is not None:
        claimed = rows[current].started_at
        assert claimed is not None
        previous = max(after[current], key=finished, default=None)
        ready = started if previous is None else finished(previous)
        phase = execute[current]
        links += 1
        dispatch += (claimed - ready).total_seconds()
        before += (phase.started_at - claimed).total_seconds()
        work += (phase.finished_at - phase.started_at).total_seconds()
        post += (finished(current) - phase.finished_at).total_seconds()
        current = previous
    return Chain(
        links=links,
        dispatch_s=dispatch,
        before_s=before,
        execute_s=work,
        after_s=post,
        tail_s=(ended - finished(last)).total_seconds(),
    )


def run_plan(url: str, plan: Plan, *, step_s: float, max_parallel: int) -> Run:
    """Save ``plan`` in the fresh database at ``url``, approve every step and time ``run``."""
    with Store.from_url(url, upgrade=False) as store:
        executor = SimulatedExecutor(versions=start_versions(plan), durations={_ACTION: step_s})
        engine = Engine(
            store=store,
            executors={"simulated": executor},
            config=EngineConfig(max_parallel=max_parallel),
        )
        plan_id = store.plans.save(plan)
        engine.queue(plan_id, [s.id for s in plan.steps], actor="U_BENCH")
        timer = StoreTimer(store)
        timer.reset()
        gc.collect()
        started_at = datetime.now(UTC)
        started, cpu = time.perf_counter(), time.process_time()
        report = engine.run(plan_id)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        ended_at = datetime.now(UTC)
        store_s = {name: timer.total(name) for name in _TIMED_METHODS}
        loop_store_s = timer.total(loop=True)
        claims_s = timer.total("steps.transition", loop=True)
        loop_reads = timer.count("steps.of", loop=True)
        connections = timer.connections
        chain = realised_chain(store, plan, plan_id, started=started_at, ended=ended_at)
        if report.status != "done" or len(executor.executed) != len(plan.steps):
            raise SystemExit(
                f"engine run ended {report.status} after {len(executor.executed)} of "
                f"{len(plan.steps)} steps: {dict(report.reasons)}"
            )
        return Run(
            steps=len(plan.steps),
            step_s=step_s,
            max_parallel=max_parallel,
            wall_s=wall,
            cpu_s=cpu,
            store_s=store_s,
            loop_store_s=loop_store_s,
            claims_s=claims_s,
            loop_reads=loop_reads,
            connections=connections,
            chain=chain,
        )


def median_run(runs: Sequence[Run]) -> Run:
    """The run with the median wall time (the lower middle one of an even number)."""
    ordered = sorted(runs, key=lambda r: r.wall_s)
    return ordered[(len(ordered) - 1) // 2]


# -- measurements -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Timed:
    """Part 1 on one backend and one plan size (``runs`` empty when the backend was skipped)."""

    backend: str
    steps: int
    step_s: float
    critical_s: float
    serial_s: float
    width: int
    runs: tuple[Run, ...]
    default: Run | None


@dataclass(frozen=True, kw_only=True)
class Overhead:
    """Part 2 on one backend and one plan size of 0-second steps."""

    backend: str
    steps: int
    runs: tuple[Run, ...]


Fresh = Callable[[], AbstractContextManager[str]]


def measure_timed(backend: str, fresh: Fresh | None, steps: int, step_s: float) -> Timed:
    plan = synthetic_plan(steps, seed=steps, width=WIDTH)
    width = peak_width(plan.steps)
    runs: list[Run] = []
    default: Run | None = None
    if fresh is not None:
        for _ in range(TIMED_RUNS.get(steps, 3)):
            with fresh() as url:
                runs.append(run_plan(url, plan, step_s=step_s, max_parallel=width))
        if width > DEFAULT_MAX_PARALLEL:
            defaults = []
            for _ in range(DEFAULT_RUNS):
                with fresh() as url:
                    defaults.append(
                        run_plan(url, plan, step_s=step_s, max_parallel=DEFAULT_MAX_PARALLEL)
                    )
            default = median_run(defaults)
    return Timed(
        backend=backend,
        steps=steps,
        step_s=step_s,
        critical_s=critical_path_seconds(plan.steps, lambda _step: step_s),
        serial_s=step_s * len(plan.steps),
        width=width,
        runs=tuple(runs),
        default=default,
    )


def measure_overhead(backend: str, fresh: Fresh | None, steps: int) -> Overhead:
    plan = synthetic_plan(steps, seed=steps, width=WIDTH)
    runs: list[Run] = []
    if fresh is not None:
        for _ in range(ZERO_RUNS.get(steps, 3)):
            with fresh() as url:
                runs.append(run_plan(url, plan, step_s=0.0, max_parallel=1))
    return Overhead(backend=backend, steps=steps, runs=tuple(runs))


# -- the table ----------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if abs(seconds) >= 0.1 else f"{seconds * 1000:.1f} ms"


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def _skipped_row(cells: int, lead: Sequence[str]) -> str:
    return "| " + " | ".join([*lead, SKIPPED, *([""] * (cells - len(lead) - 1))]) + " |"


def timed_lines(rows: Sequence[Timed]) -> list[str]:
    header = [
        "plan",
        "backend",
        "max_parallel",
        "critical path (lower bound)",
        "one after another",
        "engine wall, median (min–max)",
        "wall / critical path",
        "overhead",
        f"target ≤ {TARGET_RATIO:.2f}",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        plan = f"{row.steps} steps × {row.step_s:g} s"
        if not row.runs:
            lines.append(_skipped_row(len(header), [plan, row.backend]))
            continue
        best = median_run(row.runs)
        ratio = best.wall_s / row.critical_s
        spread = f" ({_s(min(r.wall_s for r in row.runs))}–{_s(max(r.wall_s for r in row.runs))})"
        lines.append(
            f"| {plan} | {row.backend} | {row.width} (peak width) | {_s(row.critical_s)} "
            f"| {_s(row.serial_s)} | **{_s(best.wall_s)}**{spread}, {len(row.runs)} runs "
            f"| **{ratio:.2f}** "
            f"| {_ms(best.wall_s - row.critical_s)} "
            f"| {'meets' if ratio <= TARGET_RATIO else 'MISSES'} |"
        )
        if row.default is not None:
            run = row.default
            lines.append(
                f"| {plan} | {row.backend} | {DEFAULT_MAX_PARALLEL} (default) "
                f"| {_s(row.critical_s)} | {_s(row.serial_s)} | {_s(run.wall_s)} (1 run) "
                f"| {run.wall_s / row.critical_s:.2f} | {_ms(run.wall_s - row.critical_s)} "
                "| n/a (slots bound it) |"
            )
    return lines


def chain_lines(rows: Sequence[Timed]) -> list[str]:
    header = [
        "plan",
        "backend",
        "chain links",
        "wait to be claimed",
        "claim → execute",
        "execute",
        "execute → finished",
        "tail",
        "overhead per link",
        "process CPU",
        "engine loop in store (claims)",
        "loop reads of all steps",
        "DB connections opened",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        plan = f"{row.steps} steps × {row.step_s:g} s"
        if not row.runs:
            lines.append(_skipped_row(len(header), [plan, row.backend]))
            continue
        for run in (median_run(row.runs), row.default):
            if run is None:
                continue
            c = run.chain
            overhead = run.wall_s - c.execute_s
            lines.append(
                f"| {plan}, max_parallel {run.max_parallel} | {row.backend} | {c.links} "
                f"| {_ms(c.dispatch_s)} | {_ms(c.before_s)} | {_ms(c.execute_s)} "
                f"| {_ms(c.after_s)} | {_ms(c.tail_s)} | {_ms(overhead / c.links)} "
                f"| {_s(run.cpu_s)} "
                f"| {_ms(run.loop_store_s)} ({_ms(run.claims_s)}) | {run.loop_reads} "
                f"| {run.connections} |"
            )
    return lines


def overhead_lines(rows: Sequence[Overhead]) -> list[str]:
    header = [
        "plan (0 s steps, max_parallel 1)",
        "backend",
        "**per step** (wall / steps, median)",
        "in `transition` (2 a step)",
        "in `record_executions` (1 write a step)",
        "in `steps()` reads",
        "other store calls",
        "rest (engine, executor)",
        "process CPU per step",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        plan = f"{row.steps} steps, {len(row.runs) or ZERO_RUNS.get(row.steps, 3)} runs"
        if not row.runs:
            lines.append(_skipped_row(len(header), [plan, row.backend]))
            continue
        per_step = statistics.median(r.wall_s / r.steps for r in row.runs)
        run = median_run(row.runs)
        n = run.steps
        parts = {
            name: run.store_s[name] / n for name in ("steps.transition", "steps.record_executions")
        }
        reads = run.store_s["steps.of"] / n
        other = sum(run.store_s.values()) / n - sum(parts.values()) - reads
        rest = run.wall_s / n - sum(run.store_s.values()) / n
        lines.append(
            f"| {plan} | {row.backend} | **{_ms(per_step)}** | {_ms(parts['steps.transition'])} "
            f"| {_ms(parts['steps.record_executions'])} "
            f"| {_ms(reads)} ({run.loop_reads} reads of {n} rows) | {_ms(other)} "
            f"| {_ms(rest)} | {_ms(run.cpu_s / n)} |"
        )
    return lines


def table(timed: Sequence[Timed], overhead: Sequence[Overhead]) -> str:
    """The results as markdown."""
    return "\n".join(
        [
            "# Engine benchmark",
            "",
            f"Generated by `python -m benchmarks.engine` on "
            f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
            f"Machine: {machine()}.",
            f"Plans: `fakes.plans.synthetic_plan(steps, seed=steps, width={WIDTH})`, one "
            "stage; `SimulatedExecutor` with a fixed duration per step; no-op health gate; "
            "default `EngineConfig` apart from `max_parallel`; a fresh database per run "
            "(SQLite: a file in a temporary folder).",
            "",
            "## Wall time against the critical path",
            "",
            "The critical path is the longest chain of real durations through `after`; peak "
            "width is the most steps running at once in the as-soon-as-possible schedule, so "
            "with that `max_parallel` slots never hold a step back. Overhead = wall - critical "
            "path.",
            "",
            *timed_lines(timed),
            "",
            "## Where the wall time goes",
            "",
            "The chain of steps that decided the wall time (from the last step to finish back "
            "through the dependency that finished last), from the median run above. Times are "
            "the store's own stamps: a step is *claimed* and *finished* when its claim and its "
            "final transition begin their transactions. *Wait to be claimed*: from its "
            "dependency finishing (or the run starting) to its claim, i.e. the dependency's "
            "final commit, the engine loop noticing, re-reading the steps and claiming the "
            "steps before it; *claim → execute*: the claim's commit, reconcile, preview and two "
            "phase records; *execute → finished*: the execute and verify records; *tail*: last "
            "finish → `run` returns. These five add up to the wall time. *Engine loop in "
            "store*: time the loop thread spent in store calls, of which claims. *Process "
            "CPU*: every thread of the process.",
            "",
            *chain_lines(timed),
            "",
            "## Overhead per step",
            "",
            "Steps that take 0 s, one at a time, so wall / steps is the engine's own cost per "
            "step: 1 claim and 1 final `transition` (each with its audit entry), 4 phase "
            "records, the loop's `steps()` reads. The breakdown is time inside the store's "
            "methods (wrapped by a timing proxy in the benchmark) per step, from the median "
            "run; *rest* is the remainder of the wall time (engine, executor, thread hand-offs).",
            "",
            *overhead_lines(overhead),
            "",
        ]
    )


def main() -> int:
    """Run every measurement, print the table and write ``benchmarks/results-engine.md``."""
    admin_url, why = postgres_admin_url()
    if admin_url is None:
        print(f"PostgreSQL not reachable ({why}): its rows are skipped", file=sys.stderr)
    timed: list[Timed] = []
    overhead: list[Overhead] = []
    with tempfile.TemporaryDirectory(prefix="backout-bench-engine-") as folder:
        sqlite = SqliteDatabases(Path(folder))
        postgres = PostgresDatabases(admin_url) if admin_url is not None else None
        fresh: dict[str, Fresh | None] = {
            "SQLite": sqlite.fresh,
            "PostgreSQL": postgres.fresh if postgres is not None else None,
        }
        try:
            for steps, step_s in TIMED:
                for backend in BACKENDS:
                    row = measure_timed(backend, fresh[backend], steps, step_s)
                    timed.append(row)
                    if row.runs:
                        wall = median_run(row.runs).wall_s
                        print(
                            f"{backend:>10}, {steps:>3} steps × {step_s:g} s: wall {_s(wall)}, "
                            f"critical path {_s(row.critical_s)} ({wall / row.critical_s:.2f}×)",
                            file=sys.stderr,
                        )
            for steps in ZERO_STEPS:
                for backend in BACKENDS:
                    cost = measure_overhead(backend, fresh[backend], steps)
                    overhead.append(cost)
                    if cost.runs:
                        per_step = statistics.median(r.wall_s / r.steps for r in cost.runs)
                        print(
                            f"{backend:>10}, {steps:>3} steps × 0 s: {_ms(per_step)} a step",
                            file=sys.stderr,
                        )
        finally:
            if postgres is not None:
                postgres.close()
    result = table(timed, overhead)
    print(result)
    RESULTS.write_text(result, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
