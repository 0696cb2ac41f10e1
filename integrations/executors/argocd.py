"""The Argo CD executor: rolls an Application back to an earlier entry of its sync history.

One of the executors of ``integrations/executors/`` behind :class:`integrations.base.Executor`;
the engine (``bot/core/engine.py``) builds it from the registry with
:meth:`ArgoCDExecutor.from_config`.
It speaks Argo CD's REST API (``/api/v1/applications``) with a bearer token through the shared
``httpx`` client of ``integrations/http.py``. Argo CD refuses a rollback while auto-sync is on;
the refusal is recognised by its message (the status is 400 or 500 depending on the version), and
the executor then does what an operator does: it removes ``spec.syncPolicy.automated``, retries
once, and tells the humans in the outcome's notes that git still holds the bad revision and that
auto-sync stays off until they turn it back on themselves.

Argo CD runs one operation at a time ("another operation is already in progress",
``SetAppOperation`` in ``util/argo/argo.go``). A running operation that already syncs the wanted
revision is waited for; any other one (an auto-sync of the bad revision, a stuck hook) is
terminated first (``DELETE /api/v1/applications/{name}/operation``) only when
``terminate_running_operation`` is on, and the preview says so; otherwise the step fails at once
with the fix, instead of waiting out the timeout. Multi-source applications carry ``revisions``
lists instead of ``revision``; both are compared as the history entries are (joined by commas).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from integrations.base import Operation, Outcome, Preview, TargetState
from integrations.errors import (
    ConfigError,
    ConflictError,
    ForbiddenError,
    IntegrationError,
    PermanentIntegrationError,
    TemporaryIntegrationError,
    UnavailableError,
)
from integrations.executors.diagnosis import Check, check_call
from integrations.http import make_client, raise_for_status, send
from planners.model import Action

__all__ = ["AUTO_SYNC_REFUSAL", "ArgoCDExecutor"]

AUTO_SYNC_REFUSAL = "rollback cannot be initiated when auto-sync is enabled"
"""The text Argo CD answers a rollback with while ``spec.syncPolicy.automated`` is set."""

_BUSY = "another operation is already in progress"
_NAME = "argocd"
_TERMINAL_FAILURES = ("Failed", "Error")

Entry = Mapping[str, Any]


class ArgoCDExecutor:
    """Rolls Argo CD Applications back through the Argo CD API.

    Operation params: ``application`` (default: the service name), optional ``app_namespace``
    (apps in any namespace) and ``project``. The target is the history entry whose revision (or
    ``source.targetRevision``) matches ``operation.target_version``; failing that, the entry before
    the one that deployed ``operation.bad_version``; failing that, the entry before the current one.
    """

    kind: ClassVar[str] = "argocd"

    def __init__(
        self,
        *,
        client: httpx.Client,
        disable_auto_sync: bool = True,
        terminate_running_operation: bool = False,
        wait_timeout: float = 300.0,
        poll_interval: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._disable_auto_sync = disable_auto_sync
        self._terminate = terminate_running_operation
        self._wait_timeout = wait_timeout
        self._poll_interval = poll_interval
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ArgoCDExecutor:
        """Build from ``url``, ``token`` and optional ``timeout``, ``verify``,
        ``disable_auto_sync``, ``terminate_running_operation``, ``wait_timeout`` and
        ``poll_interval``."""
        url, token = config.get("url"), config.get("token")
        if not isinstance(url, str) or not url:
            raise ConfigError("argocd needs a 'url'", integration=_NAME)
        if not isinstance(token, str) or not token:
            raise ConfigError("argocd needs a 'token'", integration=_NAME)
        client = make_client(
            url,
            timeout=float(config.get("timeout", 10.0)),
            headers={"Authorization": f"Bearer {token}"},
            verify=config.get("verify", True),
        )
        return cls(
            client=client,
            disable_auto_sync=bool(config.get("disable_auto_sync", True)),
            terminate_running_operation=bool(config.get("terminate_running_operation", False)),
            wait_timeout=float(config.get("wait_timeout", 300.0)),
            poll_interval=float(config.get("poll_interval", 2.0)),
        )

    def current_state(self, operation: Operation) -> TargetState:
        """Read the application: at target when its last deployed revision is the target's."""
        app = self._get(operation)
        history = _history(app)
        target = _pick_target(history, operation, app=_app_name(operation))
        current, wanted = _revision(history[-1]), _revision(target)
        phase = _phase(app)
        running = _running_revision(app)
        return TargetState(
            at_target=current == wanted and running is None,
            in_progress=running == wanted,
            current=current,
            detail=f"deployed {_short(current)}, target {_short(wanted)}"
            + (f", operation {phase}" if phase else ""),
        )

    def preview(self, operation: Operation) -> Preview:
        """Describe the rollback (``app X: revision a -> b (history id N)``), touching nothing."""
        name = _app_name(operation)
        app = self._get(operation)
        history = _history(app)
        target, note = _pick(history, operation, app=name)
        current, wanted = _revision(history[-1]), _revision(target)
        if current == wanted:
            return Preview(
                summary=f"app {name} already runs revision {_short(wanted)}", already_done=True
            )
        summary = (
            f"app {name}: revision {_short(current)} -> {_short(wanted)} "
            f"(history id {target['id']})"
        )
        changes = [summary] + ([note] if note else [])
        running = _running_revision(app)
        if running is not None and running != wanted:
            consequence = "would be terminated first" if self._terminate else "blocks the rollback"
            changes.append(
                f"an operation syncing {_short(running) or 'another revision'} is running and "
                f"{consequence} (DELETE /api/v1/applications/{name}/operation)"
            )
        if _auto_sync(app) is not None:
            consequence = "would be disabled" if self._disable_auto_sync else "blocks the rollback"
            changes.append(
                f"auto-sync is on and {consequence}: Argo CD refuses a rollback while it is on; "
                f"git would still hold {_short(_git_revision(app))}"
            )
        return Preview(summary=summary, changes=tuple(changes))

    def execute(self, operation: Operation) -> Outcome:
        """Roll back (disabling auto-sync if Argo CD refuses because of it); wait for the sync."""
        if operation.action is not Action.ROLLBACK_DEPLOY:
            raise ConfigError(f"argocd cannot {operation.action.value}", integration=_NAME)
        name = _app_name(operation)
        app = self._get(operation)
        history = _history(app)
        target, note = _pick(history, operation, app=name)
        current, wanted = _revision(history[-1]), _revision(target)
        if current == wanted:
            return Outcome(summary=f"app {name} already runs revision {_short(wanted)}")
        notes = [note] if note else []
        details: dict[str, Any] = {"application": name, "history_id": target["id"]}
        running = _running_revision(app)
        warnings: list[str] = []
        if running is not None and running != wanted:
            notes.append(self._terminate_running(operation, running))
        try:
            if running != wanted:
                self._start_rollback(operation, app, target["id"], details, warnings)
            self._wait(operation, wanted)
        except IntegrationError as exc:
            if not warnings:
                raise
            # Auto-sync is already off: the failure must not swallow that news.
            raise _with_warnings(exc, warnings) from exc
        return Outcome(
            summary=f"app {name} rolled back: revision {_short(current)} -> {_short(wanted)} "
            f"(history id {target['id']})",
            notes=(*notes, *warnings),
            details={**details, "from_revision": current, "to_revision": wanted},
        )

    def _start_rollback(
        self,
        operation: Operation,
        app: Mapping[str, Any],
        history_id: Any,
        details: dict[str, Any],
        warnings: list[str],
    ) -> None:
        """Ask for the rollback; on the auto-sync refusal, disable auto-sync (adding the
        warnings for the humans at once) and ask once more."""
        name = _app_name(operation)
        response = self._rollback(operation, history_id)
        if _refused_for_auto_sync(response):
            if not self._disable_auto_sync:
                raise ConflictError(
                    f"app {name}: {AUTO_SYNC_REFUSAL}; disable auto-sync, or allow Backout to "
                    "(disable_auto_sync: true)",
                    integration=_NAME,
                )
            details["previous_automated"] = dict(_auto_sync(app) or {})
            self._disable(operation)
            warnings.extend(_auto_sync_notes(name, bad=_git_revision(app)))
            response = self._rollback(operation, history_id)
            if _refused_for_auto_sync(response):
                raise ConflictError(
                    f"app {name} still refuses the rollback after auto-sync was disabled "
                    "(does an ApplicationSet or a parent app turn it back on?)",
                    integration=_NAME,
                )
        if response.status_code >= 400 and _BUSY in response.text:
            raise TemporaryIntegrationError(
                f"app {name}: {_BUSY}", integration=_NAME, retry_after=self._poll_interval
            )
        raise_for_status(response, integration=_NAME, what=f"rollback of app {name}")

    def _terminate_running(self, operation: Operation, running: str) -> str:
        """Terminate the running operation (when allowed) and wait until it has ended."""
        name = _app_name(operation)
        what = f"an operation syncing {_short(running) or 'another revision'}"
        if not self._terminate:
            raise ConflictError(
                f"app {name}: {what} is running and blocks the rollback; terminate it in Argo CD "
                "(argocd app terminate-op), or allow Backout to "
                "(terminate_running_operation: true)",
                integration=_NAME,
            )
        request = self._client.build_request(
            "DELETE", f"{_app_path(name)}/operation", params=_scope(operation)
        )
        response = send(self._client, request, integration=_NAME)
        if response.status_code >= 400 and "no operation is in progress" in response.text.lower():
            return f"{what} ended before Backout could terminate it"
        raise_for_status(response, integration=_NAME, what=f"terminating the operation of {name}")
        deadline = self._clock() + self._wait_timeout
        while _running_revision(self._get(operation)) is not None:
            if self._clock() >= deadline:
                raise UnavailableError(
                    f"app {name}: the terminated operation still runs after "
                    f"{self._wait_timeout:g}s",
                    integration=_NAME,
                )
            self._sleep(self._poll_interval)
        return f"Backout terminated {what} on app {name} to roll back"

    def diagnose(self, operation: Operation) -> list[Check]:
        """For ``backout doctor``: GET the application, then ``account/can-i`` for each action a
        rollback may use (``sync`` for rollback and terminate, ``update`` for auto-sync)."""
        name = _app_name(operation)
        found: dict[str, str] = {}

        def read() -> str:
            app = self._get(operation)
            found["project"] = str((app.get("spec") or {}).get("project") or "default")
            return f"deployed {_short(_revision(_history(app)[-1]))}"

        checks = [check_call(f"GET application {name}", read)]
        if "project" not in found:
            return checks
        actions = ["get", "sync"] + (["update"] if self._disable_auto_sync else [])
        project = found["project"]
        for action in actions:
            checks.append(
                check_call(
                    f"can-i {action} applications", partial(self._can, action, name, project)
                )
            )
        return checks

    def _can(self, action: str, name: str, project: str) -> str:
        subject = f"{quote(project, safe='')}/{quote(name, safe='')}"
        path = f"/api/v1/account/can-i/applications/{action}/{subject}"
        response = send(self._client, self._client.build_request("GET", path), integration=_NAME)
        raise_for_status(response, integration=_NAME, what=f"can-i {action}")
        if _json_object(response, what="can-i").get("value") == "yes":
            return f"{action} on {project}/{name}: yes"
        raise ForbiddenError(
            f"the token may not {action} applications {project}/{name}; add "
            f"'p, <role>, applications, {action}, {project}/{name}, allow' to argocd-rbac-cm",
            integration=_NAME,
        )

    def _get(self, operation: Operation) -> Mapping[str, Any]:
        name = _app_name(operation)
        request = self._client.build_request("GET", _app_path(name), params=_scope(operation))
        response = send(self._client, request, integration=_NAME)
        raise_for_status(response, integration=_NAME, what=f"app {name}")
        return _json_object(response, what=f"app {name}")

    def _rollback(self, operation: Operation, history_id: Any) -> httpx.Response:
        name = _app_name(operation)
        body = {"name": name, "id": history_id, "prune": False, **_scope(operation)}
        request = self._client.build_request("POST", f"{_app_path(name)}/rollback", json=body)
        return send(self._client, request, integration=_NAME)

    def _disable(self, operation: Operation) -> None:
        name = _app_name(operation)
        patch = json.dumps({"spec": {"syncPolicy": {"automated": None}}})
        body = {"name": name, "patch": patch, "patchType": "merge", **_scope(operation)}
        request = self._client.build_request("PATCH", _app_path(name), json=body)
        response = send(self._client, request, integration=_NAME)
        raise_for_status(response, integration=_NAME, what=f"disabling auto-sync of app {name}")

    def _wait(self, operation: Operation, wanted: str) -> None:
        name = _app_name(operation)
        deadline = self._clock() + self._wait_timeout
        while True:
            app = self._get(operation)
            state = app.get("status", {}).get("operationState") or {}
            deployed = _revision(_history(app)[-1])
            phase = state.get("phase")
            if phase == "Succeeded" and deployed == wanted:
                return
            if phase in _TERMINAL_FAILURES and _operation_revision(state) == wanted:
                raise PermanentIntegrationError(
                    f"rollback of app {name} {phase.lower()}: {state.get('message', '')}".strip(),
                    integration=_NAME,
                )
            if self._clock() >= deadline:
                raise UnavailableError(
                    f"rollback of app {name} not finished after {self._wait_timeout:g}s "
                    f"(operation {phase or 'not started'})",
                    integration=_NAME,
                )
            self._sleep(self._poll_interval)


