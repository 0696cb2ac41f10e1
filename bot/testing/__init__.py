"""Test support shipped with the bot: the one fake Slack Web API server, used by the test suite
and by ``python -m bot.demo`` (layer 3; nothing below ``bot`` may import it)."""

from __future__ import annotations

from bot.testing.fake_slack import Call, FakeSlack, UploadedFile, User

__all__ = ["Call", "FakeSlack", "UploadedFile", "User"]
