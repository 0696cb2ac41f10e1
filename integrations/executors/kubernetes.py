"""The Kubernetes executor: rolls a Deployment back to an earlier ReplicaSet's pod template.

One of the executors behind ``integrations.base.Executor``, driven by the engine in ``bot/``. It
does what ``kubectl rollout undo`` does over plain HTTP (``integrations.http``): read the
Deployment and the ReplicaSets it owns, pick the target revision (the one running
``target_version``, else the one before the current), patch ``spec.template`` to that
ReplicaSet's template so the controller reuses it, then wait like ``kubectl rollout status``.
The patch is an RFC 7386 merge patch computed against the current template (keys the target
lacks are deleted) and guarded by ``resourceVersion``; the step's key goes into the
Deployment's annotations, never the template. ``from_config`` builds the client from an API
URL and token, a kubeconfig file, or in-cluster credentials (``kube_credentials.py``).

As kubectl's ``rollout undo`` (``pkg/polymorphichelpers/rollback.go``) does, the Deployment's
annotations become the target ReplicaSet's (``kubernetes.io/change-cause`` included), keeping
its own revision bookkeeping and ``last-applied-configuration``; a target may be a revision
number (``revision:N``, or a bare ``N`` that no image tag matches: kubectl's ``--to-revision``).
A 409 on the ``resourceVersion`` guard means "changed meanwhile: re-read and try again" and is
temporary. StatefulSets and DaemonSets are not rolled back: a ``kind`` naming them, or a name that
turns out to be one, is refused with the way to do it instead.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import httpx

from integrations.base import Operation, Outcome, Preview, TargetState
from integrations.errors import (
    ConfigError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnavailableError,
)
from integrations.executors.diagnosis import Check, check_call
from integrations.executors.kube_credentials import TokenFileAuth, connection
from integrations.http import make_client, raise_for_status, send
from planners.model import Action

__all__ = ["ROLLBACK_ANNOTATION", "TARGET_ANNOTATION", "KubernetesExecutor"]

ROLLBACK_ANNOTATION = "backout.io/rollback-of"
"""Deployment annotation: the idempotency key of the step that last rolled it back."""
TARGET_ANNOTATION = "backout.io/rollback-to"
"""Deployment annotation: the ReplicaSet that step rolled back to."""

_NAME = "kubernetes"
_REVISION = "deployment.kubernetes.io/revision"
_HASH_LABEL = "pod-template-hash"
_KEPT = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        _REVISION,
        f"{_REVISION}-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
"""kubectl's ``annotationsToSkip``: the Deployment keeps these, the others come from the target."""
_VERBS = (("get", "deployments"), ("patch", "deployments"), ("list", "replicasets"))
"""What a rollback does: the Role Backout needs in each namespace (README: Executors)."""
_OTHER_KINDS = {"statefulset": "statefulsets", "daemonset": "daemonsets"}
_Json = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class _Rollback:
    where: str  # namespace/name
    path: str
    deployment: _Json
    target: _Json  # the ReplicaSet to return to
    at_target: bool  # the Deployment's template is the target's
    done: bool  # its rollout is complete


