"""Deploy announcements posted in Slack by CI bots → normalised :class:`planners.model.Change`.

The Slack-side twin of the change sources in :mod:`integrations.deploys` (DESIGN.md, "The Slack
surface"): in a watched deploy channel, each announcement a CI or GitOps bot posts (a GitHub
Actions job, Argo CD notifications, a deploy script) is recorded as a ``deploy`` change, so a
later incident has its suspects and each deploy gets a standby rollback plan. Wordings are
recognised by regular expressions with named groups (``service``, ``version``, ``env``,
``actor``, ``from_version``), the defaults below or the team's own; attachment fields
(``Service``/``Version``/``Environment``) work too. Only production-like environments count, and
the service must be exactly a known one. The message is untrusted: it is read into fields and
kept verbatim as the summary, never acted on; what cannot be read gives ``None``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.slack.channels.alerts import MAX_SUMMARY, slack_time
from bot.slack.channels.message_text import (
    MAX_TEXT,
    MessageParts,
    inner_event,
    is_bot_message,
    message_parts,
    strip_emphasis,
)
from planners.model import Change, ChangeKind

__all__ = [
    "DEFAULT_DEPLOY_PATTERNS",
    "PATTERN_GROUPS",
    "PRODUCTION_ENVIRONMENTS",
    "VERSION_PATTERN",
    "change_from_message",
    "compile_patterns",
]

log = logging.getLogger(__name__)

PRODUCTION_ENVIRONMENTS: tuple[str, ...] = ("prod", "production", "live")
"""Environment names that count as production (case-insensitive; ``prod-eu1`` counts too)."""

VERSION_PATTERN = re.compile(
    r"v?\d+(?:\.\d+){1,3}(?:[-+][0-9A-Za-z][0-9A-Za-z.\-+]{0,63})?|[0-9a-f]{7,40}"
)
"""What an announced version must look like to become a rollback target: ``1.4.2``, ``v1.4``,
``2.0.0-rc.1+build.7``, or a commit sha (7 to 40 hex digits). A bare number (a Helm revision?) or
anything with shell or markup characters is not a version."""

PATTERN_GROUPS = frozenset({"service", "version", "env", "actor", "from_version", "sha"})
"""The named groups a deploy pattern may use; ``service`` is required. A ``sha`` (the commit) is
kept in the change's labels as ``sha:<commit>``."""

_S = r"(?P<service>[^\s@()\[\]{}<>,;:'\"]+)"
_V = r"[^\s()\[\]{}<>,;'\"]+"
_E = r"(?P<env>[A-Za-z][\w\-]*)"
_BY = r"(?:\s+by\s+@?(?P<actor>[^\s,;()\[\]<>]+))?"
_TO = r"(?:to|\u2192|->|=>)"  # "to production", "→ production"
# "(sha c41d9e2)", "(commit: c41d9e2)" between the environment and the actor
_SHA = r"(?:\s*\(\s*(?:sha|commit|rev(?:ision)?)\s*[:=]?\s*(?P<sha>[0-9a-f]{7,40})\s*\))?"

DEFAULT_DEPLOY_PATTERNS: tuple[str, ...] = (
    # "Deployed checkoutservice from v1.8.1 to v1.8.2 in production by @ann"
    rf"(?i)\bdeployed\s+{_S}\s+from\s+(?P<from_version>{_V})\s+{_TO}\s+(?P<version>{_V})"
    rf"\s+(?:in|on|to|\u2192|->|=>)\s+{_E}{_SHA}{_BY}",
    # "Deployed *checkoutservice* `v1.8.2` to production by @ann" (or by <@U123>), and
    # "Deployed *paymentservice* `v3.4.0` → `production` (sha `c41d9e2`) by @jonas"
    rf"(?i)\bdeployed\s+{_S}(?:\s+(?:version\s+)?(?P<version>{_V}))?\s+{_TO}\s+{_E}{_SHA}{_BY}",
    # "rolled out checkoutservice@3f9c2ab to prod"
    rf"(?i)\brolled\s+out\s+{_S}(?:@|\s+)(?P<version>{_V})\s+to\s+{_E}{_BY}",
    # "checkoutservice v1.8.2 deployed to production", "checkoutservice@3f9c2ab deployed to prod"
    rf"(?i)(?<!\S){_S}(?:@|\s+)(?P<version>v?\d[\w.\-+]*|[0-9a-f]{{7,40}})\s+"
    rf"(?:(?:was|has\s+been|successfully)\s+)*deployed\s+(?:to|in|on)\s+{_E}{_BY}",
    # "Deploy of checkoutservice (v1.8.2) to prod succeeded"
    rf"(?i)\bdeploy(?:ment)?\s+of\s+{_S}\s+\(?(?P<version>[^\s()]+?)\)?\s+to\s+{_E}\s+"
    rf"(?:has\s+)?(?:succeeded|successful|completed|finished|is\s+complete|is\s+done){_BY}",
    # Argo CD / GitOps: "Application checkoutservice-prod synced to revision 3f9c2ab"
    rf"(?i)\bapplication\s+{_S}\s+(?:has\s+been\s+(?:successfully\s+)?)?synced\s+to\s+"
    rf"(?:revision\s+)?(?P<version>{_V})",
    # Argo CD catalog wording, the revision in the attachment fields
    rf"(?i)\bapplication\s+{_S}\s+(?:has\s+been\s+successfully\s+synced|is\s+now\s+running"
    rf"\s+new\s+version)",
)
"""The wordings recognised by default, tried in order against each line of plain text."""

