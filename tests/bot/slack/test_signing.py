"""The bot's signature check gives the fixtures' known answers (../shared/fixtures/README.md)."""

from __future__ import annotations

import pytest

from bot.slack.web import is_signed
from tests.support.paths import FIXTURES

SECRET = b"8e3f0b6c2a9d4e17b5c0f1a2d3e4b5c6"
KNOWN = [
    (
        "slack_slash_command.txt",
        1773756340,
        "v0=ebe81dc81e7d599627f1f8c794936ebce8224da05b7ac9c1f9d0962cf27b06b6",
    ),
    (
        "slack_block_actions.form.txt",
        1773756362,
        "v0=1b61ce2401d30e27b4d19e1a5b841e9846d96af4ad17147c50ecdc6f361f6507",
    ),
    (
        "slack_event_message.json",
        1773756334,
        "v0=2c8732f4d37c608d1f143d143a71f35d5520e39a957fc0ba91693ad73267cc13",
    ),
    (
        "slack_event_bot_alert.json",
        1773756251,
        "v0=0f152edb81087438b32bf25d4ac437707763762bcb858e4a541f2c9e5852053a",
    ),
    (
        "url_verification.json",
        1773750000,
        "v0=721466ad3eb34828f4eb5f99175cc04ebc4e7ceff5c9a8ece093a031bcca1c89",
    ),
]


@pytest.mark.parametrize(("name", "timestamp", "signature"), KNOWN)
def test_fixture_signatures_verify_within_the_window(name, timestamp, signature):
    """Each fixture's documented signature verifies one second later, and not 301 s later."""
    body = (FIXTURES / "slack" / name).read_bytes()
    headers = {"x-slack-request-timestamp": str(timestamp), "x-slack-signature": signature}
    assert is_signed(body, headers, key=SECRET, now=timestamp + 1)
    assert not is_signed(body, headers, key=SECRET, now=timestamp + 301)
    assert not is_signed(body + b" ", headers, key=SECRET, now=timestamp + 1)
    assert not is_signed(body, headers, key=b"another secret", now=timestamp + 1)
