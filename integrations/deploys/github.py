"""GitHub ``deployment_status`` webhook event → a deploy :class:`planners.model.Change`.

One of the change sources of :mod:`integrations.deploys` (pure: a decoded body in, a change out;
the signature and the ``X-GitHub-Event`` header are the web layer's). A finished deployment
becomes a ``deploy`` change from source ``github``: ``success`` a deploy, ``failure`` and
``error`` a deploy marked ``failed`` (its version may not be what runs). Statuses of a deployment
still under way (``pending``, ``queued``, ``in_progress``) and ``inactive`` (a later deployment
replaced it) record nothing.

What is read: the service is ``deployment.payload.service`` when the workflow sets it, else the
repository's name; the version ``deployment.payload.version``, else the tag of
``deployment.payload.image``, else the deployment's ``ref`` when it is a version tag, else its
commit; the previous version ``deployment.payload.previous_version`` or the tag of
``previous_image`` (a workflow's own keys: GitHub's ``payload`` is free-form); the environment
``deployment_status.environment``; the time ``deployment_status.created_at``; the commit as the
label ``sha:<commit>``.

Payload: https://docs.github.com/en/webhooks/webhook-events-and-payloads#deployment_status ;
JSON schema: https://github.com/octokit/webhooks/blob/main/payload-schemas/api.github.com/deployment_status/created.schema.json
"""

from __future__ import annotations

import re

from integrations.deploys._fields import Fields, image_tag
from integrations.deploys.environment import environment_label
from integrations.deploys.ignored import Ignored
from planners.model import Change, ChangeKind

__all__ = ["SOURCE", "parse_deployment_status"]

SOURCE = "github"

_FINISHED = {"success": False, "failure": True, "error": True}
"""The finished states, and whether each is a failed deploy."""
_NOT_FINISHED = frozenset({"pending", "queued", "in_progress", "waiting", "inactive"})
"""Under way, or ``inactive``: a later deployment to the environment replaced this one."""
_SENDER = "GitHub deployment_status"
_VERSION_TAG = re.compile(r"v?\d+(?:\.\d+){1,3}(?:[-+][0-9A-Za-z][0-9A-Za-z.\-+]{0,63})?")
_SHA = re.compile(r"[0-9a-f]{7,40}")
_MAX_SUMMARY = 1000


def parse_deployment_status(payload: object) -> Change | Ignored:
    """The deploy a ``deployment_status`` event reports, or why it reports none.

    Args:
        payload: the JSON-decoded body of an ``X-GitHub-Event: deployment_status`` delivery.

    Returns:
        A ``deploy`` change with id ``github-<deployment id>-<state>`` (``failed`` for
        ``failure`` and ``error``), or :class:`Ignored` for a deployment not finished.

    Raises:
        ChangeFormatError: the body is not a ``deployment_status`` event; the message names the
            field.
    """
    root = Fields.root(payload, sender=_SENDER)
    status = root.required_child("deployment_status")
    deployment = root.required_child("deployment")
    state = status.required_text("state")
    if state in _NOT_FINISHED:
        return Ignored(
            f"deployment status {state!r}: only success, failure and error record a deploy"
        )
    if state not in _FINISHED:
        raise status.fail("state", f"is {state[:40]!r}, not a GitHub deployment state")
    extra = _free_form(deployment)
    sha = deployment.text("sha")
    environment = status.text("environment") or deployment.text("environment")
    at = status.time("created_at") or status.time("updated_at")
    if at is None:
        raise status.fail("created_at", "is missing")
    labels = [environment_label(environment)] if environment else []
    if sha and _SHA.fullmatch(sha):
        labels.append(f"sha:{sha}")
    return Change(
        id=f"github-{deployment.required_text('id')}-{state}",
        service=_service(root, extra),
        kind=ChangeKind.DEPLOY,
        at=at,
        from_version=_from_version(extra),
        to_version=_version(deployment, extra, sha),
        actor=_actor(root, deployment, status),
        source=SOURCE,
        summary=_summary(status, deployment),
        labels=tuple(labels),
        failed=_FINISHED[state],
    )


def _free_form(deployment: Fields) -> Fields | None:
    """``deployment.payload``: the workflow's own object (GitHub also allows a string there)."""
    if isinstance(deployment.data.get("payload"), str):
        return None
    return deployment.child("payload")


def _service(root: Fields, extra: Fields | None) -> str:
    named = extra.text("service") if extra else None
    return named or root.required_child("repository").required_text("name")


def _version(deployment: Fields, extra: Fields | None, sha: str | None) -> str | None:
    if extra is not None:
        image = extra.text("image")
        version = extra.text("version") or (image_tag(image)[1] if image else None)
        if version:
            return version
    ref = deployment.text("ref")
    if ref and _VERSION_TAG.fullmatch(ref.removeprefix("refs/tags/")):
        return ref.removeprefix("refs/tags/")
    return sha


def _from_version(extra: Fields | None) -> str | None:
    if extra is None:
        return None
    previous = extra.text("previous_version")
    image = extra.text("previous_image")
    return previous or (image_tag(image)[1] if image else None)


def _actor(root: Fields, deployment: Fields, status: Fields) -> str | None:
    for node in (deployment.child("creator"), status.child("creator"), root.child("sender")):
        login = node.text("login") if node else None
        if login:
            return login
    return None


def _summary(status: Fields, deployment: Fields) -> str:
    description = status.text("description") or deployment.text("description") or ""
    link = status.text("target_url") or status.text("log_url")
    summary = f"{description} ({link})" if description and link else description or link or ""
    return summary[:_MAX_SUMMARY]