_FIELD_KEYS: dict[str, tuple[str, ...]] = {
    "service": ("service", "application", "app", "component", "project"),
    "version": ("version", "revision", "tag", "image_tag", "release", "commit", "sha"),
    "env": ("environment", "env", "stage", "target"),
    "actor": ("actor", "deployed_by", "triggered_by", "by", "user", "author", "initiator"),
    "status": ("status", "result", "outcome", "conclusion", "sync_status", "state"),
}
_FAILED_VALUES = frozenset(
    {"failed", "failure", "error", "errored", "cancelled", "canceled", "aborted", "timed_out"}
    | {"unknown", "outofsync", "degraded"}
)
_FAILED_WORDS = re.compile(
    r"\b(?:failed|failure|aborted|cancell?ed|unsuccessful|errored|rolled\s+back|rollback)\b",
    re.IGNORECASE,
)
_DEPLOY_WORDS = re.compile(
    r"\b(?:deploy(?:ed|ment)?|rolled\s+out|released|synced|running\s+new\s+version)\b",
    re.IGNORECASE,
)
_FROM_TO = re.compile(rf"\bfrom\s+(?P<old>{_V})\s+to\s+(?P<new>{_V})", re.IGNORECASE)
_ENV_PAIR = re.compile(r"(?<![\w.\-])(?:env|environment)[ \t]*[:=][ \t]*(?P<env>[A-Za-z][\w\-]*)")
_ENV_WORDS = frozenset(
    {"prod", "production", "live", "staging", "stage", "stg", "dev", "development"}
    | {"qa", "test", "testing", "uat", "preprod", "sandbox", "canary", "preview"}
)
_MAX_ACTOR = 100
_SHA_VALUE = re.compile(r"[0-9a-f]{7,40}")
_MAX_VERSION = 128


@dataclass(frozen=True)
class _Found:
    service: str
    version: str | None
    env: str | None
    actor: str | None
    from_version: str | None
    line: str
    sha: str | None = None


def compile_patterns(
    patterns: Sequence[str | re.Pattern[str]] | None,
) -> list[re.Pattern[str]]:
    """Deploy patterns compiled and checked, for the settings layer to validate at start-up.

    ``None`` gives :data:`DEFAULT_DEPLOY_PATTERNS` compiled; the result can be passed back as
    ``patterns`` of :func:`change_from_message`.

    Each pattern is searched in each plain-text line of a message; it must capture the service
    in a ``(?P<service>…)`` group and may capture ``version``, ``env``, ``actor`` and
    ``from_version``. Add ``(?i)`` for case-insensitive matching.

    Raises:
        ValueError: a pattern is not a valid regular expression, has no ``service`` group, or
            has a named group outside :data:`PATTERN_GROUPS`; or ``patterns`` is one string.
    """
    if patterns is None:
        return list(_DEFAULT_COMPILED)
    if isinstance(patterns, str | bytes):
        raise ValueError("deploy patterns must be a list of regular expressions, not one string")
    return list(_compile(patterns))


def _compile(patterns: Sequence[object]) -> tuple[re.Pattern[str], ...]:
    compiled: list[re.Pattern[str]] = []
    for number, pattern in enumerate(patterns, start=1):
        if isinstance(pattern, re.Pattern):
            if not isinstance(pattern.pattern, str):
                raise ValueError(f"deploy pattern #{number} is a bytes pattern; use text")
            compiled.append(_check(number, pattern))
        elif isinstance(pattern, str):
            compiled.append(_compile_text(number, pattern))
        else:
            raise ValueError(
                f"deploy pattern #{number} is a {type(pattern).__name__}, not a string"
            )
    return tuple(compiled)


