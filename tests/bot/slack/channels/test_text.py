"""A Slack message flattens to the words it shows, without any character normalised."""

from __future__ import annotations

import pytest

from bot.slack.channels.message_text import message_parts, plain_text, strip_emphasis
from tests.support.slack_messages import alertmanager, app_bot, load_event


@pytest.mark.parametrize(
    ("mrkdwn", "plain"),
    [
        ("<https://runbooks.example.com/x|runbook>", "runbook"),
        ("<https://runbooks.example.com/x>", "https://runbooks.example.com/x"),
        ("by <@U05SRE042>", "by @U05SRE042"),
        ("by <@U05SRE042|ann>", "by @U05SRE042"),
        ("in <#C07INC1DNT|inc-checkout>", "in #inc-checkout"),
        ("hey <!channel> and <!here>", "hey @channel and @here"),
        ("<!subteam^S0SRE|@sre>", "@sre"),
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
        ("checkout\u200bservice", "checkout\u200bservice"),
    ],
)
def test_plain_text(mrkdwn: str, plain: str) -> None:
    """Links show their label, mentions their id, entities decode, look-alikes stay."""
    assert plain_text(mrkdwn) == plain


def test_plain_text_of_a_non_string_is_empty() -> None:
    """Anything but a string reads as no text."""
    assert plain_text(None) == plain_text(42) == ""


def test_strip_emphasis_keeps_label_underscores() -> None:
    """Bold, code and italics go; underscores inside names stay."""
    assert strip_emphasis("*Service:* `app_kubernetes_io_name` _now_") == (
        "Service: app_kubernetes_io_name now"
    )


def test_parts_of_the_alertmanager_message() -> None:
    """Title, text and colour of a legacy attachment; the body kept raw."""
    parts = message_parts(alertmanager())
    assert parts.titles[0].startswith("[FIRING:1] CheckoutHighErrorRate")
    assert parts.colors == ("danger",)
    assert parts.raw_body == "*Summary:* checkoutservice gRPC error ratio above 5%"
    assert parts.names == ("AlertManager",)


def test_rich_text_reads_mentions_as_ids() -> None:
    """The fixture's rich text reads with the mention as ``@U…``."""
    parts = message_parts(load_event("slack_event_message.json"))
    assert "@U08BKOUT01 can you draft a rollback?" in parts.text


def test_blocks_come_before_their_fallback_text() -> None:
    """With blocks and ``text``, the blocks are read first and both are kept."""
    event = app_bot(
        text="fallback words",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "block words"}}],
    )
    assert message_parts(event).lines == ("block words", "fallback words")


def test_section_fields_split_title_and_value() -> None:
    """A ``*Service:*\\nx`` section field is a titled field."""
    event = app_bot(
        blocks=[{"type": "section", "fields": [{"type": "mrkdwn", "text": "*Service:*\ncart"}]}]
    )
    (field,) = message_parts(event).fields
    assert (field.title, field.value) == ("Service", "cart")
