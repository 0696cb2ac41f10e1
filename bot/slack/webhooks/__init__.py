"""Webhooks on the bot's HTTP server, for teams that point their alerting and deploy tools at
Backout instead of (or beside) Slack (DESIGN.md, "The Slack surface").

The inbound edge next to ``/slack/events`` (:mod:`bot.slack.web` mounts these routes):

* alerts: ``/webhooks/alertmanager``, ``/webhooks/grafana`` (``POST`` or ``PUT``),
  ``/webhooks/pagerduty``, ``/webhooks/datadog``, ``/webhooks/opsgenie`` (:mod:`.alerts`): the
  alerts go to :meth:`bot.core.usecases.Planning.alerts_posted` with the incident channel;
* changes: ``/webhooks/github`` (``deployment_status``), ``/webhooks/argocd`` (Backout's
  notification template), ``/webhooks/changes`` (Backout's normalised change list)
  (:mod:`.changes`): each change goes to :meth:`~bot.core.usecases.Planning.deploy_announced`,
  which records it once across senders and keeps a standby plan.

Each sender authenticates as it can (:mod:`.auth`): PagerDuty and GitHub sign the body, the
others present the shared secret. PagerDuty and GitHub sign no timestamp, so each of their
deliveries is handled once by its id, on every replica (:mod:`.deliveries`). One pipeline serves
every route (:mod:`.endpoint`): 404 while its settings are missing, 413 over the size limit, 401
unauthenticated, 400 with a reason for a body it cannot take (:mod:`.bodies`), 503 with a logged
reference when handling fails; never a 500. :func:`webhook_routes` (:mod:`.routes`) builds them
all.
"""

from __future__ import annotations

from bot.slack.webhooks.routes import webhook_routes

__all__ = ["webhook_routes"]
