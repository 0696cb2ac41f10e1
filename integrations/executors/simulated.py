"""The simulated executor: in-memory targets for ``/rollback simulate``, the demo and the tests.

One of the executors of ``integrations/executors/`` behind :class:`integrations.base.Executor`.
It keeps each service's version and the set of flags that are on, takes as long as configured
per action (through an injected ``sleep``), fails on request (:meth:`SimulatedExecutor.fail`) and
records every execution. With ``state_file`` and ``log_file`` it keeps its state on disk (written
atomically, under a file lock), so that several processes can share it and a crash test can count
the side effects that happened before a ``SIGKILL``: one fsynced line per execution.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from integrations.base import Operation, Outcome, Preview, TargetState
from integrations.errors import ConfigError, IntegrationError
from planners.model import Action

__all__ = ["PREVIOUS", "SimulatedExecutor"]

PREVIOUS = "(previous)"
"""The version a rollback with no ``target_version`` leaves a service at."""

_NAME = "simulated"


class SimulatedExecutor:
    """Executes operations against in-memory (optionally file-backed) targets.

    A deploy, config or migration operation moves ``service`` to ``target_version`` (or
    :data:`PREVIOUS`); a ``disable_flag`` operation turns ``flag`` off. Executing an operation
    whose target is already there changes nothing, but is still recorded: ``executed`` (and the
    log file) counts every call that the engine made, so a test can catch a duplicate.

    On disk, the state file (versions, flags, ``executed``) is replaced atomically, so the change
    and its record land together; the log line follows it. A kill between the two loses the
    last log line, never a state change: the state file's ``executed`` is the exact count.
    """

    kind: ClassVar[str] = "simulated"

    def __init__(
        self,
        *,
        versions: Mapping[str, str] | None = None,
        flags_on: Iterable[str] = (),
        durations: Mapping[Action, float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        state_file: str | os.PathLike[str] | None = None,
        log_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self._versions: dict[str, str] = dict(versions or {})
        self._flags_on: set[str] = set(flags_on)
        self._durations = {Action(k): float(v) for k, v in (durations or {}).items()}
        self._sleep = sleep
        self._state_file = Path(state_file) if state_file is not None else None
        self._log_file = Path(log_file) if log_file is not None else None
        self._failures: dict[str, list[IntegrationError]] = {}
        self._lock = threading.Lock()
        self.executed: list[str] = []
        if self._state_file is not None:
            with self._locked():
                if self._state_file.exists():
                    self._load()
                else:
                    self._save()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SimulatedExecutor:
        """Build from optional ``versions`` (service -> version), ``flags_on`` (a list),
        ``durations`` (action -> seconds), ``state_file`` and ``log_file``."""
        try:
            durations = {Action(k): float(v) for k, v in dict(config.get("durations", {})).items()}
        except ValueError as exc:
            raise ConfigError(f"simulated 'durations': {exc}", integration=_NAME) from exc
        return cls(
            versions={str(k): str(v) for k, v in dict(config.get("versions", {})).items()},
            flags_on=[str(f) for f in config.get("flags_on", [])],
            durations=durations,
            state_file=config.get("state_file"),
            log_file=config.get("log_file"),
        )

    def fail(self, service: str, *, error: IntegrationError, times: int = 1) -> None:
        """Make the next ``times`` executions on ``service`` raise ``error`` (changing nothing)."""
        with self._lock:
            self._failures.setdefault(service, []).extend([error] * times)

    def version(self, service: str) -> str | None:
        """The service's current version."""
        with self._locked():
            self._load()
            return self._versions.get(service)

    def flag_on(self, flag: str) -> bool:
        """Whether ``flag`` is on."""
        with self._locked():
            self._load()
            return flag in self._flags_on

    def current_state(self, operation: Operation) -> TargetState:
        """At target when the service runs the wanted version (or the flag is off)."""
        with self._locked():
            self._load()
            current = self._current(operation)
        wanted = _wanted(operation)
        return TargetState(at_target=current == wanted, current=current, detail=f"wants {wanted}")

    def preview(self, operation: Operation) -> Preview:
        """Describe the change, touching nothing."""
        state = self.current_state(operation)
        what = f"flag {operation.flag}" if operation.action is Action.DISABLE_FLAG else "version"
        summary = f"{operation.service}: {what} {state.current} -> {_wanted(operation)}"
        if state.at_target:
            return Preview(summary=f"{operation.service} is already there", already_done=True)
        return Preview(summary=summary, changes=(f"simulated {operation.action.value}",))

    def execute(self, operation: Operation) -> Outcome:
        """Wait the configured duration, then move the target (unless a failure is due)."""
        _wanted(operation)  # validate before sleeping
        with self._lock:
            failures = self._failures.get(operation.service)
            error = failures.pop(0) if failures else None
        if error is not None:
            raise error
        self._sleep(self._durations.get(operation.action, 0.0))
        key = operation.key or operation.step_id
        with self._locked():
            self._load()
            before = self._current(operation)
            changed = before != _wanted(operation)
            if changed:
                if operation.action is Action.DISABLE_FLAG:
                    self._flags_on.discard(str(operation.flag))
                else:
                    self._versions[operation.service] = _wanted(operation)
            self.executed.append(key)
            self._save()
            self._log(key)
        summary = f"simulated {operation.action.value} of {operation.service}"
        return Outcome(
            summary=summary + ("" if changed else " (already there)"),
            details={"changed": changed, "before": before, "after": _wanted(operation)},
        )

    def _current(self, operation: Operation) -> str | None:
        if operation.action is Action.DISABLE_FLAG:
            return "on" if operation.flag in self._flags_on else "off"
        return self._versions.get(operation.service)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The thread lock, and with a state file also an exclusive lock on ``<state>.lock``."""
        with self._lock:
            if self._state_file is None:
                yield
                return
            lock_path = self._state_file.with_name(self._state_file.name + ".lock")
            with open(lock_path, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> None:
        if self._state_file is None or not self._state_file.exists():
            return
        data = json.loads(self._state_file.read_text())
        self._versions = {str(k): str(v) for k, v in data.get("versions", {}).items()}
        self._flags_on = set(data.get("flags_on", []))
        self.executed = list(data.get("executed", []))

    def _save(self) -> None:
        if self._state_file is None:
            return
        data = {
            "versions": self._versions,
            "flags_on": sorted(self._flags_on),
            "executed": self.executed,
        }
        directory = self._state_file.parent
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=self._state_file.name, suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._state_file)

    def _log(self, key: str) -> None:
        if self._log_file is None:
            return
        with open(self._log_file, "a") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _wanted(operation: Operation) -> str:
    if operation.action is Action.DISABLE_FLAG:
        if not operation.flag:
            raise ConfigError(f"step {operation.step_id} names no flag", integration=_NAME)
        return "off"
    if operation.action is Action.MANUAL:
        raise ConfigError("a manual step is done by people, not by an executor", integration=_NAME)
    return operation.target_version or PREVIOUS