@functools.lru_cache(maxsize=64)
def _compile_text(number: int, pattern: str) -> re.Pattern[str]:
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(
            f"deploy pattern #{number} {pattern!r} is not a valid regular expression: {exc}"
        ) from exc
    return _check(number, regex)


def _check(number: int, regex: re.Pattern[str]) -> re.Pattern[str]:
    groups = set(regex.groupindex)
    if "service" not in groups:
        raise ValueError(
            f"deploy pattern #{number} {regex.pattern!r} has no (?P<service>...) group: "
            "every deploy pattern must capture the service"
        )
    unknown = groups - PATTERN_GROUPS
    if unknown:
        raise ValueError(
            f"deploy pattern #{number} {regex.pattern!r} has unknown group(s) "
            f"{', '.join(sorted(unknown))}; allowed: {', '.join(sorted(PATTERN_GROUPS))}"
        )
    return regex


_DEFAULT_COMPILED = _compile(DEFAULT_DEPLOY_PATTERNS)


def change_from_message(
    event: Mapping[str, Any],
    *,
    known_services: Collection[str],
    patterns: Sequence[str | re.Pattern[str]] | None = None,
    environments: Collection[str] = PRODUCTION_ENVIRONMENTS,
    default_env: str | None = None,
    version_pattern: re.Pattern[str] = VERSION_PATTERN,
    now: datetime,
) -> Change | None:
    """The production deploy a CI bot's Slack message announces, or ``None``.

    Args:
        event: the ``message`` event (bare, or its ``event_callback`` envelope). Only messages
            posted by a bot count; edits, deletions and other subtypes give ``None``.
        known_services: the catalog's service names; the announced service must equal one
            exactly. An Argo CD style name with an environment suffix (``checkoutservice-prod``)
            names ``checkoutservice`` in ``prod``.
        patterns: the wordings to recognise (see :func:`compile_patterns`);
            :data:`DEFAULT_DEPLOY_PATTERNS` when ``None``.
        environments: environment names that count as production.
        default_env: the environment assumed when the message names none (for a channel that
            only carries production deploys); by default such a message gives ``None``.
        version_pattern: what a version must look like (all of it) before it can become a
            rollback target; an announced version that does not is not recorded, a "from"
            version that does not is dropped (the rollback then goes to the previous revision).
        now: the time used when the event carries no ``ts`` (timezone-aware).

    Returns:
        A ``deploy`` change from source ``"slack"``: id stable for (service, version, ts),
        ``at`` the message time, ``from_version`` only when the message says "from A to B",
        ``actor`` as inert text (a ``<@U123>`` mention becomes ``U123``), the commit as the
        label ``sha:<commit>`` when the message gives one, the message kept verbatim as
        ``summary``. ``None`` for anything else: another environment, an unknown
        service, a failed deploy, a message that is not an announcement.

    Raises:
        ValueError: a custom pattern is invalid (see :func:`compile_patterns`).
        TypeError: ``known_services`` or ``environments`` is a single string.
    """
    if isinstance(known_services, str) or isinstance(environments, str):
        raise TypeError("known_services and environments must be collections, not one string")
    if isinstance(patterns, str | bytes):
        raise ValueError("deploy patterns must be a list of regular expressions, not one string")
    compiled = _DEFAULT_COMPILED if patterns is None else _compile(patterns)
    message = inner_event(event)
    if message is None or not _is_candidate(message):
        return None
    known = frozenset(name for name in known_services if isinstance(name, str))
    production = frozenset(env.casefold() for env in environments if isinstance(env, str))
    parts = message_parts(message)
    fields = _fields(parts)
    if any(value.casefold() in _FAILED_VALUES for value in fields.get("status", ())):
        return None
    found = _from_text(parts, compiled, known, fields) or _from_fields(parts, known, fields)
    if found is None or _FAILED_WORDS.search(found.line):
        return None
    env = found.env or _env_in_text(parts) or default_env
    if env is None or not _is_production(env, production):
        return None
    version, from_version = found.version, found.from_version
    if version is not None and not version_pattern.fullmatch(version):
        log.info(
            "deploy of %s announced with an unusable version %r: ignored", found.service, version
        )
        return None
    if from_version is not None and not version_pattern.fullmatch(from_version):
        from_version = None
    ts = message.get("ts")
    key = json.dumps(
        [found.service, version, ts if isinstance(ts, str) else None],
        ensure_ascii=True,
        separators=(",", ":"),
    )
    return Change(
        id=f"slack-{hashlib.sha256(key.encode('ascii')).hexdigest()[:16]}",
        service=found.service,
        kind=ChangeKind.DEPLOY,
        at=slack_time(ts) or now,
        from_version=from_version,
        to_version=version,
        actor=found.actor,
        source="slack",
        summary=(parts.raw_body or found.line)[:MAX_SUMMARY],
        labels=(f"sha:{found.sha}",) if found.sha else (),
    )


