"""SimulatedExecutor: targets, durations, failure injection, threads, and the on-disk state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from integrations.base import Operation
from integrations.errors import ConfigError, PermanentIntegrationError, TemporaryIntegrationError
from integrations.executors.simulated import PREVIOUS, SimulatedExecutor
from planners.model import Action
from tests.support.paths import ROOT


def deploy(service: str = "cart", version: str | None = "v1.4.2", key: str = "p1:s1") -> Operation:
    return Operation(
        step_id=key.split(":")[-1],
        action=Action.ROLLBACK_DEPLOY,
        service=service,
        target_version=version,
        key=key,
    )


def test_execute_moves_the_service_to_the_target_version() -> None:
    """A rollback sets the version; current_state and preview then report it done."""
    executor = SimulatedExecutor(versions={"cart": "v1.5.0"})
    assert executor.preview(deploy()).summary == "cart: version v1.5.0 -> v1.4.2"
    outcome = executor.execute(deploy())
    assert executor.version("cart") == "v1.4.2"
    assert executor.current_state(deploy()).at_target
    assert executor.preview(deploy()).already_done
    assert outcome.details == {"changed": True, "before": "v1.5.0", "after": "v1.4.2"}
    assert executor.executed == ["p1:s1"]


def test_a_rollback_without_a_version_goes_to_previous() -> None:
    """With no target_version the service ends at the PREVIOUS marker."""
    executor = SimulatedExecutor(versions={"cart": "v1.5.0"})
    executor.execute(deploy(version=None))
    assert executor.version("cart") == PREVIOUS


def test_disable_flag_turns_the_flag_off() -> None:
    """A disable_flag operation removes the flag from the set that is on."""
    executor = SimulatedExecutor(flags_on=["new-checkout", "dark-mode"])
    operation = Operation(
        step_id="s1", action=Action.DISABLE_FLAG, service="checkout", flag="new-checkout"
    )
    assert executor.current_state(operation).current == "on"
    executor.execute(operation)
    assert not executor.flag_on("new-checkout")
    assert executor.flag_on("dark-mode")


def test_durations_are_slept_per_action() -> None:
    """Each action takes its configured time, through the injected sleep."""
    slept: list[float] = []
    executor = SimulatedExecutor(
        versions={"cart": "v2"},
        flags_on=["f"],
        durations={Action.ROLLBACK_DEPLOY: 90.0, Action.DISABLE_FLAG: 5.0},
        sleep=slept.append,
    )
    executor.execute(deploy())
    executor.execute(Operation(step_id="s2", action=Action.DISABLE_FLAG, service="x", flag="f"))
    executor.execute(Operation(step_id="s3", action=Action.REVERT_CONFIG, service="y"))
    assert slept == [90.0, 5.0, 0.0]


def test_injected_failures_raise_then_stop() -> None:
    """fail(times=2) raises twice without changing anything, then the step succeeds."""
    executor = SimulatedExecutor(versions={"cart": "v1.5.0"}, sleep=lambda _: None)
    error = TemporaryIntegrationError("pod quota", integration="simulated", retry_after=5)
    executor.fail("cart", error=error, times=2)
    executor.fail("cart", error=PermanentIntegrationError("denied", integration="simulated"))
    for expected in (TemporaryIntegrationError, TemporaryIntegrationError):
        with pytest.raises(expected):
            executor.execute(deploy())
    with pytest.raises(PermanentIntegrationError, match="denied"):
        executor.execute(deploy())
    assert executor.version("cart") == "v1.5.0"
    assert executor.executed == []
    executor.execute(deploy())
    assert executor.version("cart") == "v1.4.2"


def test_executing_at_target_changes_nothing_but_is_recorded() -> None:
    """A second execute is a no-op on the target, and still counted (to expose duplicates)."""
    executor = SimulatedExecutor(versions={"cart": "v1.5.0"})
    executor.execute(deploy())
    again = executor.execute(deploy())
    assert again.details["changed"] is False
    assert "already there" in again.summary
    assert executor.executed == ["p1:s1", "p1:s1"]


def test_concurrent_executions_are_all_recorded() -> None:
    """Executions from many threads are each recorded once."""
    executor = SimulatedExecutor(versions={f"svc{i}": "bad" for i in range(20)})
    threads = [
        threading.Thread(target=executor.execute, args=(deploy(f"svc{i}", "good", f"p:s{i}"),))
        for i in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(executor.executed) == sorted(f"p:s{i}" for i in range(20))
    assert all(executor.version(f"svc{i}") == "good" for i in range(20))


def test_state_file_is_shared_between_instances(tmp_path: Path) -> None:
    """Two instances on one state file see each other's changes; no temp file is left."""
    state, log = tmp_path / "state.json", tmp_path / "effects.log"
    first = SimulatedExecutor(versions={"cart": "v2", "api": "v9"}, state_file=state, log_file=log)
    second = SimulatedExecutor(state_file=state, log_file=log)
    first.execute(deploy("cart", "v1", "p:s1"))
    second.execute(deploy("api", "v8", "p:s2"))
    assert first.version("api") == "v8"
    assert second.current_state(deploy("cart", "v1")).at_target
    assert json.loads(state.read_text())["executed"] == ["p:s1", "p:s2"]
    assert log.read_text().splitlines() == ["p:s1", "p:s2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "effects.log",
        "state.json",
        "state.json.lock",
    ]


