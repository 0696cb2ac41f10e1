"""A stateful fake of the Kubernetes ``apps/v1`` API on the loopback base of :mod:`fakes.server`,
for tests and demos.

The real ``KubernetesExecutor`` (``integrations/executors/kubernetes.py``) is tested against this
server, not against mocks (STYLE.md section 5). It serves the subset of the API reference
Backout calls (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/deployment-v1/
and ``replica-set-v1/``): GET, PUT and merge-PATCH of a Deployment, and a ReplicaSet list with an
equality-based ``labelSelector``. It keeps Deployments and their ReplicaSets the way the
Deployment controller does (``pkg/controller/deployment`` in kubernetes/kubernetes, and
https://kubernetes.io/docs/concepts/workloads/controllers/deployment/): a changed pod template
reuses the ReplicaSet whose template matches, as after ``kubectl rollout undo`` (which PATCHes the
old ReplicaSet's template into the Deployment: ``rollback.go`` in kubectl's
``polymorphichelpers``), or creates a new one, either way with the next
``deployment.kubernetes.io/revision`` (the reused one's old number goes to
``deployment.kubernetes.io/revision-history``); an unchanged template changes nothing. Rollouts
finish after ``rollout_seconds`` unless stalled; ``status`` carries ``observedGeneration``, the
replica counts and the ``Progressing`` condition's reasons (``ReplicaSetUpdated``,
``NewReplicaSetAvailable``, ``ProgressDeadlineExceeded``, ``DeploymentPaused``). The controller
copies the Deployment's annotations (``kubernetes.io/change-cause`` among them) to the ReplicaSet
it makes current, except the revision bookkeeping and ``last-applied-configuration``
(``copyDeploymentAnnotationsToReplicaSet`` and ``annotationsToSkip`` in
``pkg/controller/deployment/util/deployment_util.go``). StatefulSets and DaemonSets can be seeded
(``add_workload``) and read, nothing more. ``POST
/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`` answers ``status.allowed`` for the
verb and resource asked, false for those a test put in ``denied``.

Failure states, answered as ``Status`` objects (kind ``Status``, ``reason``, ``code``): 401
without the bearer token when one is required; 404 ``NotFound``; 405 ``MethodNotAllowed``; 409
``Conflict`` for a stale ``metadata.resourceVersion``; 415 for a patch type other than merge or
strategic merge (strategic merge is applied as a plain merge patch, see :func:`merge_patch`);
422 ``Invalid`` for a changed selector, template labels that do not match it, a missing
template or a malformed object; 400 for a body that is not JSON; rollouts that never finish
(:meth:`FakeKubernetes.stall`, optionally past the progress deadline); and any status a test
queues with :meth:`FakeKubernetes.fail_next`, with ``Retry-After`` if asked. The messages are
abridged from the real API server's (e.g. the 409 omits "Operation cannot be fulfilled on ...").
Tests seed history (``add_deployment``) and assert on the recorded ``requests``. ``python -m
fakes.kubernetes --port 0 --state seed.json`` runs it standalone and prints its URL.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from fakes.server import Faults, Incoming, LoopbackServer, Reply

__all__ = [
    "HASH_LABEL",
    "REVISION",
    "SKIPPED_ANNOTATIONS",
    "FakeKubernetes",
    "Request",
    "main",
    "merge_patch",
]

REVISION = "deployment.kubernetes.io/revision"
"""The annotation carrying a Deployment's and a ReplicaSet's revision number."""
HASH_LABEL = "pod-template-hash"
"""The label the controller adds to a ReplicaSet's template, selector and metadata."""

_DEPLOYMENT = re.compile(r"/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)")
_REPLICASETS = re.compile(r"/apis/apps/v1/namespaces/([^/]+)/replicasets")
_WORKLOAD = re.compile(r"/apis/apps/v1/namespaces/([^/]+)/(statefulsets|daemonsets)/([^/]+)")
_ACCESS_REVIEW = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SKIPPED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        f"{REVISION}-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
"""Annotations the controller does not copy to ReplicaSets (``annotationsToSkip``)."""
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")


class Request(NamedTuple):
    """One recorded request: method, path with query string, parsed JSON body (or ``None``)."""

    method: str
    path: str
    body: Any


