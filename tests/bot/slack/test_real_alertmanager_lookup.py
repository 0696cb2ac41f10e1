"""Looking an alert group up in Alertmanager's API (defect 2): the client against a real
Alertmanager (odd label values, other receivers, groups that share no alert name), and what the
bot does when Alertmanager cannot answer: it plans from the message alone (and so abstains for a
message that names no service, as before) and logs why."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.lifecycle import PlanKind
from bot.slack.channels import alerts_from_message
from fakes import signing
from fakes.world import BotWorld
from integrations.alerts import AlertmanagerAPI, GroupAlert
from integrations.errors import ConfigError, PayloadError, UnavailableError
from tests.support.alertmanager import Alertmanager, running_alertmanager
from tests.support.loopback import free_port
from tests.support.slack_messages import KNOWN, NOW, legacy_bot

CHECKOUT = {"alertname": "HighErrorRate", "service": "checkoutservice", "severity": "critical"}
FRONTEND = {"alertname": "HighErrorRate", "service": "frontend", "severity": "critical"}
TITLE = "[FIRING:2]  (HighErrorRate critical)"


@pytest.fixture
def alertmanager() -> Iterator[Alertmanager]:
    with running_alertmanager() as running:
        running.configure(
            receivers=[{"name": "slack"}, {"name": "pager"}],
            routes=[{"matchers": ['team="payments"'], "receiver": "pager"}],
        )
        yield running


def default_message(
    title: str = TITLE, *, link: str = "http://am:9093/#/alerts?receiver=slack"
) -> dict[str, Any]:
    """Alertmanager's default Slack message as Slack delivers it (``bot_message``)."""
    attachment = {"title": title, "title_link": link, "text": "", "fallback": f"{title} | {link}"}
    return legacy_bot(username="Alertmanager", attachments=[attachment | {"color": "danger"}])


def services(api: AlertmanagerAPI, shown: str, **kwargs: Any) -> list[str]:
    return sorted(str(a.labels.get("service")) for a in api.group_alerts(shown, **kwargs))


def test_the_group_is_found_by_the_values_its_title_shows(alertmanager: Alertmanager) -> None:
    """The alerts showing every value of the title are the group's; an alert missing one of
    them (another severity) is not, nor is one routed to another receiver."""
    other = {**CHECKOUT, "service": "cartservice", "severity": "warning"}
    paged = {**CHECKOUT, "service": "paymentservice", "team": "payments"}
    alertmanager.fire(CHECKOUT, FRONTEND, other, paged)
    api = AlertmanagerAPI(alertmanager.base_url)
    assert services(api, " (HighErrorRate critical)", receiver="slack", expected=2) == [
        "checkoutservice",
        "frontend",
    ]
    assert services(api, " (HighErrorRate critical)", receiver="pager") == ["paymentservice"]
    assert services(api, " (HighErrorRate critical)", receiver="nobody") == []


def test_a_group_that_shares_no_alert_name_is_found_without_the_name_filter(
    alertmanager: Alertmanager,
) -> None:
    """``[FIRING:2]  (critical)``: the alert names differ, so the name filter finds nothing and
    the receiver's alerts are matched on the values alone."""
    alertmanager.fire(CHECKOUT, {**FRONTEND, "alertname": "LatencyHigh"})
    api = AlertmanagerAPI(alertmanager.base_url)
    assert services(api, " (critical)", receiver="slack", expected=2) == [
        "checkoutservice",
        "frontend",
    ]


def test_label_values_with_regex_and_quote_characters_are_matched_literally(
    alertmanager: Alertmanager,
) -> None:
    """Untrusted title words go into Alertmanager's matcher escaped: ``.``, ``|``, ``*``, ``"``
    and ``\\`` match themselves, never as a pattern, and never break the query."""
    odd = {"alertname": 'Err.*|x"y\\z', "service": "frontend", "severity": "critical"}
    near = {"alertname": "ErrAB|x", "service": "checkoutservice", "severity": "critical"}
    alertmanager.fire(odd, near)
    api = AlertmanagerAPI(alertmanager.base_url)
    assert services(api, ' (Err.*|x"y\\z critical)', receiver="slack") == ["frontend"]


def test_an_unreachable_alertmanager_is_an_unavailable_error_and_find_group_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing listens: ``group_alerts`` raises ``UnavailableError``; ``find_group`` logs the
    reason as a warning and gives no alerts."""
    api = AlertmanagerAPI(f"http://127.0.0.1:{free_port()}", timeout=2.0)
    with pytest.raises(UnavailableError):
        api.group_alerts(" (HighErrorRate critical)")
    with caplog.at_level(logging.WARNING, logger="integrations.alerts.alertmanager_api"):
        assert api.find_group(" (HighErrorRate critical)", where="alert message 1.2 in C1") == []
    (record,) = caplog.records
    assert "alert message 1.2 in C1" in record.getMessage()
    assert "UnavailableError" in record.getMessage()


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(200, text="<html>proxy login</html>"), PayloadError),
        (httpx.Response(200, json={"alerts": []}), PayloadError),
        (httpx.Response(503, text="overloaded"), UnavailableError),
    ],
)
def test_a_bad_answer_is_an_integration_error(answer: httpx.Response, error: type) -> None:
    """An HTML page, a JSON object instead of the list, a 503: our errors, never a crash."""
    api = AlertmanagerAPI("http://am:9093", transport=httpx.MockTransport(lambda _: answer))
    with pytest.raises(error):
        api.group_alerts(" (HighErrorRate critical)", receiver="slack")
    assert api.find_group(" (HighErrorRate critical)", where="a message") == []


@pytest.mark.parametrize("url", ["alertmanager:9093", "ftp://am", "http://[::1"])
def test_an_unusable_url_is_a_config_error(url: str) -> None:
    """A URL without http(s) or host, or one that does not parse: ``ConfigError``."""
    with pytest.raises(ConfigError):
        AlertmanagerAPI(url).alerts()


def test_the_query_names_the_receiver_and_the_escaped_alert_names() -> None:
    """``GET /api/v2/alerts?active=true&silenced=false&inhibited=false`` with the receiver as
    an exact pattern and ``alertname=~"<shown words>"``, escaped."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    api = AlertmanagerAPI("http://am:9093/prefix/", transport=httpx.MockTransport(answer))
    api.group_alerts(' (a.b "q")', receiver="team.slack")
    first = seen[0]
    assert first.url.path == "/prefix/api/v2/alerts"
    assert first.url.params.get_list("filter") == ['alertname=~"a\\\\.b|\\"q\\""']
    assert first.url.params["receiver"] == "team\\.slack"
    assert (first.url.params["active"], first.url.params["silenced"]) == ("true", "false")