CHILD = textwrap.dedent(
    """
    import sys
    from integrations.base import Operation
    from integrations.executors.simulated import SimulatedExecutor
    from planners.model import Action

    executor = SimulatedExecutor.from_config(
        {"state_file": sys.argv[1], "log_file": sys.argv[2],
         "durations": {"revert_config": 60}}
    )
    executor.execute(Operation(step_id="s1", action=Action.ROLLBACK_DEPLOY, service="cart",
                               target_version="v1", key="p:s1"))
    print("first done", flush=True)
    executor.execute(Operation(step_id="s2", action=Action.REVERT_CONFIG, service="cart-config",
                               target_version="c1", key="p:s2"))
    """
)


def test_side_effects_survive_a_sigkill(tmp_path: Path) -> None:
    """A process killed mid-step leaves exactly the side effects it finished, on disk."""
    state, log = tmp_path / "state.json", tmp_path / "effects.log"
    SimulatedExecutor(versions={"cart": "v2", "cart-config": "c2"}, state_file=state)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(state), str(log)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "first done"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    child.stdout.close()
    assert log.read_text().splitlines() == ["p:s1"]
    survivor = SimulatedExecutor(state_file=state, log_file=log)
    assert survivor.version("cart") == "v1"
    assert survivor.version("cart-config") == "c2"
    survivor.execute(deploy("cart-config", "c1", "p:s2"))
    assert log.read_text().splitlines() == ["p:s1", "p:s2"]


def test_manual_steps_and_flagless_flag_steps_are_refused() -> None:
    """A manual step is for people; a disable_flag step must name its flag."""
    executor = SimulatedExecutor()
    with pytest.raises(ConfigError, match="manual"):
        executor.execute(Operation(step_id="s1", action=Action.MANUAL, service="db"))
    with pytest.raises(ConfigError, match="names no flag"):
        executor.execute(Operation(step_id="s2", action=Action.DISABLE_FLAG, service="x"))
    assert executor.executed == []


def test_from_config_reads_versions_flags_and_durations() -> None:
    """from_config takes plain YAML-shaped values; an unknown action is a ConfigError."""
    slept: list[float] = []
    executor = SimulatedExecutor.from_config(
        {"versions": {"cart": "v2"}, "flags_on": ["f"], "durations": {"rollback_deploy": 3}}
    )
    executor._sleep = slept.append
    executor.execute(deploy())
    assert slept == [3.0]
    assert executor.flag_on("f")
    with pytest.raises(ConfigError, match="durations"):
        SimulatedExecutor.from_config({"durations": {"reboot": 1}})
