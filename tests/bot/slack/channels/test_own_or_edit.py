"""Backout's own messages and edits of any message are screened out before any parsing."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.channels import is_own_or_edit
from tests.support.slack_messages import alertmanager, app_bot, load_event

BOT_USER = "U08BKOUT01"
BOT_ID = "B08BKOUT01"
APP_ID = "A08BKOUT77"


def screened(event: dict[str, Any]) -> bool:
    return is_own_or_edit(event, bot_user_id=BOT_USER, bot_id=BOT_ID)


def test_message_changed_is_screened() -> None:
    """An edit, as Slack sends it (the new message nested), is screened whoever wrote it."""
    event = {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": "C07INC1DNT",
        "ts": "1773756300.000300",
        "message": {
            "type": "message",
            "user": "U05SRE042",
            "text": "[FIRING:1] CheckoutHighErrorRate checkoutservice",
            "ts": "1773756250.002100",
            "edited": {"user": "U05SRE042", "ts": "1773756300.000000"},
        },
        "previous_message": {"type": "message", "user": "U05SRE042", "text": "old"},
    }
    assert screened(event) is True


@pytest.mark.parametrize("subtype", ["message_deleted", "message_replied", "thread_broadcast"])
def test_bookkeeping_subtypes_are_screened(subtype: str) -> None:
    """Deletions, reply bookkeeping and thread broadcasts never trigger anything."""
    assert screened({"type": "message", "subtype": subtype, "ts": "1.0"}) is True


def test_own_message_by_bot_id() -> None:
    """A message carrying Backout's ``bot_id`` is its own."""
    assert screened(app_bot(bot_id=BOT_ID)) is True


def test_own_message_by_user() -> None:
    """A message from Backout's bot user is its own."""
    assert screened(app_bot(user=BOT_USER)) is True


def test_an_app_id_alone_does_not_make_a_message_own() -> None:
    """Another bot of the same app (top level or in ``bot_profile``) is not Backout itself."""
    top = app_bot(app_id=APP_ID)
    profile = app_bot()
    profile["bot_profile"]["app_id"] = APP_ID
    assert (screened(top), screened(profile)) == (False, False)


def test_other_bots_and_people_pass() -> None:
    """An alerting bot's message and a person's message are not screened."""
    assert screened(alertmanager()) is False
    assert screened(load_event("slack_event_message.json")) is False


def test_empty_ids_never_match() -> None:
    """An unknown own id (empty) does not make every id-less message "own"."""
    event = {"type": "message", "bot_id": "", "user": "", "text": "hi", "ts": "1.0"}
    assert is_own_or_edit(event, bot_user_id="", bot_id="") is False
    assert is_own_or_edit(event, bot_user_id=None, bot_id=None) is False


def test_envelope_is_unwrapped() -> None:
    """An ``event_callback`` envelope is judged by its inner event."""
    envelope = {"type": "event_callback", "event": app_bot(bot_id=BOT_ID)}
    assert screened(envelope) is True


def test_non_mapping_is_not_screened() -> None:
    """Something that is not an event is not Backout's (the parsers then ignore it)."""
    assert is_own_or_edit([], bot_user_id=BOT_USER, bot_id=BOT_ID) is False  # type: ignore[arg-type]