def _is_candidate(message: Mapping[str, Any]) -> bool:
    kind = message.get("type", "message")
    subtype = message.get("subtype")
    return kind == "message" and subtype in (None, "bot_message") and is_bot_message(message)


def _fields(parts: MessageParts) -> dict[str, list[str]]:
    """Field values by role (service, version, env, actor, status), in reading order."""
    roles: dict[str, list[str]] = {}
    for field in parts.fields:
        key = "_".join(strip_emphasis(field.title).casefold().split())
        value = strip_emphasis(field.value).strip()
        if not value or "\n" in value or len(value) > _MAX_VERSION:
            continue
        for role, names in _FIELD_KEYS.items():
            if key in names:
                roles.setdefault(role, []).append(value)
    return roles


def _from_text(
    parts: MessageParts,
    patterns: Sequence[re.Pattern[str]],
    known: frozenset[str],
    fields: Mapping[str, Sequence[str]],
) -> _Found | None:
    """The first pattern match, line by line, that names a known service."""
    for raw_line in parts.lines[:200]:
        line = strip_emphasis(raw_line)[:MAX_TEXT]
        for pattern in patterns:
            for match in pattern.finditer(line):
                groups = match.groupdict()
                found = _found(groups, known, fields, line)
                if found is not None:
                    return found
    return None


def _from_fields(
    parts: MessageParts, known: frozenset[str], fields: Mapping[str, Sequence[str]]
) -> _Found | None:
    """A deploy told by attachment fields (or an Argo CD style title plus fields)."""
    text = "\n".join(parts.lines)
    if not fields.get("version") and not _DEPLOY_WORDS.search(text):
        return None
    candidates = [*fields.get("service", ()), *(t.strip() for t in parts.titles)]
    for candidate in candidates:
        found = _found({"service": candidate}, known, fields, text[:MAX_TEXT])
        if found is not None:
            return found
    return None


def _found(
    groups: Mapping[str, str | None],
    known: frozenset[str],
    fields: Mapping[str, Sequence[str]],
    line: str,
) -> _Found | None:
    raw = groups.get("service")
    if not raw:
        return None
    resolved = _resolve_service(raw, known)
    if resolved is None:
        return None
    service, suffix_env = resolved
    version = _clean(groups.get("version")) or _first(fields, "version")
    from_version = _clean(groups.get("from_version"))
    if from_version is None and version is not None:
        for match in _FROM_TO.finditer(line):
            if _clean(match["new"]) == version:
                from_version = _clean(match["old"])
                break
    actor = _clean(groups.get("actor")) or _first(fields, "actor")
    if actor is not None:
        actor = actor.lstrip("@")[:_MAX_ACTOR] or None
    env = _clean(groups.get("env")) or _first(fields, "env") or suffix_env
    sha = _clean(groups.get("sha"))
    if sha is not None and not _SHA_VALUE.fullmatch(sha):
        sha = None
    return _Found(service, version, env, actor, from_version, line, sha)


def _resolve_service(raw: str, known: frozenset[str]) -> tuple[str, str | None] | None:
    """The known service a name denotes, exactly, or split from an environment suffix."""
    if raw in known:
        return raw, None
    for separator in ("-", "_", "."):
        base, sep, suffix = raw.rpartition(separator)
        if sep and base in known and suffix.casefold() in _ENV_WORDS:
            return base, suffix
    return None


def _env_in_text(parts: MessageParts) -> str | None:
    for line in parts.lines[:200]:
        match = _ENV_PAIR.search(strip_emphasis(line).casefold())
        if match:
            return match["env"]
    return None


def _is_production(env: str, production: frozenset[str]) -> bool:
    folded = env.casefold()
    head = re.split(r"[-_.]", folded, maxsplit=1)[0]
    return folded in production or head in production


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = value.strip().rstrip(".,:;!?")[:_MAX_VERSION]
    return cleaned or None


def _first(fields: Mapping[str, Sequence[str]], role: str) -> str | None:
    values = fields.get(role, ())
    return _clean(values[0]) if values else None
