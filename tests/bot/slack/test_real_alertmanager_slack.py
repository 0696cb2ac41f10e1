"""A real Alertmanager's Slack receiver on its default template and default route (issue 10,
set-up b, and defect 2): Alertmanager posts to an incoming webhook of the fake Slack, which
delivers the message to the bot as Slack would (a signed ``bot_message`` event), and the bot
answers in the message's thread.

What Alertmanager 0.25 sends (``notify/slack/slack.go`` at tag v0.25.0,
https://github.com/prometheus/alertmanager/blob/v0.25.0/notify/slack/slack.go): one JSON ``POST``
to ``api_url`` with ``channel``, ``username`` and one legacy attachment (``title``,
``title_link``, ``text``, ``fallback``, ``color``, ``mrkdwn_in``) rendered from
``template/default.tmpl``; any 2xx answer is success (the body is not read), so an incoming
webhook URL is what it is made for. ``send_resolved`` defaults to false for Slack
(``config/notifiers.go``), so the resolution needs it set. With the default route (no
``group_by``) the title is ``[FIRING:n]  (<common label values>)``: two alerts on two services
show neither service, and the bot looks them up in Alertmanager's API when ``alertmanager_url``
is set (defect 2), or reads them from the text of ``examples/alertmanager-slack-template.tmpl``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.lifecycle import PlanKind
from fakes import FakeSlack, signing
from fakes.webhook import WebhookReceiver
from fakes.world import BotWorld
from tests.support.alertmanager import Alertmanager, running_alertmanager
from tests.support.loopback import free_port
from tests.support.paths import ROOT

TEMPLATE = ROOT / "examples" / "alertmanager-slack-template.tmpl"
ALERTMANAGER_BOT = "B0ALERTMGR"
CART = {"alertname": "CartHighErrorRate", "service": "cartservice", "severity": "critical"}
# One alert name on two services that use cartservice: the default title shows neither service.
CHECKOUT = {"alertname": "HighErrorRate", "service": "checkoutservice", "severity": "critical"}
FRONTEND = {"alertname": "HighErrorRate", "service": "frontend", "severity": "critical"}


@pytest.fixture
def alertmanager() -> Iterator[Alertmanager]:
    with running_alertmanager() as running:
        yield running


@contextmanager
def slack_world(
    tmp_path: Path, alertmanager: Alertmanager, *, lookup: bool, text: str | None = None
) -> Iterator[BotWorld]:
    """The bot watching the alert channel, where Alertmanager's Slack receiver posts through an
    incoming webhook of the fake Slack; ``lookup`` sets ``alertmanager_url``, ``text`` replaces
    the receiver's default text template (with the example template file loaded)."""
    extra = {"alertmanager_url": alertmanager.base_url} if lookup else {}
    with BotWorld(tmp_path, extra=extra) as world:
        hook = world.slack.incoming_webhook(
            world.alerts_channel, name="incoming-webhook", bot_id=ALERTMANAGER_BOT
        )
        world.slack.deliver_events(f"{world.server.url}/slack/events", signing_secret=world.secret)
        slack: dict[str, Any] = {"api_url": hook, "channel": "#alerts", "send_resolved": True}
        if text is not None:
            slack["text"] = text
        alertmanager.configure(
            receivers=[{"name": "slack", "slack_configs": [slack]}],
            templates=[TEMPLATE] if text is not None else [],
            repeat_interval="1s",
        )
        yield world


def record_bad_deploy(world: BotWorld) -> None:
    event = {
        "type": "message",
        "channel": world.deploys_channel,
        "bot_id": "B0CI",
        "username": "ci",
        "text": "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>",
        "ts": f"{(datetime.now(UTC) - timedelta(minutes=10)).timestamp():.6f}",
    }
    world.post(signing.event_callback(event, secret=world.secret))
    world.wait_for(lambda: world.services.store.incidents.changes_of("cartservice"))


def live_plans(world: BotWorld) -> list[Any]:
    return [p for p in world.services.store.plans.recent() if p.kind == PlanKind.LIVE]


def alert_messages(world: BotWorld) -> list[dict[str, Any]]:
    """What Alertmanager posted in the alert channel."""
    return [
        m for m in world.slack.messages(world.alerts_channel) if m.get("bot_id") == "B0ALERTMGR"
    ]


def bot_posts(world: BotWorld) -> list[dict[str, Any]]:
    return [
        c.args
        for c in world.slack.calls_to("chat.postMessage")
        if c.args["channel"] == world.alerts_channel
    ]


def summaries(world: BotWorld) -> list[dict[str, Any]]:
    return [p for p in bot_posts(world) if str(p.get("text")).startswith("Post-incident")]


