"""The Helm executor: ``helm rollback RELEASE REVISION --wait`` through the helm CLI.

One of the executors of ``integrations/executors/`` behind :class:`integrations.base.Executor`,
built by the registry with :meth:`HelmExecutor.from_config`. It runs the ``helm`` binary (never
through a shell) with a runner that tests may replace, reads ``helm history -o json`` to find the
revision to return to and to tell whether the release is already there, and maps helm's failures
(its exit status and stderr) onto ``integrations.errors``.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

from integrations.base import Operation, Outcome, Preview, TargetState
from integrations.errors import (
    ConfigError,
    ConflictError,
    IntegrationError,
    NotFoundError,
    PermanentIntegrationError,
    UnauthorizedError,
    UnavailableError,
)
from planners.model import Action

__all__ = ["HelmExecutor", "Runner"]

_NAME = "helm"
_GOOD = ("deployed", "superseded")
_ROLLBACK_TO = re.compile(r"^Rollback to (\d+)\b")

Entry = Mapping[str, Any]


class Runner(Protocol):
    """Runs a command (no shell) and returns its completed process; ``subprocess.run``'s shape."""

    def __call__(self, args: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run ``args`` to completion, or raise ``subprocess.TimeoutExpired``/``OSError``."""
        ...


def run_subprocess(args: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    """The default runner: ``subprocess.run`` with captured text output and a timeout."""
    return subprocess.run(  # noqa: S603 (a fixed argv list, no shell; the binary is configured)
        list(args), capture_output=True, text=True, timeout=timeout, check=False
    )


class HelmExecutor:
    """Rolls Helm releases back with the helm CLI.

    Operation params: ``release`` (default: the service name), optional ``namespace``. The
    revision is ``operation.target_version`` when it is a revision number; else the latest
    deployed/superseded revision whose app version (or chart version) is ``target_version``;
    else the last deployed/superseded revision before the current one.
    """

    kind: ClassVar[str] = "helm"

    def __init__(
        self,
        *,
        helm_binary: str = "helm",
        runner: Runner = run_subprocess,
        wait_timeout: str = "5m0s",
        command_timeout: float = 330.0,
        kube_context: str | None = None,
        kubeconfig: str | None = None,
    ) -> None:
        self._binary = helm_binary
        self._runner = runner
        self._wait_timeout = wait_timeout
        self._command_timeout = command_timeout
        self._global = [
            *(["--kube-context", kube_context] if kube_context else []),
            *(["--kubeconfig", kubeconfig] if kubeconfig else []),
        ]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HelmExecutor:
        """Build from optional ``helm_binary``, ``wait_timeout`` (a helm duration, ``5m0s``),
        ``command_timeout`` (seconds), ``kube_context`` and ``kubeconfig``."""
        return cls(
            helm_binary=str(config.get("helm_binary", "helm")),
            wait_timeout=str(config.get("wait_timeout", "5m0s")),
            command_timeout=float(config.get("command_timeout", 330.0)),
            kube_context=config.get("kube_context"),
            kubeconfig=config.get("kubeconfig"),
        )

    def current_state(self, operation: Operation) -> TargetState:
        """Read ``helm history``: at target when the deployed revision is (a rollback to) it."""
        history = self._history(operation)
        current = _current(history)
        target = _pick_target(history, operation, release=_release(operation))
        pending = str(history[-1].get("status", "")).startswith("pending-")
        return TargetState(
            at_target=current is not None and _at(current, target, operation),
            in_progress=pending,
            current=_describe(current) if current else None,
            detail=f"deployed {_describe(current) if current else 'nothing'}, "
            f"target {_describe(target)}" + (f", {history[-1]['status']}" if pending else ""),
        )

    def preview(self, operation: Operation) -> Preview:
        """Describe the rollback (``release X: revision 5 -> 3``), touching nothing."""
        release = _release(operation)
        history = self._history(operation)
        current = _current(history)
        target = _pick_target(history, operation, release=release)
        if current is not None and _at(current, target, operation):
            return Preview(
                summary=f"release {release} already runs {_describe(target)}", already_done=True
            )
        summary = (
            f"release {release}: {_describe(current) if current else 'nothing deployed'} -> "
            f"{_describe(target)}"
        )
        return Preview(summary=summary, changes=(" ".join(self._rollback_args(operation, target)),))

    def execute(self, operation: Operation) -> Outcome:
        """Run ``helm rollback ... --wait`` and return once helm reports the release ready."""
        if operation.action is not Action.ROLLBACK_DEPLOY:
            raise ConfigError(f"helm cannot {operation.action.value}", integration=_NAME)
        release = _release(operation)
        history = self._history(operation)
        current = _current(history)
        target = _pick_target(history, operation, release=release)
        if current is not None and _at(current, target, operation):
            return Outcome(summary=f"release {release} already runs {_describe(target)}")
        result = self._run(self._rollback_args(operation, target))
        return Outcome(
            summary=f"release {release} rolled back to {_describe(target)}",
            details={"release": release, "revision": target["revision"], "output": result.strip()},
        )

    def _rollback_args(self, operation: Operation, target: Entry) -> list[str]:
        return [
            self._binary,
            "rollback",
            _release(operation),
            str(target["revision"]),
            "--wait",
            "--timeout",
            self._wait_timeout,
            *_namespace(operation),
            *self._global,
        ]

    def _history(self, operation: Operation) -> list[Entry]:
        args = [self._binary, "history", _release(operation), "-o", "json"]
        output = self._run([*args, *_namespace(operation), *self._global])
        try:
            data = json.loads(output)
        except ValueError as exc:
            raise PermanentIntegrationError(
                f"helm history printed no JSON: {output[:200]!r}", integration=_NAME
            ) from exc
        entries = [
            {**e, "revision": int(e["revision"])}
            for e in (data if isinstance(data, list) else [])
            if isinstance(e, dict) and str(e.get("revision", "")).isdigit()
        ]
        if not entries:
            raise NotFoundError(f"release {_release(operation)}: no history", integration=_NAME)
        return sorted(entries, key=lambda e: int(e["revision"]))

    def _run(self, args: Sequence[str]) -> str:
        try:
            done = self._runner(args, timeout=self._command_timeout)
        except subprocess.TimeoutExpired as exc:
            raise UnavailableError(
                f"{args[1]} timed out after {self._command_timeout:g}s", integration=_NAME
            ) from exc
        except OSError as exc:
            raise ConfigError(
                f"cannot run helm binary {self._binary!r}: {exc.strerror or exc}",
                integration=_NAME,
            ) from exc
        if done.returncode != 0:
            raise _error(args[1], done.stderr or done.stdout or "")
        return done.stdout or ""


def _error(command: str, stderr: str) -> IntegrationError:
    """Map helm's stderr onto our error types (helm has one exit status for every failure)."""
    text = stderr.strip()
    message = f"helm {command} failed: {text[:500]}"
    lowered = text.lower()
    if "unauthorized" in lowered or "forbidden" in lowered:
        return UnauthorizedError(message, integration=_NAME)
    if "not found" in lowered and "release" in lowered:
        return NotFoundError(message, integration=_NAME)
    if "another operation" in lowered and "in progress" in lowered:
        return ConflictError(message, integration=_NAME)
    if any(s in lowered for s in ("cluster unreachable", "timed out", "connection refused")):
        return UnavailableError(message, integration=_NAME)
    return PermanentIntegrationError(message, integration=_NAME)


def _release(operation: Operation) -> str:
    release = operation.params.get("release", operation.service)
    if not isinstance(release, str) or not release or release.startswith("-"):
        raise ConfigError(f"helm release name {release!r} is not valid", integration=_NAME)
    return release


def _namespace(operation: Operation) -> list[str]:
    namespace = operation.params.get("namespace")
    if namespace is None:
        return []
    if not isinstance(namespace, str) or not namespace or namespace.startswith("-"):
        raise ConfigError(f"helm namespace {namespace!r} is not valid", integration=_NAME)
    return ["--namespace", namespace]


def _current(history: Sequence[Entry]) -> Entry | None:
    deployed = [e for e in history if e.get("status") == "deployed"]
    return deployed[-1] if deployed else None


def _version_matches(entry: Entry, version: str) -> bool:
    bare = version.removeprefix("v")
    app_version = str(entry.get("app_version") or "").removeprefix("v")
    chart = str(entry.get("chart") or "")
    return bool(bare) and (app_version == bare or chart.endswith(f"-{bare}"))


def _pick_target(history: Sequence[Entry], operation: Operation, *, release: str) -> Entry:
    wanted = (operation.target_version or "").strip()
    if wanted.isdigit():
        for entry in history:
            if entry["revision"] == int(wanted):
                return entry
        raise NotFoundError(f"release {release} has no revision {wanted}", integration=_NAME)
    good = [e for e in history if e.get("status") in _GOOD]
    if wanted:
        for entry in reversed(good):
            if _version_matches(entry, wanted):
                return entry
    current = _current(history)
    if current is None:
        raise ConflictError(f"release {release} has no deployed revision", integration=_NAME)
    rolled_back_to = _ROLLBACK_TO.match(str(current.get("description", "")))
    if rolled_back_to and not wanted:
        # The deployed revision is itself a rollback: without a version to go by, that rollback
        # is the one this step asked for; going back again would re-deploy the bad release.
        return current
    for entry in reversed(good):
        if int(entry["revision"]) < int(current["revision"]):
            return entry
    raise ConflictError(
        f"release {release} has no earlier revision to roll back to", integration=_NAME
    )


def _at(current: Entry, target: Entry, operation: Operation) -> bool:
    """Whether ``current`` is ``target``, or a rollback to it, or runs the wanted version."""
    if int(current["revision"]) == int(target["revision"]):
        return True
    rolled_back_to = _ROLLBACK_TO.match(str(current.get("description", "")))
    if rolled_back_to and int(rolled_back_to.group(1)) == int(target["revision"]):
        return True
    wanted = (operation.target_version or "").strip()
    return bool(wanted) and not wanted.isdigit() and _version_matches(current, wanted)


def _describe(entry: Entry) -> str:
    chart, app_version = entry.get("chart"), entry.get("app_version")
    rollback = _ROLLBACK_TO.match(str(entry.get("description", "")))
    parts = (chart, app_version and f"app {app_version}", rollback and rollback.group(0).lower())
    extra = ", ".join(str(x) for x in parts if x)
    return f"revision {entry['revision']}" + (f" ({extra})" if extra else "")
