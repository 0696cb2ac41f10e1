"""An Argo CD notification (Backout's webhook template) → a deploy :class:`planners.model.Change`.

One of the change sources of :mod:`integrations.deploys` (pure: a decoded body in, a change
out). Argo CD's webhook notifications have **no fixed body**: the body is whatever the template
says, so this reads the one Backout documents (``template.backout-app-deployed`` in the README,
every value wrapped in ``toJson``): ``app``, ``project``, ``destination``, ``repo_url``, ``path``,
``target_revision``, ``sync_revision``, ``sync_status``, ``health_status``, ``operation_phase``,
``operation_message``, ``started_at``, ``finished_at``, ``images``, ``url``.

A sync whose operation ``Succeeded`` is a deploy; ``Failed`` or ``Error`` a deploy marked
``failed``; one still ``Running`` (or ``Terminating``, or without an operation) records nothing.
The service is the application's name without an environment suffix (``checkoutservice-prod``
is ``checkoutservice`` in ``prod``) unless the template adds ``service`` (and ``environment``);
the version is the tag of the service's image among ``images`` (or of the only image), else the
synced revision, which is also kept as the label ``revision:<revision>``.

Template and service: https://argo-cd.readthedocs.io/en/stable/operator-manual/notifications/services/webhook/
"""

from __future__ import annotations

import hashlib
import json
import re

from integrations.deploys._fields import Fields, image_tag
from integrations.deploys.environment import environment_label, split_environment
from integrations.deploys.ignored import Ignored
from planners.model import Change, ChangeKind

__all__ = ["SOURCE", "parse_notification"]

SOURCE = "argocd"

_FINISHED = {"Succeeded": False, "Failed": True, "Error": True}
"""The finished operation phases, and whether each is a failed deploy."""
_UNDER_WAY = frozenset({"Running", "Terminating"})
_SENDER = "Argo CD notification"
_APP_NAME = re.compile(r"[a-z0-9](?:[a-z0-9.\-]{0,251}[a-z0-9])?")
"""An Argo CD application is a Kubernetes object: its name is a DNS subdomain."""
_MAX_SUMMARY = 1000


def parse_notification(payload: object) -> Change | Ignored:
    """The deploy an Argo CD notification (Backout's template) reports, or why it reports none.

    Args:
        payload: the JSON-decoded body Argo CD's webhook service posted.

    Returns:
        A ``deploy`` change with id ``argocd-<app>-<digest of revision and time>``, or
        :class:`Ignored` for a sync that has not finished.

    Raises:
        ChangeFormatError: the body is not our template's; the message names the field.
    """
    root = Fields.root(payload, sender=_SENDER)
    source = root.text("source")
    if source is not None and source != SOURCE:
        raise root.fail("source", f"is {source[:40]!r}, expected {SOURCE!r}")
    app = root.required_text("app")
    if not _APP_NAME.fullmatch(app):
        raise root.fail("app", "is not an Argo CD application name")
    phase = root.text("operation_phase")
    if phase is None or phase in _UNDER_WAY:
        return Ignored(f"sync of {app} not finished (operation phase {phase or 'none'})")
    if phase not in _FINISHED:
        raise root.fail("operation_phase", f"is {phase[:40]!r}, not an Argo CD operation phase")
    at = root.time("finished_at") or root.time("started_at")
    if at is None:
        raise root.fail("finished_at", "is missing (and so is started_at)")
    service, suffix = split_environment(app)
    service = root.text("service") or service
    environment = root.text("environment") or suffix
    revision = root.text("sync_revision")
    labels = [environment_label(environment)] if environment else []
    if revision:
        labels.append(f"revision:{revision}")
    return Change(
        id=f"argocd-{app}-{_digest(app, revision, at.isoformat())}",
        service=service,
        kind=ChangeKind.DEPLOY,
        at=at,
        to_version=_version(root.strings("images"), service) or revision,
        source=SOURCE,
        summary=_summary(root, app, revision),
        labels=tuple(labels),
        failed=_FINISHED[phase],
    )


def _version(images: list[str], service: str) -> str | None:
    """The tag of the service's image, or of the only image."""
    tags = [image_tag(image) for image in images]
    for name, tag in tags:
        if name == service and tag:
            return tag
    return tags[0][1] if len(tags) == 1 else None


def _summary(root: Fields, app: str, revision: str | None) -> str:
    parts = [f"Argo CD synced {app}"]
    if revision:
        parts.append(f"to {revision[:12]}")
    message = root.text("operation_message")
    if message:
        parts.append(f"({message})")
    url = root.text("url")
    if url:
        parts.append(url)
    return " ".join(parts)[:_MAX_SUMMARY]


def _digest(*parts: str | None) -> str:
    canonical = json.dumps(parts, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:10]
