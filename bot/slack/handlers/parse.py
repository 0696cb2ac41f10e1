"""Parsing ``/rollback`` text into a command: pure, so every odd input has a test.

``plan <service|incident> [--window 2h] [--to VERSION]``, ``status [plan]``, ``simulate <plan>``,
``abort <plan>``, ``history <service>``, ``help``. Anything else is a :class:`Usage` carrying the
user's text, which the view escapes before showing it back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

__all__ = ["Command", "Usage", "parse_command"]

_WINDOW = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?$")
_PLAN_ID = re.compile(r"^pl-[0-9a-f]{8}$")
_INCIDENT_ID = re.compile(r"^inc-[0-9a-f]{10}$")
_MAX_WINDOW = timedelta(days=7)


@dataclass(frozen=True, kw_only=True)
class Command:
    """A parsed ``/rollback`` command. ``target`` is a service or a plan id, by verb."""

    verb: str
    target: str | None = None
    window: timedelta | None = None
    to_version: str | None = None


@dataclass(frozen=True, kw_only=True)
class Usage:
    """Not a command: show usage help; ``problem`` says what was wrong, ``text`` what was typed.

    ``service`` is the service a malformed ``plan`` named, if any: when it is not a known one,
    the handler says so (with close names) rather than show the usage.
    """

    text: str
    problem: str = ""
    service: str | None = None


def parse_command(text: str) -> Command | Usage:
    """Parse the text after ``/rollback``."""
    words = text.split()
    if not words or words[0].lower() in ("help", "-h", "--help"):
        return Command(verb="help") if not words or len(words) == 1 else Usage(text=text)
    verb, rest = words[0].lower(), words[1:]
    if verb == "plan":
        return _plan(text, rest)
    if verb == "history":
        return _one(text, verb, rest, what="a service") or Command(verb=verb, target=rest[0])
    if verb in ("simulate", "abort"):
        return _one(text, verb, rest, what="a plan id") or _plan_id(text, verb, rest[0])
    if verb == "status":
        if not rest:
            return Command(verb="status")
        return _one(text, verb, rest, what="a plan id") or _plan_id(text, verb, rest[0])
    return Usage(text=text, problem=f"unknown command {words[0]!r}")


def _plan(text: str, rest: list[str]) -> Command | Usage:
    service, window, to_version = None, None, None
    problem = ""
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "--window" and i + 1 < len(rest):
            window = _window(rest[i + 1])
            if window is None:
                problem = problem or (
                    f"--window takes a duration like 2h or 90m, not {rest[i + 1]!r}"
                )
            i += 2
        elif word == "--to" and i + 1 < len(rest):
            to_version = rest[i + 1]
            i += 2
        elif word.startswith("--"):
            problem = problem or f"unknown option {word!r}"
            i += 1
        elif service is None:
            service = word
            i += 1
        else:
            problem = problem or "plan takes one service"
            i += 1
    if problem:
        return Usage(text=text, problem=problem, service=service)
    if service is None:
        return Usage(text=text, problem="plan needs a service, e.g. /rollback plan cartservice")
    if _INCIDENT_ID.match(service):
        return Command(verb="replan", target=service, window=window, to_version=to_version)
    return Command(verb="plan", target=service, window=window, to_version=to_version)


def _one(text: str, verb: str, rest: list[str], *, what: str) -> Usage | None:
    if len(rest) != 1:
        return Usage(text=text, problem=f"{verb} takes {what}")
    return None


def _plan_id(text: str, verb: str, value: str) -> Command | Usage:
    if not _PLAN_ID.match(value):
        return Usage(text=text, problem=f"{verb} takes a plan id like pl-1a2b3c4d")
    return Command(verb=verb, target=value)


def _window(value: str) -> timedelta | None:
    match = _WINDOW.match(value)
    if not value or match is None:
        return None
    hours, minutes = (int(g or 0) for g in match.groups())
    window = timedelta(hours=hours, minutes=minutes)
    return window if timedelta(0) < window <= _MAX_WINDOW else None
