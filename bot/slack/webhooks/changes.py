"""Change webhooks: GitHub, Argo CD and Backout's own change list →
:meth:`bot.core.usecases.Planning.deploy_announced`.

Part of the webhook routes (:mod:`bot.slack.webhooks`). The vendor's body becomes a change
(:mod:`integrations.deploys`); a change is recorded, with a standby rollback plan, when its
environment (if it names one) is production-like (``channels.environments``) and its service is
in the topology; otherwise it is answered ``202`` with the reason, like an event that records
nothing (a deployment still queued, a GitHub event other than ``deployment_status``). The same
deploy told by several senders (CI and Argo CD) is stored once (:mod:`bot.store.changes`): the
later report answers ``"recorded": false``. GitHub's ``ping`` is answered ``200``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.core.usecases import Planning
from bot.slack.webhooks.bodies import Rejected
from bot.slack.webhooks.endpoint import Answer, Delivery
from integrations.deploys import (
    ChangeFormatError,
    Ignored,
    environment_of,
    is_production,
    parse_changes,
)
from integrations.deploys.argocd import parse_notification
from integrations.deploys.github import parse_deployment_status
from planners.errors import UnknownServiceError
from planners.model import Change

__all__ = ["ARGOCD_HINT", "ChangeInbox"]

ARGOCD_HINT = (
    "Argo CD sends its template's text as it is, so the notification template must wrap every "
    'value in toJson ("app":{{toJson .app.metadata.name}}), as Backout\'s template in the README '
    "does"
)
"""Said with a malformed Argo CD body: unquoted or quote-breaking values are the usual cause."""


@dataclass(frozen=True, kw_only=True)
class ChangeInbox:
    """Where webhook changes go: ``planning``, for production-like ``environments`` only."""

    planning: Planning
    environments: tuple[str, ...]

    def github(self, delivery: Delivery) -> Answer:
        """``/webhooks/github``: ``ping``, ``deployment_status``; other events are ignored."""
        event = delivery.headers.get("x-github-event")
        if not event:
            raise Rejected("no X-GitHub-Event header: GitHub names the event in it")
        if event == "ping":
            return Answer(200, {"event": "ping", "ok": True})
        if event != "deployment_status":
            return Answer(202, {"ignored": f"event {event[:60]!r}: only deployment_status is read"})
        return self._one(parse_deployment_status, delivery.payload)

    def argocd(self, delivery: Delivery) -> Answer:
        """``/webhooks/argocd``: a notification made by Backout's template."""
        return self._one(parse_notification, delivery.payload)

    def normalised(self, delivery: Delivery) -> Answer:
        """``/webhooks/changes``: one change object, or a list of them, in Backout's form."""
        payload = delivery.payload
        try:
            changes = parse_changes(payload if isinstance(payload, list) else [payload])
        except ChangeFormatError as exc:
            raise Rejected(f"not Backout's change list: {exc}") from exc
        if not changes:
            raise Rejected("empty list: no change to record")
        return Answer(200, {"changes": [self._record(change) for change in changes]})

    def _one(self, parse: Callable[[object], Change | Ignored], payload: object) -> Answer:
        try:
            parsed = parse(payload)
        except ChangeFormatError as exc:
            raise Rejected(str(exc)) from exc
        if isinstance(parsed, Ignored):
            return Answer(202, {"ignored": parsed.reason})
        outcome = self._record(parsed)
        return Answer(202 if "ignored" in outcome else 200, outcome)

    def _record(self, change: Change) -> dict[str, object]:
        """Record ``change`` with its standby plan, or say why it is not recorded."""
        environment = environment_of(change)
        if environment is not None and not is_production(environment, self.environments):
            why = f"environment {environment[:60]!r} is not production (channels.environments)"
            return {"change": change.id, "ignored": why}
        try:
            self.planning.check_service(change.service)
        except UnknownServiceError as exc:
            return {"change": change.id, "ignored": f"{exc} in the topology"}
        plan_id = self.planning.deploy_announced(change)
        return {"change": change.id, "recorded": plan_id is not None, "standby_plan": plan_id}