class KubernetesExecutor:
    """Rolls Deployments back (``rollback_deploy``, and ``revert_config`` of the pod template).

    Operation params: ``namespace`` (default: the constructor's, ``default``) and ``deployment``
    (default: the service name). ``execute`` on a Deployment already at target does not patch.
    """

    kind: ClassVar[str] = "kubernetes"

    def __init__(
        self,
        *,
        client: httpx.Client,
        rollout_timeout: float = 300.0,
        poll_interval: float = 2.0,
        namespace: str = "default",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._rollout_timeout = rollout_timeout
        self._poll_interval = poll_interval
        self._namespace = namespace
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KubernetesExecutor:
        """Build from ``api_url`` (+ ``token``, ``ca_file``, ``insecure``), ``kubeconfig`` (+
        ``context``) or ``in_cluster: true``; ``namespace``, ``rollout_timeout``,
        ``poll_interval`` and ``timeout`` are optional. Raises ``ConfigError`` when unusable.
        """
        server, token, tls, namespace = connection(config)
        client = make_client(
            server,
            timeout=float(config.get("timeout", 10.0)),
            headers={"Authorization": f"Bearer {token}"} if isinstance(token, str) else None,
            verify=tls if isinstance(tls, bool) else True,
            transport=None if isinstance(tls, bool) else httpx.HTTPTransport(verify=tls),
        )
        if isinstance(token, Path):
            client.auth = TokenFileAuth(token)
        elif isinstance(token, httpx.Auth):  # an exec plugin's, basic auth
            client.auth = token
        return cls(
            client=client,
            rollout_timeout=float(config.get("rollout_timeout", 300.0)),
            poll_interval=float(config.get("poll_interval", 2.0)),
            namespace=str(config.get("namespace") or namespace),
        )

    def close(self) -> None:
        """Close the HTTP client (the one ``from_config`` built, or the one passed in)."""
        self._client.close()

    # -- the Executor protocol --------------------------------------------------------------

    def current_state(self, operation: Operation) -> TargetState:
        """At target once the Deployment runs the target template and its rollout is complete."""
        plan = self._plan(operation)
        return TargetState(
            at_target=plan.at_target and plan.done,
            in_progress=plan.at_target and not plan.done,
            current=f"{_images(plan.deployment)} (revision {_revision(plan.deployment)})",
            detail=_progress(plan.deployment),
        )

    def preview(self, operation: Operation) -> Preview:
        """Describe the template change, e.g. ``shop/cart: image a:v2 -> v1 (revision 7 -> 6)``."""
        plan = self._plan(operation)
        now, then = _revision(plan.deployment), _revision(plan.target)
        if plan.at_target:
            summary = f"{plan.where}: already at {_images(plan.target)} (revision {now})"
            return Preview(summary=summary, already_done=True)
        self._refuse_paused(plan)
        change = _describe(_template(plan.deployment), _clean(plan.target))
        reuse = f"ReplicaSet {_dig(plan.target, 'metadata').get('name')} becomes revision {now + 1}"
        return Preview(
            summary=f"{plan.where}: {change} (revision {now} -> {then})",
            changes=(f"patch spec.template of deployment {plan.where}", reuse),
        )

    def execute(self, operation: Operation) -> Outcome:
        """Patch the template back (unless already there) and wait for the rollout to finish."""
        plan = self._plan(operation)
        if not plan.at_target:
            self._refuse_paused(plan)
            annotations = _annotations(plan.deployment, plan.target)
            annotations[ROLLBACK_ANNOTATION] = operation.key or operation.step_id
            annotations[TARGET_ANNOTATION] = _dig(plan.target, "metadata").get("name")
            metadata: _Json = {"annotations": annotations}
            if version := _dig(plan.deployment, "metadata").get("resourceVersion"):
                metadata["resourceVersion"] = version  # fails with 409 if changed meanwhile
            template = _diff(_template(plan.deployment), _clean(plan.target))
            patch = {"metadata": metadata, "spec": {"template": template}}
            try:
                self._call("PATCH", plan.path, f"deployment {plan.where}", json=patch)
            except ConflictError as exc:
                raise UnavailableError(
                    f"deployment {plan.where} changed while Backout patched it; re-reading it "
                    f"and trying again ({exc})",
                    integration=_NAME,
                ) from exc
        final = self._wait(plan)
        images, revision, before = _images(final), _revision(final), _revision(plan.deployment)
        verb = "was already at" if plan.at_target else "rolled back to"
        return Outcome(
            summary=f"{plan.where} {verb} {images} (revision {revision})",
            notes=() if plan.at_target else (f"revision {before} stays in the history",),
            details={
                "deployment": plan.where,
                "revision": revision,
                "previous_revision": before,
                "replicaset": _dig(plan.target, "metadata").get("name"),
                "images": images,
                "patched": not plan.at_target,
            },
        )

    def diagnose(self, operation: Operation) -> list[Check]:
        """For ``backout doctor``: read the Deployment and its ReplicaSets, and ask the API
        server (``SelfSubjectAccessReview``) whether Backout may do what a rollback does."""
        namespace = str(operation.params.get("namespace") or self._namespace)

        def read() -> str:
            state = self.current_state(operation)
            return f"runs {state.current}"

        checks = [check_call("read the Deployment and its ReplicaSets", read)]
        for verb, resource in _VERBS:
            may = partial(self._may, namespace, verb, resource)
            checks.append(check_call(f"may {verb} {resource}", may))
        return checks

    def _may(self, namespace: str, verb: str, resource: str) -> str:
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": verb,
                    "group": "apps",
                    "resource": resource,
                }
            },
        }
        path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        answer = self._call("POST", path, "SelfSubjectAccessReview", json=review)
        if _dig(answer, "status").get("allowed") is True:
            return f"{verb} {resource} in {namespace}: allowed"
        raise ForbiddenError(
            f"{verb} {resource} (apps) in namespace {namespace} is not allowed; add it to "
            "Backout's Role",
            integration=_NAME,
        )

    # -- internals --------------------------------------------------------------------------

    def _plan(self, operation: Operation) -> _Rollback:
        if operation.action not in (Action.ROLLBACK_DEPLOY, Action.REVERT_CONFIG):
            raise ConfigError(f"kubernetes cannot {operation.action.value}", integration=_NAME)
        namespace = str(operation.params.get("namespace") or self._namespace)
        name = str(operation.params.get("deployment") or operation.service)
        where, base = f"{namespace}/{name}", f"/apis/apps/v1/namespaces/{namespace}"
        kind = str(operation.params.get("kind") or "deployment").lower()
        if kind != "deployment":
            raise _unsupported(kind, where)
        if statefulset := operation.params.get("statefulset"):
            raise _unsupported("statefulset", f"{namespace}/{statefulset}")
        try:
            deployment = self._call("GET", f"{base}/deployments/{name}", f"deployment {where}")
        except NotFoundError:
            for other, plural in _OTHER_KINDS.items():
                try:
                    self._call("GET", f"{base}/{plural}/{name}", f"{other} {where}")
                except NotFoundError:
                    continue
                raise _unsupported(other, where) from None
            raise
        labels = _dig(deployment, "spec", "selector", "matchLabels")
        selector = ",".join(f"{key}={value}" for key, value in labels.items())
        query = {"labelSelector": selector}
        listing = self._call("GET", f"{base}/replicasets", f"{where} ReplicaSets", params=query)
        uid = _dig(deployment, "metadata").get("uid")
        owned = sorted(
            (rs for rs in listing.get("items") or [] if uid and uid in _owners(rs)),
            key=_revision,
            reverse=True,
        )
        target = _choose(operation, deployment, owned, where)
        return _Rollback(
            where=where,
            path=f"{base}/deployments/{name}",
            deployment=deployment,
            target=target,
            at_target=_normalised(_template(deployment)) == _clean(target),
            done=_rollout_done(deployment),
        )

    def _refuse_paused(self, plan: _Rollback) -> None:
        if _dig(plan.deployment, "spec").get("paused"):
            raise ConflictError(
                f"deployment {plan.where} is paused; resume it (kubectl rollout resume) first",
                integration=_NAME,
            )

    def _wait(self, plan: _Rollback) -> _Json:
        """Poll like ``kubectl rollout status`` until complete, the deadline or the timeout."""
        deadline = self._clock() + self._rollout_timeout
        while True:
            deployment = self._call("GET", plan.path, f"deployment {plan.where}")
            if _rollout_done(deployment):
                return deployment
            remaining = deadline - self._clock()
            problem = f"did not finish within {self._rollout_timeout:g} s" if remaining <= 0 else ""
            if _deadline_exceeded(deployment):
                problem = "exceeded its progress deadline"
            if problem:
                message = f"rollout of {plan.where} {problem} ({_progress(deployment)})"
                raise UnavailableError(message, integration=_NAME)
            self._sleep(min(self._poll_interval, remaining))

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> _Json:
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
        try:
            request = self._client.build_request(method, path, headers=headers, **kwargs)
            response = send(self._client, request, integration=_NAME)
            raise_for_status(response, integration=_NAME, what=what)
            body = response.json()
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            raise UnavailableError(f"{what}: {exc}", integration=_NAME) from exc
        except ValueError as exc:
            raise UnavailableError(f"{what}: the answer is not JSON", integration=_NAME) from exc
        if not isinstance(body, dict):
            raise UnavailableError(f"{what}: the answer is not a JSON object", integration=_NAME)
        return body


