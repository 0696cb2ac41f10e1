"""Slack message events for the channel reader tests: the Slack fixtures and realistic samples.

The fixtures are byte-for-byte copies of ``../shared/fixtures`` kept in ``tests/fixtures/slack``.
The samples are hand-written in the shapes each tool posts (Alertmanager's ``slack_config``
defaults, PagerDuty's and Datadog's Slack apps, Grafana's Slack contact point, CI bots); every
id, URL and name is made up. They share the incident story of the fixtures (2026-03-17, UTC).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tests.support.paths import FIXTURES

__all__ = [
    "CHANNEL",
    "KNOWN",
    "NOW",
    "TS",
    "TS_TIME",
    "alertmanager",
    "app_bot",
    "ci_bot",
    "datadog",
    "grafana",
    "legacy_bot",
    "load_event",
    "pagerduty",
]

KNOWN = frozenset(
    {"checkoutservice", "cartservice", "frontend", "paymentservice", "currencyservice"}
)
NOW = datetime(2026, 3, 17, 15, 0, 0, tzinfo=UTC)
TS = "1773756250.002100"  # 2026-03-17 14:04:10 UTC
TS_TIME = datetime(2026, 3, 17, 14, 4, 10, tzinfo=UTC)
CHANNEL = "C07INC1DNT"

AM_TITLE = (
    "CheckoutHighErrorRate checkoutservice "
    "(checkoutservice prod-us-central1 boutique monitoring/k8s critical checkout)"
)


def load_event(name: str) -> dict[str, Any]:
    """The inner ``message`` event of one fixture envelope, decoded afresh."""
    envelope: dict[str, Any] = json.loads((FIXTURES / "slack" / name).read_text(encoding="utf-8"))
    event: dict[str, Any] = envelope["event"]
    return event


def legacy_bot(*, username: str = "AlertManager", ts: str = TS, **fields: Any) -> dict[str, Any]:
    """A ``bot_message`` as an incoming webhook posts it; ``fields`` add or replace keys."""
    event: dict[str, Any] = {
        "type": "message",
        "subtype": "bot_message",
        "text": "",
        "ts": ts,
        "bot_id": "B06ALRTMGR",
        "username": username,
        "channel": CHANNEL,
        "channel_type": "channel",
    }
    event.update(fields)
    return event


def app_bot(*, name: str = "Alerts", ts: str = TS, **fields: Any) -> dict[str, Any]:
    """A message posted by an app with its bot token: ``bot_id``, ``app_id``, no subtype."""
    event: dict[str, Any] = {
        "type": "message",
        "user": "U07APPBOT1",
        "bot_id": "B07APPBOT1",
        "app_id": "A07APPBOT1",
        "text": "",
        "ts": ts,
        "team": "T0AB12CD3",
        "bot_profile": {
            "id": "B07APPBOT1",
            "app_id": "A07APPBOT1",
            "name": name,
            "deleted": False,
            "team_id": "T0AB12CD3",
        },
        "channel": CHANNEL,
        "channel_type": "channel",
    }
    event.update(fields)
    return event


def alertmanager(
    status: str = "[FIRING:1]", *, color: str = "danger", **fields: Any
) -> dict[str, Any]:
    """Alertmanager's Slack receiver (default title and fallback, a custom text)."""
    title = f"{status} {AM_TITLE}"
    attachment = {
        "id": 1,
        "color": color,
        "fallback": f"{title} | http://alertmanager.example.com:9093/#/alerts",
        "title": title,
        "title_link": "http://alertmanager.example.com:9093/#/alerts",
        "text": "*Summary:* checkoutservice gRPC error ratio above 5%",
        "mrkdwn_in": ["fallback", "pretext", "text"],
    }
    attachment.update(fields)
    return legacy_bot(attachments=[attachment])


def pagerduty(status: str = "Triggered", *, ts: str = TS) -> dict[str, Any]:
    """PagerDuty's Slack app: the incident line, then Service/Urgency/Assigned fields."""
    link = "https://acme.pagerduty.example.com/incidents/Q2W9X4TZ1KJ7AB"
    return app_bot(
        name="PagerDuty",
        ts=ts,
        app_id="A1PGRDTY0",
        attachments=[
            {
                "color": "#d52a1e" if status == "Triggered" else "#2eb67d",
                "fallback": f"{status} #4182 CheckoutHighErrorRate on checkoutservice",
                "blocks": [
                    {
                        "type": "section",
                        "text": {
                            "type": "mrkdwn",
                            "text": f"*{status}* <{link}|#4182 CheckoutHighErrorRate on "
                            "checkoutservice>",
                        },
                    },
                    {
                        "type": "section",
                        "fields": [
                            {"type": "mrkdwn", "text": "*Service:*\ncheckoutservice"},
                            {"type": "mrkdwn", "text": "*Urgency:*\nHigh"},
                            {"type": "mrkdwn", "text": "*Assigned:*\n<@U05SRE042>"},
                        ],
                    },
                ],
            }
        ],
    )


def datadog(title: str, *, text: str = "", color: str = "#e01e5a") -> dict[str, Any]:
    """Datadog's Slack integration: the event title, then the monitor message and tags."""
    body = text or (
        "checkoutservice p95 latency is 812ms (threshold 500ms) over the last 5m\n"
        "<https://app.datadoghq.example.com/monitors/48213577|Monitor> · "
        "<https://app.datadoghq.example.com/apm/services/checkoutservice|APM>"
    )
    return app_bot(
        name="Datadog",
        attachments=[
            {
                "color": color,
                "title": title,
                "title_link": "https://app.datadoghq.example.com/monitors/48213577",
                "text": body,
                "footer": "Datadog",
            }
        ],
    )


GRAFANA_TEXT = (
    "**Firing**\n\n"
    "Value: B=1.82\n"
    "Labels:\n"
    " - alertname = FrontendCheckoutLatencyHigh\n"
    " - grafana_folder = Boutique\n"
    " - service = frontend\n"
    " - severity = warning\n"
    "Annotations:\n"
    " - summary = Frontend checkout p95 latency is 1.82s (threshold 1.5s)\n"
    "Source: https://grafana.example.com/alerting/grafana/fe1x9/view?orgId=1\n"
    "Silence: https://grafana.example.com/alerting/silence/new?alertmanager=grafana\n"
    "Dashboard: https://grafana.example.com/d/boutique-frontend?orgId=1\n"
)


def grafana(*, footer: str = "Grafana v11.5.2", status: str = "[FIRING:1]") -> dict[str, Any]:
    """Grafana's Slack contact point: default title and message in one attachment."""
    attachment: dict[str, Any] = {
        "color": "#D63232" if "FIRING" in status else "#36a64f",
        "title": f"{status} FrontendCheckoutLatencyHigh Boutique (frontend production warning)",
        "title_link": "https://grafana.example.com/alerting/list",
        "text": GRAFANA_TEXT,
        "ts": 1773756030,
    }
    if footer:
        attachment["footer"] = footer
        attachment["footer_icon"] = "https://grafana.com/static/assets/img/fav32.png"
    return legacy_bot(username="grafana" if footer else "notifier", attachments=[attachment])


def ci_bot(text: str = "", *, ts: str = TS, **fields: Any) -> dict[str, Any]:
    """A CI bot's message in a deploy channel."""
    event = app_bot(name="Deploy Bot", ts=ts, text=text)
    event.update(fields)
    return event
