"""The Helm executor: ``helm rollback RELEASE REVISION --wait`` through the helm CLI.

One of the executors of ``integrations/executors/`` behind :class:`integrations.base.Executor`,
built by the registry with :meth:`HelmExecutor.from_config`. It runs the ``helm`` binary (never
through a shell) with a runner that tests may replace, reads ``helm history -o json`` to find the
revision to return to and to tell whether the release is already there, and maps helm's failures
(its exit status and stderr) onto ``integrations.errors``.

The release's *current* revision is its highest one, whatever its status, as for ``helm rollback``
itself (``Releases.Last`` in ``pkg/action/rollback.go``): a failed upgrade leaves the revision
before it ``deployed`` and itself ``failed`` (``failRelease`` in ``pkg/action/upgrade.go``), so
"the last deployed revision" is not what runs the bad chart. A revision stuck in
``pending-upgrade``/``pending-install`` (helm killed during ``--wait``) is rolled back over, the
known way out of "another operation is in progress" (helm/helm#7476, #11863). A rollback is not
idempotent (each run adds a revision), so a rollback revision ``Rollback to N`` that failed or was
cut short is retried towards the same ``N``, never towards the failed revision before it.
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
from integrations.executors.diagnosis import Check, check_call
from planners.model import Action

__all__ = ["COMMAND_MARGIN", "HelmExecutor", "Runner", "helm_duration", "run_subprocess"]

_NAME = "helm"
_GOOD = ("deployed", "superseded")
_ROLLBACK_TO = re.compile(r"^Rollback to (\d+)\b")
_FAILED_ROLLBACK = re.compile(r'^(Rollback|Release) ".*" failed')
"""A failed rollback's description (``rollback.go`` overwrites ``Rollback to N`` on failure)."""
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_TERM_GRACE = 10.0
COMMAND_MARGIN = 30.0
"""Seconds the helm process gets beyond its own ``--timeout`` before Backout stops it."""
_TIMEOUTS = ("timed out waiting for the condition", "context deadline exceeded")
"""How helm 3 (``wait.go``) and helm 4 (kstatus waiter) say ``--timeout`` ran out."""

Entry = Mapping[str, Any]