def _dig(obj: Any, *keys: str) -> _Json:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj if isinstance(obj, dict) else {}


def _revision(obj: _Json) -> int:
    value = _dig(obj, "metadata", "annotations").get(_REVISION, "0")
    return int(value) if str(value).isdigit() else 0


def _owners(obj: _Json) -> list[Any]:
    references = _dig(obj, "metadata").get("ownerReferences") or []
    return [ref.get("uid") for ref in references if isinstance(ref, dict)]


def _template(obj: _Json) -> _Json:
    return _dig(obj, "spec", "template")


def _normalised(template: _Json) -> _Json:
    """A copy of a pod template without the controller's ``pod-template-hash`` label."""
    copied = copy.deepcopy(template)
    _dig(copied, "metadata", "labels").pop(_HASH_LABEL, None)
    return copied


def _clean(replicaset: _Json) -> _Json:
    """The ReplicaSet's pod template as the Deployment would carry it."""
    return _normalised(_template(replicaset))


def _containers(template: _Json) -> list[_Json]:
    containers = _dig(template, "spec").get("containers", [])
    return [c for c in containers if isinstance(c, dict)] if isinstance(containers, list) else []


def _images(obj: _Json) -> str:
    """The images a Deployment or ReplicaSet runs."""
    return ", ".join(str(c.get("image")) for c in _containers(_template(obj))) or "no containers"