def fire_and_resolve(
    world: BotWorld, alertmanager: Alertmanager, *alerts: dict[str, str]
) -> tuple[Any, dict[str, Any]]:
    """Fire ``alerts``, wait for the plan and for two repeats of the notification; resolve them
    and wait for the summary. The plan, and the first alert message."""
    record_bad_deploy(world)
    alertmanager.fire(*alerts, annotations={"summary": "gRPC error ratio above 5%"})
    (plan,) = world.wait_for(lambda: live_plans(world), timeout=30)
    world.wait_for(lambda: len(alert_messages(world)) >= 3, timeout=30)
    world.wait_for(lambda: len(world.slack.deliveries) >= 3, timeout=30)
    world.settle()
    first = alert_messages(world)[0]
    assert [p.id for p in live_plans(world)] == [plan.id]
    (posted,) = bot_posts(world)  # one plan, in the first alert message's thread
    assert posted["thread_ts"] == first["ts"]

    alertmanager.resolve(*alerts, annotations={"summary": "gRPC error ratio above 5%"})
    world.wait_for(lambda: summaries(world), timeout=30)
    world.wait_for(
        lambda: any(
            m["attachments"][0]["title"].startswith("[RESOLVED]") for m in alert_messages(world)
        ),
        timeout=30,
    )
    world.wait_for(lambda: len(world.slack.deliveries) == len(alert_messages(world)), timeout=30)
    world.settle()
    (summary,) = summaries(world)
    assert summary["thread_ts"] == first["ts"]
    incident = world.services.store.incidents.incident(plan.plan.incident.id)
    assert incident is not None
    assert incident.status == "resolved"
    assert all(d.status == 200 for d in world.slack.deliveries)
    assert alertmanager.failed("slack") == 0, alertmanager.log()
    return plan, first


def test_one_alert_on_the_default_template_gets_one_plan_in_its_thread_and_one_summary(
    tmp_path: Path, alertmanager: Alertmanager
) -> None:
    """One firing alert: Alertmanager's default message names its service among the common
    label values, so the bot plans for it in the message's thread, once however often the
    message is repeated; the resolved message closes the incident with one summary."""
    with slack_world(tmp_path, alertmanager, lookup=False) as world:
        plan, first = fire_and_resolve(world, alertmanager, CART)
        sent = world.slack.webhook_posts[0]  # slack.go's request: channel, username, attachments
    assert (sent["channel"], sent["username"]) == ("#alerts", "Alertmanager")
    assert sent["attachments"][0]["mrkdwn_in"] == ["fallback", "pretext", "text"]
    title = first["attachments"][0]["title"]
    assert title == "[FIRING:1]  (CartHighErrorRate cartservice critical)"
    assert first["subtype"] == "bot_message"
    assert first["username"] == "Alertmanager"
    assert plan.plan.incident.services == ("cartservice",)
    assert plan.plan.suspects[0].service == "cartservice"


def test_a_group_on_two_services_is_looked_up_in_alertmanager_and_planned_for_both(
    tmp_path: Path, alertmanager: Alertmanager
) -> None:
    """Defect 2: "[FIRING:2]  (HighErrorRate critical)" names no service. With
    ``alertmanager_url`` set the bot reads the group's alerts from Alertmanager's API and plans
    for both services (whose common dependency was just deployed); "[RESOLVED]  (...)" closes
    the incident with one summary."""
    with slack_world(tmp_path, alertmanager, lookup=True) as world:
        plan, first = fire_and_resolve(world, alertmanager, CHECKOUT, FRONTEND)
    assert first["attachments"][0]["title"] == "[FIRING:2]  (HighErrorRate critical)"
    assert plan.plan.incident.services == ("checkoutservice", "frontend")
    assert not plan.plan.abstained
    assert plan.plan.suspects[0].service == "cartservice"
    assert {s.service for s in plan.plan.steps} >= {"cartservice"}


def test_without_the_lookup_a_group_on_two_services_gets_no_plan_to_run(
    tmp_path: Path, alertmanager: Alertmanager
) -> None:
    """Without ``alertmanager_url`` the same message names no service: the bot abstains, as
    before the lookup existed."""
    with slack_world(tmp_path, alertmanager, lookup=False) as world:
        record_bad_deploy(world)
        alertmanager.fire(CHECKOUT, FRONTEND)
        (plan,) = world.wait_for(lambda: live_plans(world), timeout=30)
        world.settle()
    assert plan.plan.abstained
    assert plan.plan.steps == ()