def _app_name(operation: Operation) -> str:
    name = operation.params.get("application", operation.service)
    if not isinstance(name, str) or not name:
        raise ConfigError("argocd 'application' must be a non-empty string", integration=_NAME)
    return name


def _app_path(name: str) -> str:
    return f"/api/v1/applications/{quote(name, safe='')}"


def _scope(operation: Operation) -> dict[str, str]:
    """The ``appNamespace``/``project`` the operation names, as query or body fields."""
    scope: dict[str, str] = {}
    for param, field in (("app_namespace", "appNamespace"), ("project", "project")):
        value = operation.params.get(param)
        if value:
            scope[field] = str(value)
    return scope


def _json_object(response: httpx.Response, *, what: str) -> Mapping[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise UnavailableError(f"{what}: the answer is not JSON", integration=_NAME) from exc
    if not isinstance(data, dict):
        raise UnavailableError(f"{what}: the answer is not a JSON object", integration=_NAME)
    return data


def _history(app: Mapping[str, Any]) -> Sequence[Entry]:
    history = (app.get("status") or {}).get("history") or []
    entries = [e for e in history if isinstance(e, dict) and "id" in e]
    if not entries:
        name = (app.get("metadata") or {}).get("name", "?")
        raise ConflictError(f"app {name} has no sync history to roll back to", integration=_NAME)
    return entries


def _revision(entry: Entry) -> str:
    revision = entry.get("revision")
    if isinstance(revision, str) and revision:
        return revision
    revisions = entry.get("revisions")  # multi-source applications
    if isinstance(revisions, list) and revisions:
        return ",".join(str(r) for r in revisions)
    return ""


def _matches(entry: Entry, version: str) -> bool:
    """A version names an entry by its revision (a SHA prefix of 7+ characters will do), or by
    the ``targetRevision`` (tag, branch, chart version) of its source."""
    revision = _revision(entry)
    if version == revision or (len(version) >= 7 and revision.startswith(version)):
        return True
    sources = [entry.get("source"), *(entry.get("sources") or [])]
    return any(isinstance(s, dict) and s.get("targetRevision") == version for s in sources)


def _pick_target(history: Sequence[Entry], operation: Operation, *, app: str) -> Entry:
    return _pick(history, operation, app=app)[0]


def _pick(history: Sequence[Entry], operation: Operation, *, app: str) -> tuple[Entry, str]:
    """The target entry, and a note when it is not the one ``target_version`` names."""
    wanted, bad = operation.target_version, operation.bad_version
    if wanted:
        for entry in reversed(history):
            if _matches(entry, wanted):
                return entry, ""
    note = f"no history entry of app {app} matches {wanted}; " if wanted else ""
    if bad:
        bad_at = [i for i, e in enumerate(history) if _matches(e, bad)]
        for entry in reversed(history[: bad_at[-1]] if bad_at else []):
            if not _matches(entry, bad):
                return entry, note + (f"rolling back to the entry before {bad}" if note else "")
    current = _revision(history[-1])
    earlier = [_revision(e) for e in history[:-1]]
    if current in earlier[:-1] and earlier[-1] != current:
        # The last sync re-deployed an older revision: that is what a rollback leaves behind, so
        # with no version to go by the application counts as rolled back already.
        return history[-1], ""
    for entry in reversed(history[:-1]):
        if _revision(entry) != current:
            return entry, note + ("rolling back to the previous entry" if note else "")
    raise ConflictError(f"app {app} has no earlier revision to roll back to", integration=_NAME)


def _auto_sync(app: Mapping[str, Any]) -> Mapping[str, Any] | None:
    policy = (app.get("spec") or {}).get("syncPolicy") or {}
    automated = policy.get("automated")
    return automated if isinstance(automated, dict) else None


def _git_revision(app: Mapping[str, Any]) -> str:
    """The revision git's target resolves to now (what auto-sync would deploy again)."""
    sync = (app.get("status") or {}).get("sync") or {}
    revision = sync.get("revision")
    if isinstance(revision, str) and revision:
        return revision
    return _revision(_history(app)[-1])


def _phase(app: Mapping[str, Any]) -> str:
    state = (app.get("status") or {}).get("operationState") or {}
    return str(state.get("phase") or "")


def _operation_revision(state: Mapping[str, Any]) -> str:
    """The revision an operation syncs, joined as :func:`_revision` joins a history entry's."""
    sync = (state.get("operation") or {}).get("sync") or {}
    return _revision(sync) or _revision(state.get("syncResult") or {})


def _running_revision(app: Mapping[str, Any]) -> str | None:
    """The revision the running operation syncs ("" when it names none), or None if idle."""
    state = (app.get("status") or {}).get("operationState") or {}
    if state.get("phase") not in ("Running", "Terminating"):
        return None
    return _operation_revision(state)


def _refused_for_auto_sync(response: httpx.Response) -> bool:
    return response.status_code >= 400 and AUTO_SYNC_REFUSAL in response.text.lower()


def _auto_sync_notes(app: str, *, bad: str) -> list[str]:
    return [
        f"Auto-sync is now OFF for app {app}: Argo CD refuses a rollback while it is on, so "
        "Backout disabled it.",
        f"Git still holds the bad revision {_short(bad)}: revert it in git before auto-sync is "
        "turned back on, or Argo CD will deploy it again.",
        "Re-enabling auto-sync is a separate, explicit step; Backout will not turn it back on.",
    ]


def _with_warnings(error: IntegrationError, warnings: Sequence[str]) -> IntegrationError:
    """The same error type, its message followed by the warnings."""
    message = f"{error} ({' '.join(warnings)})"
    if isinstance(error, TemporaryIntegrationError):
        return type(error)(message, integration=_NAME, retry_after=error.retry_after)
    return type(error)(message, integration=_NAME)


def _short(revision: str) -> str:
    """A 40-character git SHA shortened to 7, as Argo CD's UI shows it; anything else as is."""
    if len(revision) == 40 and all(c in "0123456789abcdef" for c in revision):
        return revision[:7]
    return revision
