"""Which webhook routes exist, how each sender authenticates, and what each does with its body.

The table of :mod:`bot.slack.webhooks`: alert senders post to ``/webhooks/<format>``
(:mod:`.alerts`), deploy senders to ``/webhooks/github``, ``/webhooks/argocd`` and
``/webhooks/changes`` (:mod:`.changes`); every route goes through the one pipeline of
:mod:`.endpoint`. A route whose setting is missing answers 404 naming it: the shared-secret
routes need ``webhooks.secret``, PagerDuty ``webhooks.pagerduty_secret``, GitHub
``webhooks.github_secret``; alert routes also need ``webhooks.incident_channel``. PagerDuty's and
GitHub's deliveries are handled once each (:mod:`.deliveries`).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import Route

from bot.core.usecases import Planning
from bot.slack.webhooks.alerts import SENDERS, AlertInbox
from bot.slack.webhooks.auth import (
    Authenticator,
    SharedSecret,
    github_signature,
    pagerduty_signature,
)
from bot.slack.webhooks.changes import ARGOCD_HINT, ChangeInbox
from bot.slack.webhooks.deliveries import (
    Ledger,
    Once,
    github_delivery,
    pagerduty_event,
    pagerduty_occurred_at,
)
from bot.slack.webhooks.endpoint import Hook, route
from integrations.deploys import PRODUCTION_ENVIRONMENTS

__all__ = ["webhook_routes"]


def webhook_routes(
    *,
    planning: Planning,
    secret: str | None,
    channel: str | None,
    service_labels: Sequence[str],
    environments: Sequence[str] = PRODUCTION_ENVIRONMENTS,
    pagerduty_secret: str | None = None,
    github_secret: str | None = None,
    max_body_bytes: int = 5_000_000,
    ledger: Ledger | None = None,
) -> list[Route]:
    """Every webhook route; each answers 404 while the settings it needs are missing.

    Args:
        planning: where the alerts and the changes go.
        secret: the shared secret of the senders that cannot sign (``webhooks.secret``).
        channel: the incident channel id where webhook-opened incidents post their plans.
        service_labels: the labels naming an alert's service, first present wins.
        environments: the deploy environments that count (production-like).
        pagerduty_secret: the PagerDuty v3 subscription's signing secret.
        github_secret: the GitHub webhook's secret.
        max_body_bytes: the body size limit (413 above it).
        ledger: where PagerDuty's and GitHub's delivery ids are remembered; the planning
            store's handled ids when None.
    """
    shared = SharedSecret(secret.encode()) if secret else None
    need_secret = () if shared else ("webhooks.secret",)
    need_channel = () if channel else ("webhooks.incident_channel",)
    alerts = AlertInbox(
        planning=planning, channel=channel or "", service_labels=tuple(service_labels)
    )
    changes = ChangeInbox(planning=planning, environments=tuple(environments))

    ledger = ledger if ledger is not None else planning.store.handled
    pagerduty_once = Once(
        ledger=ledger,
        clock=planning.clock,
        sender="pagerduty",
        source="event.id",
        delivery_id=pagerduty_event,
        occurred_at=pagerduty_occurred_at,
    )
    github_once = Once(
        ledger=ledger,
        clock=planning.clock,
        sender="github",
        source="the X-GitHub-Delivery header",
        delivery_id=github_delivery,
    )

    def alert_hook(
        fmt: str, auth: Authenticator | None, missing: tuple[str, ...], once: Once | None = None
    ) -> Hook:
        handle = alerts.handler(fmt)
        return Hook(
            path=f"/webhooks/{fmt}",
            sender=SENDERS[fmt],
            handle=once.wrap(handle) if once else handle,
            auth=auth,
            missing=missing + need_channel,
            methods=("POST", "PUT") if fmt == "grafana" else ("POST",),
        )

    pagerduty = pagerduty_signature(pagerduty_secret) if pagerduty_secret else None
    github = github_signature(github_secret) if github_secret else None
    hooks = [
        *(alert_hook(fmt, shared, need_secret) for fmt in SENDERS if fmt != "pagerduty"),
        alert_hook(
            "pagerduty",
            pagerduty,
            () if pagerduty else ("webhooks.pagerduty_secret",),
            pagerduty_once,
        ),
        Hook(
            path="/webhooks/github",
            sender="GitHub",
            handle=github_once.wrap(changes.github),
            auth=github,
            missing=() if github else ("webhooks.github_secret",),
        ),
        Hook(
            path="/webhooks/argocd",
            sender="Argo CD",
            handle=changes.argocd,
            auth=shared,
            missing=need_secret,
            json_hint=ARGOCD_HINT,
        ),
        Hook(
            path="/webhooks/changes",
            sender="Backout's change list",
            handle=changes.normalised,
            auth=shared,
            missing=need_secret,
        ),
    ]
    return [route(hook, max_body_bytes=max_body_bytes) for hook in hooks]