def test_the_example_template_carries_the_labels_without_the_api(
    tmp_path: Path, alertmanager: Alertmanager
) -> None:
    """With ``examples/alertmanager-slack-template.tmpl`` as the receiver's text, the message
    lists every alert's labels: the bot plans for both services with no ``alertmanager_url``,
    and the resolved message, which lists the same alerts, closes the incident."""
    text = '{{ template "backout.slack.text" . }}'
    with slack_world(tmp_path, alertmanager, lookup=False, text=text) as world:
        plan, first = fire_and_resolve(world, alertmanager, CHECKOUT, FRONTEND)
    body = first["attachments"][0]["text"]
    assert "service=checkoutservice" in body
    assert "service=frontend" in body
    assert plan.plan.incident.services == ("checkoutservice", "frontend")
    assert not plan.plan.abstained
    assert plan.plan.suspects[0].service == "cartservice"


# -- the fake Slack's incoming webhooks, on their own ---------------------------------------------


def test_the_fake_incoming_webhook_answers_as_slack_documents() -> None:
    """``ok`` for a message (JSON, or a form's ``payload``); ``no_service`` 404 for an unknown
    URL, ``invalid_payload`` 400 for a body that is no JSON message, ``no_text`` 400 for an
    empty one. A legacy webhook's message carries the ``username`` it asked for; an app's
    carries the app's ``bot_profile`` and keeps its own name."""
    with FakeSlack() as slack, httpx.Client(timeout=5) as http:
        legacy = slack.incoming_webhook("C0ALERTS", bot_id="B0LEGACY")
        app = slack.incoming_webhook("C0ALERTS", name="Alerts", bot_id="B0APP", app_id="A0APP")
        assert http.post(legacy, json={"text": "hi", "username": "Alertmanager"}).text == "ok"
        form = {"payload": json.dumps({"text": "from a form", "username": "x"})}
        assert http.post(legacy, data=form).text == "ok"
        assert http.post(app, json={"text": "app", "username": "spoof"}).text == "ok"
        unknown = http.post(f"{slack.base_url}/services/T0/B0/nope", json={"text": "hi"})
        assert (unknown.status_code, unknown.text) == (404, "no_service")
        broken = http.post(legacy, content=b"{", headers={"Content-Type": "application/json"})
        assert (broken.status_code, broken.text) == (400, "invalid_payload")
        empty = http.post(legacy, json={"username": "x"})
        assert (empty.status_code, empty.text) == (400, "no_text")
        first, second, third = slack.messages("C0ALERTS")
    assert (first["subtype"], first["bot_id"], first["username"]) == (
        "bot_message",
        "B0LEGACY",
        "Alertmanager",
    )
    assert second["text"] == "from a form"
    assert "username" not in third
    assert [p.get("username") for p in slack.webhook_posts] == ["Alertmanager", "x", "spoof"]
    assert third["bot_profile"]["name"] == "Alerts"
    assert third["app_id"] == "A0APP"


def test_the_fake_delivers_webhook_messages_as_signed_events_and_records_failures() -> None:
    """Each message a webhook posts goes to the Request URL as a signed ``event_callback``
    around the ``bot_message``; a Request URL that does not answer is recorded, not raised."""
    received: list[tuple[dict[str, str], bytes]] = []
    with WebhookReceiver() as bot, FakeSlack() as slack, httpx.Client(timeout=5) as http:
        hook = slack.incoming_webhook("C0ALERTS", bot_id="B0ALERTMGR")
        slack.deliver_events(f"{bot.base_url}/hook", signing_secret="s3cret")
        http.post(hook, json={"attachments": [{"title": "[FIRING:1]  (A svc critical)"}]})
        deadline = time.monotonic() + 10
        while not slack.deliveries and time.monotonic() < deadline:
            time.sleep(0.02)
        received = list(bot.received)
    (delivery,) = slack.deliveries
    assert delivery.status == 200
    ((headers, body),) = received
    resigned = signing.sign(
        body,
        secret="s3cret",
        content_type="application/json",
        timestamp=int(headers["x-slack-request-timestamp"]),
    )
    assert headers["x-slack-signature"] == resigned.headers["X-Slack-Signature"]
    event = json.loads(body)["event"]
    assert (event["type"], event["subtype"], event["channel"]) == (
        "message",
        "bot_message",
        "C0ALERTS",
    )
    assert event["attachments"][0]["title"] == "[FIRING:1]  (A svc critical)"

    with FakeSlack() as slack, httpx.Client(timeout=5) as http:
        hook = slack.incoming_webhook("C0ALERTS")
        slack.deliver_events(f"http://127.0.0.1:{free_port()}/slack/events", signing_secret="s")
        http.post(hook, json={"text": "nobody listens"})
    (failed,) = slack.deliveries
    assert failed.status is None
    assert failed.error is not None
