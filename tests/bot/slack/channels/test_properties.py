"""Property tests: no event, however odd, makes the channel parsers raise."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack.channels import alerts_from_message, change_from_message, is_own_or_edit
from planners.model import Alert, Change
from tests.support.slack_messages import KNOWN, NOW

KEYS = [
    "type",
    "subtype",
    "bot_id",
    "user",
    "app_id",
    "username",
    "bot_profile",
    "name",
    "text",
    "ts",
    "attachments",
    "blocks",
    "fields",
    "title",
    "value",
    "color",
    "fallback",
    "pretext",
    "footer",
    "author_name",
    "elements",
    "user_id",
    "url",
    "range",
    "event",
    "message",
]
WORDS = [
    "message",
    "bot_message",
    "event_callback",
    "section",
    "header",
    "context",
    "rich_text",
    "rich_text_section",
    "rich_text_list",
    "text",
    "link",
    "user",
    "broadcast",
    "good",
    "danger",
    "[FIRING:2]",
    "[RESOLVED]",
    "Triggered #4182",
    "Triggered:",
    "[P1]",
    "Recovered:",
    "service=checkoutservice",
    "Service:",
    "checkoutservice",
    "checkout\u0455ervice",
    "prod",
    "Deployed",
    "rolled out",
    "deployed to production",
    "1773756250.002100",
    "99999999999999",
    "<@U1>",
    "<!channel>",
    "<https://x|y>",
    "Application",
    "synced to revision",
    "\n",
    "*",
    "`",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(WORDS),
    st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=6),
    ),
    max_leaves=30,
)
events = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), values, max_size=10)


def bot_event(body: dict[str, Any]) -> dict[str, Any]:
    """The same odd content, but posted by a bot so the parsers read all of it."""
    return {**body, "type": "message", "bot_id": "B1"} | (
        {} if body.get("subtype") in (None, "bot_message") else {"subtype": None}
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_alerts_never_raise(event: dict[str, Any]) -> None:
    """Any event dict gives a list of alerts (usually empty) and never raises."""
    for candidate in (event, bot_event(event)):
        alerts = alerts_from_message(candidate, known_services=KNOWN, now=NOW)
        assert isinstance(alerts, list)
        assert all(isinstance(alert, Alert) for alert in alerts)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_changes_never_raise(event: dict[str, Any]) -> None:
    """Any event dict gives a change or ``None`` and never raises."""
    for candidate in (event, bot_event(event)):
        change = change_from_message(candidate, known_services=KNOWN, now=NOW)
        assert change is None or (isinstance(change, Change) and change.service in KNOWN)


@settings(max_examples=200)
@given(events)
def test_own_or_edit_never_raises(event: dict[str, Any]) -> None:
    """Any event dict is judged own/edit or not, without raising."""
    assert is_own_or_edit(event, bot_user_id="U1", bot_id="B1") in (True, False)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join))
def test_bot_text_never_raises_and_services_are_exact(text: str) -> None:
    """Any bot text gives alerts whose bare-word services are exactly known ones."""
    event = {"type": "message", "bot_id": "B1", "ts": "1773756250.002100", "text": text}
    for alert in alerts_from_message(event, known_services=KNOWN, now=NOW):
        labelled = any(alert.service == v for v in alert.labels.values())
        assert alert.service is None or alert.service in KNOWN or labelled
    change = change_from_message(event, known_services=KNOWN, now=NOW)
    assert change is None or change.service in KNOWN
