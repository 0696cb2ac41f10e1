"""Ephemeral replies: usage help, unknown services, refusals, missing plans, internal errors."""

from __future__ import annotations

import pytest

from bot.slack.views import internal_error, not_authorized, plan_not_found, unknown_service, usage
from tests.bot.slack.views.helpers import HOSTILE, HUGE, all_text, live_markup, validate


def test_unknown_service_offers_close_names():
    """The unknown name is echoed as code, with the suggestions after it."""
    message = unknown_service("cartservise", suggestions=["cartservice", "cart-service"])
    assert validate(message) == []
    text = all_text(message)
    assert "I don't know a service called `cartservise`." in text
    assert "Did you mean `cartservice`, `cart-service`?" in text


def test_unknown_service_without_suggestions_only_says_so():
    """With nothing close, there is no "did you mean"."""
    assert "Did you mean" not in all_text(unknown_service("zzz", suggestions=[]))


def test_usage_shows_the_users_text_escaped_and_every_command():
    """The input that could not be read is echoed inert, followed by the commands."""
    message = usage("plan <!channel> now")
    assert validate(message) == []
    text = all_text(message)
    assert "I couldn't read `plan &lt;!channel&gt; now`." in text
    for command in ("plan", "status", "simulate", "abort", "history", "help"):
        assert f"`/rollback {command}" in text
    assert live_markup(message) == []


def test_usage_says_what_was_wrong():
    """The parser's complaint is shown after the echoed input."""
    text = all_text(usage("rollbak cart", "unknown command 'rollbak'"))
    assert "I couldn't read `rollbak cart` (unknown command 'rollbak')." in text


def test_replies_leave_the_response_type_to_the_caller():
    """Only ``text`` and ``blocks``: ``ack(response_type="ephemeral", **reply)`` cannot clash."""
    for reply in (usage("x"), unknown_service("x"), not_authorized("x"), plan_not_found("x")):
        assert set(reply) == {"text", "blocks"}


def test_usage_for_help_has_no_complaint():
    """``/rollback help`` (empty text) shows the commands without "I couldn't read"."""
    text = all_text(usage(""))
    assert "couldn't read" not in text and "`/rollback help`" in text


def test_not_authorized_gives_the_reason():
    """The refusal says why."""
    text = all_text(not_authorized("cartservice needs someone from team payments"))
    assert "🔒 You can't do that: cartservice needs someone from team payments" in text


def test_plan_not_found_names_the_id():
    """The missing id is echoed and the status command suggested."""
    text = all_text(plan_not_found("p-404"))
    assert "There is no plan `p-404`." in text and "`/rollback status`" in text


def test_internal_error_shows_the_reference():
    """The correlation id is shown so the admins can find the failure in the logs."""
    text = all_text(internal_error("req-8f2a"))
    assert "`req-8f2a`" in text and "Traceback" not in text


@pytest.mark.parametrize(
    "message",
    [
        unknown_service(HUGE, suggestions=[HOSTILE] * 10),
        usage(HUGE),
        not_authorized(HUGE),
        plan_not_found(HUGE),
        internal_error(HUGE),
    ],
    ids=["unknown_service", "usage", "not_authorized", "plan_not_found", "internal_error"],
)
def test_hostile_input_is_inert_and_within_limits(message):
    """Whatever the user typed, the reply is valid and mentions nobody."""
    assert validate(message) == []
    assert live_markup(message) == []