def _tag(image: str) -> tuple[str, str]:
    """``("repo", "tag")`` of an image reference; a digest counts as the tag."""
    if "@" in image:
        repo, _, digest = image.partition("@")
        return repo, digest
    repo, colon, tag = image.rpartition(":")
    return (repo, tag) if colon and "/" not in tag else (image, "")


def _runs(replicaset: _Json, version: str) -> bool:
    images = [str(c.get("image", "")) for c in _containers(_template(replicaset))]
    return any(version in (image, _tag(image)[1]) for image in images)


def _choose(operation: Operation, deployment: _Json, owned: list[_Json], where: str) -> _Json:
    """The newest owned ReplicaSet running ``target_version`` (or the revision it numbers);
    without one, the ReplicaSet this step rolled back to before (so a retry is idempotent), else
    the revision before the current.
    """
    if version := operation.target_version:
        number = version.removeprefix("revision").lstrip(":= ")
        found = [rs for rs in owned if _runs(rs, version)] if number == version else []
        missing = f"no revision running {version}"
        if not found and number.isdigit():
            found = [rs for rs in owned if _revision(rs) == int(number)]
            missing = f"no revision {number}"
    else:
        annotations, current = _dig(deployment, "metadata", "annotations"), _revision(deployment)
        found = [rs for rs in owned if 0 < _revision(rs) < current]
        missing = "no earlier revision to roll back to"
        if operation.key and annotations.get(ROLLBACK_ANNOTATION) == operation.key:
            chosen = annotations.get(TARGET_ANNOTATION)
            found = [rs for rs in owned if _dig(rs, "metadata").get("name") == chosen] + found
    if not found:
        raise NotFoundError(f"deployment {where} has {missing}", integration=_NAME)
    return found[0]


def _annotations(deployment: _Json, target: _Json) -> _Json:
    """The Deployment's new annotations as an RFC 7386 patch: the target ReplicaSet's, except
    the ones kubectl keeps from the Deployment (``getDeploymentPatch`` replaces them all)."""
    ours = _dig(deployment, "metadata", "annotations")
    theirs = {k: v for k, v in _dig(target, "metadata", "annotations").items() if k not in _KEPT}
    patch: _Json = {k: None for k in ours if k not in _KEPT and k not in theirs}
    patch.update({k: v for k, v in theirs.items() if ours.get(k) != v})
    return patch


def _unsupported(kind: str, where: str) -> ConfigError:
    return ConfigError(
        f"{where} is a {kind}: the kubernetes executor rolls back Deployments only; use "
        f"kubectl rollout undo {kind}/{where.split('/', 1)[1]} -n {where.split('/', 1)[0]} "
        "(ControllerRevisions), or the helm or argocd executor",
        integration=_NAME,
    )


def _describe(current: _Json, target: _Json) -> str:
    """``image repo:v2 -> v1`` for each container whose image changes between two templates."""
    before = {str(c.get("name")): str(c.get("image")) for c in _containers(current)}
    changes = []
    for container in _containers(target):
        old, new = before.get(str(container.get("name"))), str(container.get("image"))
        if old is not None and old != new:
            same_repo = _tag(old)[0] == _tag(new)[0] and _tag(new)[1]
            changes.append(f"image {old} -> {_tag(new)[1] if same_repo else new}")
    return ", ".join(changes) or "pod template (same images: config or env)"


def _diff(current: _Json, target: _Json) -> _Json:
    """The RFC 7386 merge patch that turns ``current`` into ``target``."""
    patch: _Json = {key: None for key in current if key not in target}
    for key, value in target.items():
        old = current.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            if nested := _diff(old, value):
                patch[key] = nested
        elif old != value:
            patch[key] = value
    return patch


def _observed(deployment: _Json) -> bool:
    generation = _dig(deployment, "metadata").get("generation", 0)
    return bool(_dig(deployment, "status").get("observedGeneration", 0) >= generation)


def _deadline_exceeded(deployment: _Json) -> bool:
    conditions = _dig(deployment, "status").get("conditions") or []
    reasons = {c.get("reason") for c in conditions if isinstance(c, dict)}
    return _observed(deployment) and "ProgressDeadlineExceeded" in reasons


def _rollout_done(deployment: _Json) -> bool:
    """``kubectl rollout status``: observed, all replicas updated and available, none old."""
    status, wanted = _dig(deployment, "status"), _dig(deployment, "spec").get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    return (
        _observed(deployment)
        and updated >= wanted
        and status.get("replicas", 0) <= updated
        and status.get("availableReplicas", 0) >= updated
    )


def _progress(deployment: _Json) -> str:
    status = _dig(deployment, "status")
    wanted = _dig(deployment, "spec").get("replicas", 1)
    updated, available = status.get("updatedReplicas", 0), status.get("availableReplicas", 0)
    return f"{updated} of {wanted} replicas updated, {available} available"
