"""Crash safety with real processes: SIGKILL the engine anywhere, restart it, and every step
still runs exactly once; two engine processes on one database never run a step twice."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.store import Store
from fakes.plans import start_versions, synthetic_plan
from integrations.executors.simulated import SimulatedExecutor
from tests.support.paths import ROOT


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def worker(store: Store, plan_id: str, state: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.bot.core.engine_worker", url_of(store), plan_id, str(state)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def executed_keys(state: Path) -> list[str]:
    keys: list[str] = json.loads(state.read_text())["executed"]
    return keys


def prepared(store: Store, tmp_path: Path, steps: int, seed: int) -> tuple[str, Path, list[str]]:
    plan = synthetic_plan(steps, seed=seed, width=5)
    state = tmp_path / "targets.json"
    SimulatedExecutor(versions=start_versions(plan), state_file=state)  # writes the start state
    plan_id = store.plans.save(plan)
    for step in plan.steps:
        store.steps.transition(
            plan_id, step.id, from_statuses=["pending"], to="queued", actor="U_A"
        )
    return plan_id, state, [f"{plan_id}/{s.id}" for s in plan.steps]


def test_sigkill_at_random_points_loses_nothing_and_repeats_nothing(store, tmp_path):
    """Kill -9 the engine at random moments, restart it, repeat: in the end every step is done
    and the executor saw each step exactly once."""
    plan_id, state, expected = prepared(store, tmp_path, steps=60, seed=11)
    rng = random.Random(5)
    kills = 0
    for _ in range(12):
        proc = worker(store, plan_id, state)
        time.sleep(rng.uniform(0.4, 2.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate()
        if all(r.status == "done" for r in store.steps.of(plan_id)):
            break
    final = worker(store, plan_id, state)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert out.strip() == "done"
    assert kills >= 3
    assert sorted(executed_keys(state)) == sorted(expected)
    assert {r.status for r in store.steps.of(plan_id)} == {"done"}
    assert store.audit.verify().ok
    # Every step whose target changed has its execute phase recorded, even when the engine was
    # killed after the change and before the attempt ended (the start is written first).
    recorded = {
        f"{plan_id}/{e.step_id}" for e in store.steps.executions(plan_id) if e.phase == "execute"
    }
    assert recorded == set(expected)


def test_two_engine_processes_share_a_plan_without_repeats(store, tmp_path):
    """Two engine processes on one database race through the same plan; no step runs twice."""
    plan_id, state, expected = prepared(store, tmp_path, steps=30, seed=2)
    procs = [worker(store, plan_id, state) for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    assert sorted(executed_keys(state)) == sorted(expected)
    claims = [e for e in store.audit.entries(subject_prefix=plan_id) if e.action == "step.running"]
    assert len(claims) == len(expected)