@dataclass
class _Deployment:
    obj: dict[str, Any]
    rollout_started: float = float("-inf")
    stalled: bool = False
    deadline_exceeded: bool = False


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, ``null`` deletes, the rest replaces.

    Strategic merge patches are applied the same way here (the real server merges some lists,
    such as ``containers``, by name; Backout's patches never rely on that).
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _normalised(template: Mapping[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(dict(template))
    result.get("metadata", {}).get("labels", {}).pop(HASH_LABEL, None)
    return result


def _template_hash(template: Mapping[str, Any]) -> str:
    text = json.dumps(_normalised(template), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    base = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    return {**base, "message": message, "reason": reason, "code": code}


def _matches(labels: Mapping[str, str], selector: str) -> bool:
    """Equality-based label selectors (``app=cart,tier==web``), as Backout sends them."""
    terms = (term.replace("==", "=").split("=", 1) for term in selector.split(",") if term)
    return all(labels.get(key.strip()) == value.strip() for key, value in terms)


class FakeKubernetes(LoopbackServer):
    """A fake API server on ``127.0.0.1``; use as a context manager and read ``base_url``."""

    http11 = True

    def __init__(
        self,
        *,
        rollout_seconds: float = 0.0,
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.rollout_seconds = rollout_seconds
        self.token = token
        self.requests: list[Request] = []
        self._clock = clock
        self._lock = threading.RLock()
        self._deployments: dict[tuple[str, str], _Deployment] = {}
        self._replicasets: dict[tuple[str, str], dict[str, Any]] = {}
        self._workloads: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.denied: set[tuple[str, str]] = set()
        """``(verb, resource)`` pairs a SelfSubjectAccessReview answers "not allowed" for."""
        self._faults = Faults()
        self._resource_version = 0

    # -- the test API -----------------------------------------------------------------------

    def add_deployment(
        self,
        namespace: str,
        name: str,
        *,
        image: str,
        revisions: Sequence[str] = (),
        replicas: int = 3,
        container: str | None = None,
        labels: Mapping[str, str] | None = None,
        paused: bool = False,
        change_causes: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Seed a Deployment whose history is ``revisions`` (oldest first), then ``image``;
        ``change_causes`` gives each of those rollouts its ``kubernetes.io/change-cause``."""
        selector = dict(labels or {"app": name})
        images = [*revisions, image]
        causes = dict(enumerate(change_causes))
        with self._lock:
            obj: dict[str, Any] = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4())},
                "spec": {"replicas": replicas, "selector": {"matchLabels": selector}},
            }
            obj["metadata"].update(generation=0, annotations={}, labels=dict(selector))
            state = self._deployments[namespace, name] = _Deployment(obj)
            for i, each in enumerate(images):
                if i in causes:
                    obj["metadata"]["annotations"]["kubernetes.io/change-cause"] = causes[i]
                spec = {"containers": [{"name": container or name, "image": each}]}
                obj["spec"]["template"] = {"metadata": {"labels": dict(selector)}, "spec": spec}
                obj["metadata"]["generation"] += 1
                self._roll(state)
            obj["spec"]["paused"] = paused
            self._resource_version += 1
            obj["metadata"]["resourceVersion"] = str(self._resource_version)
            state.rollout_started = float("-inf")
            return self.deployment(namespace, name)

    def deployment(self, namespace: str, name: str) -> dict[str, Any]:
        """The Deployment as a GET would return it (a copy)."""
        with self._lock:
            return self._view(self._deployments[namespace, name])

    def replicasets(self, namespace: str) -> list[dict[str, Any]]:
        """Copies of the namespace's ReplicaSets, oldest first."""
        with self._lock:
            return [
                copy.deepcopy(rs) for (ns, _), rs in self._replicasets.items() if ns == namespace
            ]

    def add_workload(self, kind: str, namespace: str, name: str) -> None:
        """Seed a StatefulSet or DaemonSet (``kind`` ``statefulsets``/``daemonsets``)."""
        singular = {"statefulsets": "StatefulSet", "daemonsets": "DaemonSet"}[kind]
        with self._lock:
            self._workloads[kind, namespace, name] = {
                "apiVersion": "apps/v1",
                "kind": singular,
                "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4())},
            }

    def stall(self, namespace: str, name: str, *, deadline_exceeded: bool = False) -> None:
        """Rollouts of this Deployment (the current one included) never finish from now on."""
        with self._lock:
            state = self._deployments[namespace, name]
            state.stalled, state.deadline_exceeded = True, deadline_exceeded

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: Any = None,
        *,
        times: int = 1,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (a ``Status`` by default)."""
        if body is None:
            body = _status(status, "InternalError", f"injected failure {status}")
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        with self._lock:
            self._faults.add(
                status,
                method=method.upper(),
                path=re.compile(path_regex),
                body=body,
                headers=headers,
                times=times,
            )

    @property
    def mutations(self) -> int:
        """How many mutating requests (POST, PUT, PATCH, DELETE) arrived, failed ones included."""
        return sum(1 for request in self.requests if request.method in _MUTATING)

    # -- the controller ---------------------------------------------------------------------

    def _roll(self, state: _Deployment) -> None:
        """Do what the Deployment controller does after a write."""
        obj = state.obj
        meta, spec = obj["metadata"], obj["spec"]
        if spec.get("paused"):
            return
        namespace, template = meta["namespace"], _normalised(spec["template"])
        owned = [
            rs
            for (ns, _), rs in self._replicasets.items()
            if ns == namespace and rs["metadata"]["ownerReferences"][0]["uid"] == meta["uid"]
        ]
        revision = int(meta["annotations"].get(REVISION, "0"))
        current = next(
            (rs for rs in owned if _normalised(rs["spec"]["template"]) == template), None
        )
        if current is not None and int(current["metadata"]["annotations"][REVISION]) == revision:
            return
        latest = max((int(rs["metadata"]["annotations"][REVISION]) for rs in owned), default=0)
        if current is None:
            current = self._new_replicaset(obj)
        else:
            old = current["metadata"]["annotations"][REVISION]
            history = current["metadata"]["annotations"].get(f"{REVISION}-history")
            history = f"{history},{old}" if history else old
            current["metadata"]["annotations"][f"{REVISION}-history"] = history
        current["metadata"]["annotations"].update(
            {k: v for k, v in meta["annotations"].items() if k not in SKIPPED_ANNOTATIONS}
        )
        current["metadata"]["annotations"][REVISION] = str(latest + 1)
        meta["annotations"][REVISION] = str(latest + 1)
        for rs in [*owned, current]:
            rs["spec"]["replicas"] = spec.get("replicas", 1) if rs is current else 0
            rs["status"] = {"replicas": rs["spec"]["replicas"]}
        state.rollout_started = self._clock()

    def _new_replicaset(self, deployment: dict[str, Any]) -> dict[str, Any]:
        meta, spec = deployment["metadata"], deployment["spec"]
        pod_hash = _template_hash(spec["template"])
        template = copy.deepcopy(spec["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        labels = dict(template["metadata"]["labels"])
        owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"]}
        owner.update(uid=meta["uid"], controller=True, blockOwnerDeletion=True)
        rs: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{pod_hash}",
                "namespace": meta["namespace"],
                "uid": str(uuid.uuid4()),
                "labels": labels,
                "annotations": {},
                "ownerReferences": [owner],
            },
            "spec": {"selector": {"matchLabels": {**spec["selector"]["matchLabels"]}}},
        }
        rs["spec"]["selector"]["matchLabels"][HASH_LABEL] = pod_hash
        rs["spec"]["template"] = template
        self._replicasets[meta["namespace"], rs["metadata"]["name"]] = rs
        return rs

    def _view(self, state: _Deployment) -> dict[str, Any]:
        obj = copy.deepcopy(state.obj)
        wanted = obj["spec"].get("replicas", 1)
        paused = bool(obj["spec"].get("paused"))
        moving = not paused and (
            state.stalled or self._clock() - state.rollout_started < self.rollout_seconds
        )
        progressing = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
        if paused:
            progressing.update(status="Unknown", reason="DeploymentPaused")
        elif state.deadline_exceeded:
            progressing.update(status="False", reason="ProgressDeadlineExceeded")
        elif moving:
            progressing.update(reason="ReplicaSetUpdated")
        updated = min(1, wanted) if moving else wanted
        obj["status"] = {
            "observedGeneration": obj["metadata"]["generation"],
            "replicas": wanted + (1 if moving and wanted else 0),
            "updatedReplicas": updated,
            "readyReplicas": wanted,
            "availableReplicas": wanted,
            "conditions": [{"type": "Available", "status": "True"}, progressing],
        }
        return obj

    # -- HTTP -------------------------------------------------------------------------------

    def _respond(self, request: Incoming) -> Reply:
        if request.malformed:
            return Reply(400, _status(400, "BadRequest", "request body is not valid JSON"))
        method, path, headers = request.method, request.path, request.headers
        with self._lock:
            self.requests.append(Request(method, request.target, request.body))
            fault = self._faults.take(method, path)
            if fault is not None:
                return Reply(fault.status, fault.body, fault.headers)
            if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
                return Reply(401, _status(401, "Unauthorized", "Unauthorized"))
            try:  # a Reply raised by the route is answered by the handler
                return Reply(200, self._route(request))
            except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a malformed object
                return Reply(422, _status(422, "Invalid", f"malformed object: {exc!r}"))

    def _route(self, request: Incoming) -> Any:
        method, path, body = request.method, request.path, request.body
        if path == _ACCESS_REVIEW and method == "POST" and isinstance(body, dict):
            attributes = (body.get("spec") or {}).get("resourceAttributes") or {}
            asked = (attributes.get("verb"), attributes.get("resource"))
            allowed = asked not in self.denied
            return {**body, "status": {"allowed": allowed, "reason": "" if allowed else "RBAC"}}
        if found := _WORKLOAD.fullmatch(path):
            workload = self._workloads.get((found[2], found[1], found[3]))
            if workload is None or method != "GET":
                message = f'{found[2]}.apps "{found[3]}" not found'
                raise Reply(404, _status(404, "NotFound", message))
            return copy.deepcopy(workload)
        if found := _REPLICASETS.fullmatch(path):
            if method != "GET":
                raise Reply(405, _status(405, "MethodNotAllowed", f"{method} is not supported"))
            selector = parse_qs(urlsplit(request.target).query).get("labelSelector", [""])[0]
            items = [
                rs
                for rs in self.replicasets(found[1])
                if _matches(rs["metadata"].get("labels", {}), selector)
            ]
            return {"apiVersion": "apps/v1", "kind": "ReplicaSetList", "items": items}
        found = _DEPLOYMENT.fullmatch(path)
        if found is None:
            raise Reply(404, _status(404, "NotFound", "the server could not find the resource"))
        state = self._deployments.get((found[1], found[2]))
        if state is None:
            message = f'deployments.apps "{found[2]}" not found'
            raise Reply(404, _status(404, "NotFound", message))
        if method == "GET":
            return self._view(state)
        if method == "PATCH":
            kind = request.headers.get("content-type", "").split(";")[0].strip()
            if kind not in _PATCH_TYPES:
                raise Reply(415, _status(415, "UnsupportedMediaType", f"cannot patch {kind}"))
            return self._write(state, body, merge=True)
        if method == "PUT":
            return self._write(state, body, merge=False)
        raise Reply(405, _status(405, "MethodNotAllowed", f"{method} is not supported"))

    def _write(self, state: _Deployment, body: Any, *, merge: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise Reply(400, _status(400, "BadRequest", "the body must be a JSON object"))
        old = state.obj
        version = body.get("metadata", {}).get("resourceVersion")
        if version is not None and version != old["metadata"].get("resourceVersion"):
            message = "the object has been modified; apply your changes to the latest version"
            raise Reply(409, _status(409, "Conflict", message))
        new = merge_patch(old, body) if merge else copy.deepcopy(body)
        new.pop("status", None)
        if not isinstance(new.get("spec"), dict) or not isinstance(
            new["spec"].get("template"), dict
        ):
            raise Reply(422, _status(422, "Invalid", "spec.template: Required value"))
        new["metadata"] = {**new.get("metadata", {})}
        for key in ("name", "namespace", "uid", "generation"):
            new["metadata"][key] = old["metadata"][key]
        new["metadata"]["annotations"] = {  # the controller owns the revision
            **new["metadata"].get("annotations", {}),
            REVISION: old["metadata"]["annotations"][REVISION],
        }
        selector = new["spec"].get("selector", {}).get("matchLabels")
        labels = new["spec"]["template"].get("metadata", {}).get("labels", {})
        if selector != old["spec"]["selector"]["matchLabels"]:
            raise Reply(422, _status(422, "Invalid", "spec.selector: field is immutable"))
        if any(labels.get(key) != value for key, value in selector.items()):
            message = "spec.template.metadata.labels: must match spec.selector"
            raise Reply(422, _status(422, "Invalid", message))
        if new["spec"] != old["spec"]:
            new["metadata"]["generation"] += 1
        self._resource_version += 1
        new["metadata"]["resourceVersion"] = str(self._resource_version)
        state.obj = new
        self._roll(state)
        return self._view(state)


def main(argv: Sequence[str] | None = None) -> None:
    """Run standalone: print the URL, serve until interrupted.

    ``--state FILE`` seeds Deployments from JSON: ``{"deployments": [{"namespace": "shop",
    "name": "cartservice", "image": "...:v2", "revisions": ["...:v1"]}]}`` (keyword arguments
    of :meth:`FakeKubernetes.add_deployment`); nothing is written back.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state", type=Path, help="JSON file of Deployments to seed")
    parser.add_argument("--token", help="require this bearer token")
    parser.add_argument("--rollout-seconds", type=float, default=0.0)
    args = parser.parse_args(argv)
    fake = FakeKubernetes(rollout_seconds=args.rollout_seconds, token=args.token)
    if args.state is not None:
        for entry in json.loads(args.state.read_text())["deployments"]:
            fake.add_deployment(entry.pop("namespace"), entry.pop("name"), **entry)
    fake.start(port=args.port)
    try:
        print(fake.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
