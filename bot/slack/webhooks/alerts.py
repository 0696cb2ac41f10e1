"""Alert webhooks: a vendor's body → alerts → :meth:`bot.core.usecases.Planning.alerts_posted`.

Part of the webhook routes (:mod:`bot.slack.webhooks`): each alerting sender has its own route
and must send its own format (recognised from the body by :mod:`integrations.alerts`; a body of
another format is refused, naming the route it belongs to). The alerts go to the incident
channel: a firing alert already in an open incident there adds nothing, a new one gets a plan
posted in the channel, a resolved one closes its incident and brings the summary. Events that
are no alert state (a PagerDuty note, ``pagey.ping``) carry no alert and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.usecases import Planning
from bot.slack.webhooks.bodies import Rejected
from bot.slack.webhooks.endpoint import Answer, Delivery, Handler
from integrations.alerts import AlertFormatError, detect_format, parse_alerts
from planners.model import Alert

__all__ = ["SENDERS", "AlertInbox"]

SENDERS: dict[str, str] = {
    "alertmanager": "Alertmanager",
    "grafana": "Grafana",
    "pagerduty": "PagerDuty",
    "datadog": "Datadog",
    "opsgenie": "Opsgenie",
}
"""Each alert format (its route's name, ``/webhooks/<format>``) and its sender's name."""


@dataclass(frozen=True, kw_only=True)
class AlertInbox:
    """Where webhook alerts go: ``planning``, for incidents posted in ``channel``."""

    planning: Planning
    channel: str
    service_labels: tuple[str, ...]

    def handler(self, fmt: str) -> Handler:
        """The handler of the route taking ``fmt`` (a key of :data:`SENDERS`)."""

        def handle(delivery: Delivery) -> Answer:
            alerts = self._alerts(delivery.payload, fmt)
            plan_id = self.planning.alerts_posted(alerts, channel=self.channel, ts=None)
            return Answer(200, {"alerts": len(alerts), "plan": plan_id})

        return handle

    def _alerts(self, payload: object, fmt: str) -> list[Alert]:
        try:
            found = detect_format(payload)
            if found != fmt:
                raise Rejected(
                    f"not a {SENDERS[fmt]} payload: it looks like {SENDERS[found]}'s "
                    f"(post it to /webhooks/{found})"
                )
            return parse_alerts(payload, service_labels=self.service_labels)
        except AlertFormatError as exc:
            raise Rejected(str(exc)) from exc
