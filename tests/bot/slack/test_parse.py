"""``/rollback`` text parsing: every verb, and what is not a command."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.slack.handlers.parse import Command, Usage, parse_command


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Command(verb="help")),
        ("help", Command(verb="help")),
        ("plan cartservice", Command(verb="plan", target="cartservice")),
        (
            "plan cartservice --window 90m --to v1.8.1",
            Command(
                verb="plan", target="cartservice", window=timedelta(minutes=90), to_version="v1.8.1"
            ),
        ),
        ("plan inc-0123456789", Command(verb="replan", target="inc-0123456789")),
        ("status", Command(verb="status")),
        ("status pl-1a2b3c4d", Command(verb="status", target="pl-1a2b3c4d")),
        ("simulate pl-1a2b3c4d", Command(verb="simulate", target="pl-1a2b3c4d")),
        ("ABORT pl-1a2b3c4d", Command(verb="abort", target="pl-1a2b3c4d")),
        ("history cartservice", Command(verb="history", target="cartservice")),
    ],
)
def test_commands_parse(text, expected):
    """Each documented form parses to its command."""
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("deploy everything", "unknown command"),
        ("plan", "needs a service"),
        ("plan a b", "one service"),
        ("plan a --window forever", "--window takes a duration"),
        ("plan a --window 30d", "--window takes a duration"),
        ("plan a --force", "unknown option"),
        ("simulate", "takes a plan id"),
        ("abort cartservice", "plan id like"),
        ("status pl-1 extra", "takes a plan id"),
        ("help me", ""),
    ],
)
def test_anything_else_is_usage_with_the_text(text, problem):
    """Bad input is usage help that keeps what was typed and says what was wrong."""
    parsed = parse_command(text)
    assert isinstance(parsed, Usage)
    assert parsed.text == text
    assert problem in parsed.problem


def test_a_malformed_plan_keeps_the_service_it_named():
    """Words after the service still make usage, but the service is kept so the handler can
    say first that it is unknown (issue 10, defect 8)."""
    parsed = parse_command("plan paiement-sérvice 🚑 --to v1.8.1 «urgent»")
    assert isinstance(parsed, Usage)
    assert (parsed.service, parsed.problem) == ("paiement-sérvice", "plan takes one service")
    assert parse_command("plan --bogus").service is None  # type: ignore[union-attr]