def test_with_alertmanager_down_the_reader_plans_from_the_message_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The lookup fails: the message gives the alert it gives without a lookup (no service)."""
    api = AlertmanagerAPI(f"http://127.0.0.1:{free_port()}", timeout=2.0)
    event = default_message()
    with caplog.at_level(logging.WARNING):
        looked = alerts_from_message(event, known_services=KNOWN, now=NOW, lookup=api)
    assert looked == alerts_from_message(event, known_services=KNOWN, now=NOW)
    assert [a.service for a in looked] == [None]
    assert any("could not be asked" in r.getMessage() for r in caplog.records)


def test_with_alertmanager_down_the_bot_abstains_and_logs_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The running bot, ``alertmanager_url`` pointing where nothing listens: the two-service
    message gets the abstaining plan it got before the lookup existed, and the log says why."""
    extra = {"alertmanager_url": f"http://127.0.0.1:{free_port()}"}
    with BotWorld(tmp_path, extra=extra) as world, caplog.at_level(logging.WARNING):
        event = default_message() | {"channel": world.alerts_channel, "ts": f"{time.time():.6f}"}
        assert world.post(signing.event_callback(event, secret=world.secret)).status_code == 200
        plans = world.wait_for(
            lambda: [p for p in world.services.store.plans.recent() if p.kind == PlanKind.LIVE]
        )
        world.settle()
    (plan,) = plans
    assert plan.plan.abstained
    assert plan.plan.steps == ()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("names no service" in w and "UnavailableError" in w for w in warnings), warnings


class RecordingLookup:
    """An :class:`~bot.slack.channels.alerts.AlertLookup` that finds nothing and remembers."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, tuple[str, ...], int | None]] = []

    def find_group(
        self, shown: str, *, links: Any, expected: int | None, where: str
    ) -> list[GroupAlert]:
        self.asked.append((shown, tuple(links), expected))
        return []


def test_only_a_firing_alertmanager_message_that_names_no_service_is_looked_up() -> None:
    """A message naming its service, a resolved one, another sender's: no lookup. The one
    that names none is looked up with its title, its links (the receiver) and its count."""
    lookup = RecordingLookup()
    named = default_message("[FIRING:1]  (CartHighErrorRate cartservice critical)")
    alerts_from_message(named, known_services=KNOWN, now=NOW, lookup=lookup)
    alerts_from_message(
        default_message("[RESOLVED]  (HighErrorRate critical)"),
        known_services=KNOWN,
        now=NOW,
        lookup=lookup,
    )
    other = legacy_bot(username="Grafana", attachments=[{"title": "[FIRING:2] HighErrorRate"}])
    alerts_from_message(other, known_services=KNOWN, now=NOW, lookup=lookup)
    assert lookup.asked == []
    alerts_from_message(default_message(), known_services=KNOWN, now=NOW, lookup=lookup)
    ((shown, links, expected),) = lookup.asked
    assert (shown.strip(), expected) == ("(HighErrorRate critical)", 2)
    assert "http://am:9093/#/alerts?receiver=slack" in links


def test_looked_up_alerts_are_known_by_title_and_service_and_the_resolution_covers_them() -> None:
    """Each looked-up alert is identified as a labelled message would identify it (the title's
    values and its service); the default route's "[RESOLVED]" gives the same identity on every
    known service (and on none), so it resolves whatever the lookup found. A group with group
    labels is resolved only as the message shows it."""
    found = [GroupAlert("a", dict(CHECKOUT)), GroupAlert("b", dict(FRONTEND))]

    class Found(RecordingLookup):
        def find_group(self, shown: str, **kwargs: Any) -> list[GroupAlert]:
            return found

    firing = alerts_from_message(default_message(), known_services=KNOWN, now=NOW, lookup=Found())
    assert [(a.service, a.name, a.severity) for a in firing] == [
        ("checkoutservice", "HighErrorRate", "critical"),
        ("frontend", "HighErrorRate", "critical"),
    ]
    resolved = alerts_from_message(
        default_message("[RESOLVED]  (HighErrorRate critical)"),
        known_services=KNOWN,
        now=NOW,
        lookup=Found(),
    )
    assert {a.service for a in resolved} == {None, *KNOWN}
    by_service = {a.service: a.fingerprint for a in resolved}
    assert all(by_service[a.service] == a.fingerprint for a in firing)
    grouped = alerts_from_message(
        default_message("[RESOLVED] shop (HighErrorRate critical)"),
        known_services=KNOWN,
        now=NOW,
        lookup=Found(),
    )
    assert [a.service for a in grouped] == [None]