class Runner(Protocol):
    """Runs a command (no shell) and returns its completed process; ``subprocess.run``'s shape."""

    def __call__(self, args: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run ``args`` to completion, or raise ``subprocess.TimeoutExpired``/``OSError``."""
        ...


def run_subprocess(args: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    """The default runner: captured text output; past ``timeout`` the process gets SIGTERM (helm
    then records the release's failure itself) and, ``_TERM_GRACE`` seconds later, SIGKILL."""
    with subprocess.Popen(  # noqa: S603 (a fixed argv list, no shell; the binary is configured)
        list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                out, err = process.communicate(timeout=_TERM_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                out, err = process.communicate()
            raise subprocess.TimeoutExpired(list(args), timeout, output=out, stderr=err) from None
        return subprocess.CompletedProcess(list(args), process.returncode, out, err)


def helm_duration(value: str) -> float:
    """Seconds in a helm (Go) duration such as ``5m0s``, ``90s`` or ``1h``.

    Raises:
        ValueError: not a duration.
    """
    text = value.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration like 5m0s or 90s")
    return sum(float(n) * _UNITS[u] for n, u in parts)


class HelmExecutor:
    """Rolls Helm releases back with the helm CLI.

    Operation params: ``release`` (default: the service name), optional ``namespace``. The
    revision is ``operation.target_version`` when it is a revision number; else the latest
    deployed/superseded revision whose app version (or chart version) is ``target_version``;
    else the newest deployed/superseded revision below the current (highest) one.
    """

    kind: ClassVar[str] = "helm"

    def __init__(
        self,
        *,
        helm_binary: str = "helm",
        runner: Runner = run_subprocess,
        wait_timeout: str = "5m0s",
        command_timeout: float | None = None,
        kube_context: str | None = None,
        kubeconfig: str | None = None,
    ) -> None:
        self._binary = helm_binary
        self._wait_timeout = wait_timeout
        try:
            wait = helm_duration(wait_timeout)
        except ValueError as exc:
            raise ConfigError(f"helm wait_timeout: {exc}", integration=_NAME) from None
        if command_timeout is None:
            command_timeout = wait + COMMAND_MARGIN
        elif command_timeout <= wait:
            raise ConfigError(
                f"helm command_timeout ({command_timeout:g}s) must exceed wait_timeout "
                f"({wait_timeout}), or helm is stopped before it can record the failure; "
                f"leave it out for {wait + COMMAND_MARGIN:g}s",
                integration=_NAME,
            )
        self._binary = helm_binary
        self._runner = runner
        self._wait_timeout = wait_timeout
        self._command_timeout = command_timeout
        self._global = [
            *(["--kube-context", kube_context] if kube_context else []),
            *(["--kubeconfig", kubeconfig] if kubeconfig else []),
        ]

    def __repr__(self) -> str:
        return f"HelmExecutor(helm_binary={self._binary!r}, wait_timeout={self._wait_timeout!r})"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HelmExecutor:
        """Build from optional ``helm_binary``, ``wait_timeout`` (a helm duration, ``5m0s``),
        ``command_timeout`` (seconds, more than ``wait_timeout``; default 30 s more),
        ``kube_context`` and ``kubeconfig``."""
        command_timeout = config.get("command_timeout")
        return cls(
            helm_binary=str(config.get("helm_binary", "helm")),
            wait_timeout=str(config.get("wait_timeout", "5m0s")),
            command_timeout=float(command_timeout) if command_timeout is not None else None,
            kube_context=config.get("kube_context"),
            kubeconfig=config.get("kubeconfig"),
        )

    def current_state(self, operation: Operation) -> TargetState:
        """Read ``helm history``: at target when the current revision is (a rollback to) it."""
        history = self._history(operation)
        current = history[-1]
        target = _pick_target(history, operation, release=_release(operation))
        moving = _rolling_back_to(current, target)
        status = str(current.get("status", ""))
        return TargetState(
            at_target=_at(current, target, operation),
            in_progress=moving,
            current=_describe(current),
            detail=f"current {_describe(current)}, {status}, target {_describe(target)}",
        )

    def preview(self, operation: Operation) -> Preview:
        """Describe the rollback (``release X: revision 5 -> 3``), touching nothing."""
        release = _release(operation)
        history = self._history(operation)
        current = history[-1]
        target = _pick_target(history, operation, release=release)
        if _at(current, target, operation):
            return Preview(
                summary=f"release {release} already runs {_describe(target)}", already_done=True
            )
        summary = f"release {release}: {_describe(current)} -> {_describe(target)}"
        changes = [" ".join(self._rollback_args(operation, target))]
        status = str(current.get("status", ""))
        if status != "deployed":
            changes.append(f"revision {current['revision']} is {status}: it is rolled back over")
        return Preview(summary=summary, changes=tuple(changes))

    def execute(self, operation: Operation) -> Outcome:
        """Run ``helm rollback ... --wait`` and return once helm reports the release ready."""
        if operation.action is not Action.ROLLBACK_DEPLOY:
            raise ConfigError(f"helm cannot {operation.action.value}", integration=_NAME)
        release = _release(operation)
        history = self._history(operation)  # re-read on every try: each rollback adds a revision
        current = history[-1]
        target = _pick_target(history, operation, release=release)
        if _at(current, target, operation):
            return Outcome(summary=f"release {release} already runs {_describe(target)}")
        result = self._run(self._rollback_args(operation, target))
        return Outcome(
            summary=f"release {release} rolled back to {_describe(target)}",
            details={"release": release, "revision": target["revision"], "output": result.strip()},
        )

    def diagnose(self, operation: Operation) -> list[Check]:
        """For ``backout doctor``: ``helm status`` of the release (binary, cluster access,
        release)."""
        return [check_call(f"helm status {_release(operation)}", lambda: self.status(operation))]

    def status(self, operation: Operation) -> str:
        """``helm status RELEASE -o json``'s ``info.status`` (read-only)."""
        args = [self._binary, "status", _release(operation), "-o", "json"]
        output = self._run([*args, *_namespace(operation), *self._global])
        try:
            data = json.loads(output)
        except ValueError as exc:
            raise PermanentIntegrationError(
                f"helm status printed no JSON: {output[:200]!r}", integration=_NAME
            ) from exc
        info = data.get("info") if isinstance(data, dict) else None
        status = str(info.get("status", "unknown")) if isinstance(info, dict) else "unknown"
        return f"release {_release(operation)} is {status}"

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
                f"helm {args[1]} timed out after {self._command_timeout:g}s and was stopped",
                integration=_NAME,
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
    if any(s in lowered for s in _TIMEOUTS):
        return UnavailableError(message, integration=_NAME)
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


def _version_matches(entry: Entry, version: str) -> bool:
    bare = version.removeprefix("v")
    app_version = str(entry.get("app_version") or "").removeprefix("v")
    chart = str(entry.get("chart") or "")
    return bool(bare) and (app_version == bare or chart.endswith(f"-{bare}"))


def _rollback_of(entry: Entry) -> int | None:
    match = _ROLLBACK_TO.match(str(entry.get("description", "")))
    return int(match.group(1)) if match else None


def _pick_target(history: Sequence[Entry], operation: Operation, *, release: str) -> Entry:
    wanted = (operation.target_version or "").strip()
    by_revision = {int(e["revision"]): e for e in history}
    if wanted.isdigit():
        if int(wanted) in by_revision:
            return by_revision[int(wanted)]
        raise NotFoundError(f"release {release} has no revision {wanted}", integration=_NAME)
    good = [e for e in history if e.get("status") in _GOOD]
    if wanted:
        for entry in reversed(good):
            if _version_matches(entry, wanted):
                return entry
    current = history[-1]
    rolled_back_to = _rollback_of(current)
    if rolled_back_to is not None and not wanted:
        if current.get("status") == "deployed":
            # The current revision is itself a rollback: without a version to go by, that rollback
            # is the one this step asked for; going back again would re-deploy the bad release.
            return current
        if rolled_back_to in by_revision:
            # A rollback that failed or was cut short: try the same one again. Helm may have
            # marked the bad revision before it "superseded", so "the one below" would be wrong.
            return by_revision[rolled_back_to]
    below = [e for e in reversed(good) if int(e["revision"]) < int(current["revision"])]
    if not wanted and _failed_rollback(current):
        # A failed rollback carries its target's chart; when the update of the objects failed,
        # helm marked the bad revision "superseded", so "the newest good one below" would be it.
        for entry in below:
            if _same_chart(entry, current):
                return entry
    if below:
        return below[0]
    raise ConflictError(
        f"release {release} has no earlier revision to roll back to", integration=_NAME
    )


def _failed_rollback(entry: Entry) -> bool:
    return (
        entry.get("status") == "failed"
        and int(entry["revision"]) > 1
        and bool(_FAILED_ROLLBACK.match(str(entry.get("description", ""))))
    )


def _same_chart(a: Entry, b: Entry) -> bool:
    return (a.get("chart"), a.get("app_version")) == (b.get("chart"), b.get("app_version"))


def _at(current: Entry, target: Entry, operation: Operation) -> bool:
    """Whether the current revision is deployed and is ``target``, a rollback to it, or runs
    the wanted version."""
    if current.get("status") != "deployed":
        return False
    if int(current["revision"]) == int(target["revision"]):
        return True
    if _rollback_of(current) == int(target["revision"]):
        return True
    wanted = (operation.target_version or "").strip()
    return bool(wanted) and not wanted.isdigit() and _version_matches(current, wanted)


def _rolling_back_to(current: Entry, target: Entry) -> bool:
    """A ``pending-rollback`` revision heading for ``target``: someone is doing this step."""
    return current.get("status") == "pending-rollback" and _rollback_of(current) == int(
        target["revision"]
    )


def _describe(entry: Entry) -> str:
    chart, app_version = entry.get("chart"), entry.get("app_version")
    rollback = _ROLLBACK_TO.match(str(entry.get("description", "")))
    parts = (chart, app_version and f"app {app_version}", rollback and rollback.group(0).lower())
    extra = ", ".join(str(x) for x in parts if x)
    return f"revision {entry['revision']}" + (f" ({extra})" if extra else "")
