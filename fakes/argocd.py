"""A fake Argo CD API server on the loopback base of :mod:`fakes.server`, for the executor's
tests and the demo.

It stands in for Argo CD in the "Real parts and their fakes" table of DESIGN.md: the real
:class:`integrations.executors.argocd.ArgoCDExecutor` talks to it over HTTP. It serves the
subset of Argo CD's application API (the ``ApplicationService`` of
``server/application/application.proto`` in argoproj/argo-cd, exposed through grpc-gateway;
https://argo-cd.readthedocs.io/en/stable/developer-guide/api-docs/) that Backout calls:
``GET /api/v1/applications/{name}``, ``POST .../{name}/rollback`` (``id``, ``dryRun``, ``prune``),
``PATCH .../{name}`` (``patch``, ``patchType``), ``DELETE .../{name}/operation``
(``TerminateOperation``) and ``GET /api/v1/account/can-i/{resource}/{action}/{object}``
(``{"value": "yes"|"no"}``, ``server/account/account.go``). It keeps Applications with their sync
history, ``spec.syncPolicy.automated`` and ``status.operationState``; a rollback runs as a sync
operation that stays ``Running`` for ``running_polls`` GETs, then ``Succeeded`` (a new history
entry) or ``Failed``, so it really changes what the next GET returns.

Multi-source applications (``spec.sources``) are kept as Argo CD keeps them
(``RevisionHistory`` in ``pkg/apis/application/v1alpha1/types.go``): each history entry has
``revisions`` and ``sources`` lists and no ``revision``; the rollback's sync operation and its
``syncResult`` carry ``revisions`` (``Rollback`` in ``server/application/application.go`` copies
``deploymentInfo.Revisions``). Any operation already set blocks a new one with "another operation
is already in progress" (``SetAppOperation`` in ``util/argo/argo.go``), also one the test starts
with :meth:`FakeArgoCD.start_operation` (an auto-sync of another revision, say);
``TerminateOperation`` sets its phase ``Terminating`` and the controller then ends it ``Failed``
with "Operation terminated" (on the next GET here); with no operation it answers 400 "Unable to
terminate operation. No operation is in progress".

Failure states, with grpc-gateway's error body (``error``, ``code``, ``message``): 401 without
the bearer token (code 16); 403 for another project (7); 404 for an unknown application (5); the
rollback refusal while auto-sync is on, with Argo CD's own message from
``server/application/application.go`` (``FailedPrecondition``, 9) and the HTTP status
``refusal_status``: 400 by default, what grpc-gateway v2 maps that code to; other gateway
versions map it differently (v1: 412), and which one a given Argo CD release answers is not
verified here (the executor's tests try 400 and 500); 400 for another operation in progress
(9) and for an unknown history id (3); an operation ending ``Failed``
(:meth:`FakeArgoCD.fail_next_operation`); 405 for what the fake does not serve (12); and any
status a test queues with :meth:`FakeArgoCD.fail_next`, optionally after a delay. Only
``patchType`` ``merge`` is applied. Requests are recorded.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from fakes.kubernetes import merge_patch
from fakes.server import Faults, Incoming, LoopbackServer, PrefixFaults, Reply

__all__ = ["REFUSAL", "FakeArgoCD", "RecordedRequest"]

REFUSAL = "rollback cannot be initiated when auto-sync is enabled"
"""What Argo CD answers a rollback with while auto-sync is on."""

_PREFIX = "/api/v1/applications/"
_CAN_I = "/api/v1/account/can-i/"
_BUSY = ("Running", "Terminating")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received: method, decoded path, query, headers and JSON body."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None


@dataclass
class _App:
    data: dict[str, Any]
    polls_left: int = 0
    fail_message: str | None = None
    hold: bool = False  # an operation that runs until terminated


class FakeArgoCD(PrefixFaults, LoopbackServer):
    """Argo CD's application API, in memory: GET, rollback, PATCH (merge) of an Application.

    Args:
        token: the bearer token it accepts; anything else gets 401.
        refusal_status: the status of the auto-sync refusal (400 on recent versions, 500 on some).
        running_polls: how many GETs see a rollback ``Running`` before it has ``Succeeded``.
    """

    methods = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})

    def __init__(
        self,
        *,
        token: str = "argocd-token",  # noqa: S107 (a fake's test credential, not a secret)
        refusal_status: int = 400,
        running_polls: int = 0,
    ) -> None:
        super().__init__()
        self.token = token
        self.refusal_status = refusal_status
        self.running_polls = running_polls
        self.requests: list[RecordedRequest] = []
        self._apps: dict[str, _App] = {}
        self.denied: set[str] = set()
        """Actions (``get``, ``sync``, ``update``) that ``account/can-i`` answers "no" for."""
        self._faults = Faults()
        self._lock = threading.Lock()

    def add_app(
        self,
        name: str,
        *,
        revisions: Sequence[str | Sequence[str]],
        auto_sync: bool = False,
        project: str = "default",
        namespace: str = "argocd",
        repo_url: str = "https://git.example.com/shop/deploy.git",
    ) -> None:
        """Add an application whose history deployed ``revisions`` in order (ids 0, 1, ...).

        A revision given as a list (one per source) makes a multi-source application."""
        multi = any(not isinstance(r, str) for r in revisions)
        source = {"repoURL": repo_url, "path": name, "targetRevision": "HEAD"}
        width = max((len(r) for r in revisions if not isinstance(r, str)), default=1)
        sources = [dict(source, path=f"{name}/{i}") for i in range(width)]
        history = [
            _entry(i, rev, source=source, sources=sources if multi else None)
            for i, rev in enumerate(revisions)
        ]
        head: str | Sequence[str] = revisions[-1] if revisions else ""
        placement = {"sources": sources} if multi else {"source": source}
        data: dict[str, Any] = {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "project": project,
                **placement,
                "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
                "syncPolicy": {"automated": {"prune": True, "selfHeal": True}} if auto_sync else {},
            },
            "status": {
                "sync": {"status": "Synced", **_revision_fields(head)},
                "health": {"status": "Healthy"},
                "history": history,
                "operationState": {
                    "phase": "Succeeded",
                    "message": "successfully synced (all tasks run)",
                    "operation": {"sync": _revision_fields(head)},
                    "syncResult": _revision_fields(head),
                },
            },
        }
        with self._lock:
            self._apps[name] = _App(data=data)

    def start_operation(self, name: str, revision: str | Sequence[str]) -> None:
        """Start a sync of ``revision`` (e.g. auto-sync of the bad one) that runs until it is
        terminated."""
        with self._lock:
            app = self._apps[name]
            app.data["operation"] = {"sync": _revision_fields(revision)}
            app.data["status"]["operationState"] = {
                "phase": "Running",
                "message": "one or more tasks are running",
                "startedAt": _now(),
                "operation": {"sync": _revision_fields(revision)},
            }
            app.hold = True

    def app(self, name: str) -> dict[str, Any]:
        """A copy of the application as a GET would return it (without advancing anything)."""
        with self._lock:
            return copy.deepcopy(self._apps[name].data)

    def deployed_revision(self, name: str) -> str:
        """The revision of the application's last history entry (a multi-source one's revisions
        joined with commas)."""
        last: dict[str, Any] = self.app(name)["status"]["history"][-1]
        return str(last.get("revision") or ",".join(last.get("revisions") or []))

    def auto_sync(self, name: str) -> bool:
        """Whether ``spec.syncPolicy.automated`` is set."""
        return bool((self.app(name)["spec"].get("syncPolicy") or {}).get("automated"))

    def fail_next_operation(self, name: str, message: str = "one or more objects failed") -> None:
        """Make the next rollback of ``name`` end in phase ``Failed``."""
        with self._lock:
            self._apps[name].fail_message = message

    def writes(self) -> list[RecordedRequest]:
        """The recorded requests that were not GETs."""
        return [r for r in self.requests if r.method != "GET"]

    # Request handling, called from the handler threads.

    def _respond(self, incoming: Incoming) -> Reply:
        request = RecordedRequest(
            incoming.method, unquote(incoming.path), incoming.query, incoming.headers, incoming.body
        )
        with self._lock:
            self.requests.append(request)
            fault = self._faults.take(request.method, request.path)
            if fault is not None:
                body = fault.body if fault.body is not None else _error("injected fault", 13)
                return Reply(fault.status, body, delay=fault.delay)
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return Reply(401, _error("no session information", 16))
            return Reply(*self._route(request))

    def _route(self, request: RecordedRequest) -> tuple[int, Any]:
        if request.method == "GET" and request.path.startswith(_CAN_I):
            _resource, action, _object = [*request.path[len(_CAN_I) :].split("/", 2), "", ""][:3]
            return 200, {"value": "no" if action in self.denied else "yes"}
        if not request.path.startswith(_PREFIX):
            return 404, _error(f"no route for {request.path}", 5)
        name, _, action = request.path[len(_PREFIX) :].partition("/")
        app = self._apps.get(name)
        if app is None:
            return 404, _error(f'applications.argoproj.io "{name}" not found', 5)
        body = request.body if isinstance(request.body, dict) else {}
        project = request.query.get("project") or body.get("project")
        if project and project != app.data["spec"]["project"]:
            return 403, _error("permission denied", 7)
        if request.method == "GET" and not action:
            self._advance(app)
            return 200, copy.deepcopy(app.data)
        if request.method == "POST" and action == "rollback":
            return self._rollback(app, body)
        if request.method == "PATCH" and not action:
            return self._patch(app, body)
        if request.method == "DELETE" and action == "operation":
            return self._terminate(app)
        return 405, _error(f"{request.method} {request.path} is not supported", 12)

    def _rollback(self, app: _App, body: dict[str, Any]) -> tuple[int, Any]:
        data = app.data
        if (data["spec"].get("syncPolicy") or {}).get("automated"):
            return self.refusal_status, _error(REFUSAL, 9)
        if data.get("operation") or data["status"]["operationState"]["phase"] in _BUSY:
            return 400, _error("another operation is already in progress", 9)
        entry = next((e for e in data["status"]["history"] if e["id"] == body.get("id")), None)
        if entry is None:
            name = data["metadata"]["name"]
            message = f"application {name} does not have deployment with id {body.get('id')}"
            return 400, _error(message, 3)
        if body.get("dryRun"):
            return 200, copy.deepcopy(data)
        sync = {**_revision_fields(_entry_revision(entry)), "prune": bool(body.get("prune"))}
        data["operation"] = {"sync": dict(sync)}
        data["status"]["operationState"] = {
            "phase": "Running",
            "message": "",
            "startedAt": _now(),
            "operation": {"sync": sync},
        }
        app.polls_left = self.running_polls
        if app.polls_left == 0:
            self._advance(app)
        return 200, copy.deepcopy(data)

    def _advance(self, app: _App) -> None:
        state = app.data["status"]["operationState"]
        if state["phase"] == "Terminating":
            state.update(phase="Failed", message="Operation terminated", finishedAt=_now())
            app.data.pop("operation", None)
            app.hold = False
            return
        if state["phase"] != "Running" or app.hold:
            return
        if app.polls_left > 0:
            app.polls_left -= 1
            return
        app.data.pop("operation", None)
        sync_op = state["operation"]["sync"]
        revision = sync_op.get("revisions") or sync_op.get("revision")
        if app.fail_message is not None:
            state.update(phase="Failed", message=app.fail_message, finishedAt=_now())
            app.fail_message = None
            return
        history = app.data["status"]["history"]
        spec = app.data["spec"]
        history.append(
            _entry(
                max(e["id"] for e in history) + 1,
                revision,
                source=spec.get("source") or {},
                sources=spec.get("sources"),
            )
        )
        state.update(
            phase="Succeeded",
            message="successfully synced (all tasks run)",
            finishedAt=_now(),
            syncResult=_revision_fields(revision),
        )
        sync = app.data["status"]["sync"]
        git = sync.get("revision") or sync.get("revisions")
        sync["status"] = "Synced" if git == revision else "OutOfSync"

    def _terminate(self, app: _App) -> tuple[int, Any]:
        state = app.data["status"]["operationState"]
        if not app.data.get("operation") or state["phase"] not in _BUSY:
            message = "Unable to terminate operation. No operation is in progress"
            return 400, _error(message, 3)
        state["phase"] = "Terminating"
        return 200, {}

    def _patch(self, app: _App, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("patchType", "json") != "merge":
            return 400, _error("the fake supports patchType 'merge' only", 3)
        try:
            patch = json.loads(body.get("patch") or "")
        except ValueError:
            return 400, _error("patch is not JSON", 3)
        app.data = merge_patch(app.data, patch)
        return 200, copy.deepcopy(app.data)


def _revision_fields(revision: str | Sequence[str]) -> dict[str, Any]:
    """``{"revision": r}``, or ``{"revisions": [...]}`` for a multi-source application."""
    if isinstance(revision, str):
        return {"revision": revision}
    return {"revisions": list(revision)}


def _entry_revision(entry: dict[str, Any]) -> str | list[str]:
    return entry.get("revisions") or entry.get("revision") or ""


def _entry(
    id_: int,
    revision: str | Sequence[str],
    *,
    source: dict[str, Any],
    sources: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """A ``RevisionHistory`` entry: single-source or (``sources`` given) multi-source."""
    if sources is not None:
        revisions = [revision] if isinstance(revision, str) else list(revision)
        return {
            "id": id_,
            "revisions": revisions,
            "deployedAt": _now(),
            "sources": [dict(s) for s in sources],
        }
    return {"id": id_, "revision": revision, "deployedAt": _now(), "source": dict(source)}


def _error(message: str, code: int) -> dict[str, Any]:
    """The body grpc-gateway gives an error."""
    return {"error": message, "code": code, "message": message}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
