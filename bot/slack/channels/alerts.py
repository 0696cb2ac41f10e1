"""Alerts posted in Slack by alerting bots → normalised :class:`planners.model.Alert` values.

The Slack-side twin of the webhook parsers in :mod:`integrations.alerts` (DESIGN.md, "The Slack
surface"): when Alertmanager's Slack receiver, PagerDuty, Datadog, Grafana or any other bot posts
an alert in a watched channel, the bot layer passes the message event here and plans for the
alerts it gets back. The message is read, never obeyed: its words only fill the fields of an
alert, the summary keeps them verbatim as data, and a service named in free text counts only when
it is exactly (character for character) a known service. A message that is not an alert, or that
cannot be read, gives no alerts; nothing here raises on odd input.

Alertmanager's default Slack template shows only what a group's alerts share (defect 2: a group
on two services names neither). When such a message names no service and a lookup is given
(:class:`AlertLookup`, Alertmanager's API), the group's alerts are read from Alertmanager, each
an alert with its own labels (a failed lookup is logged and changes nothing); its ``[RESOLVED]``
message, which cannot be looked up, resolves the group's alert on every known service.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.slack.channels.message_text import (
    MAX_TEXT,
    MessageParts,
    inner_event,
    is_bot_message,
    message_parts,
    strip_emphasis,
)
from integrations.alerts import DEFAULT_SERVICE_LABELS, GROUP_SIZE_LABEL, GroupAlert
from planners.model import Alert, AlertStatus

__all__ = [
    "MAX_SUMMARY",
    "SOURCES",
    "AlertLookup",
    "alerts_from_message",
    "slack_time",
]

SOURCES = (
    "slack:alertmanager",
    "slack:datadog",
    "slack:generic",
    "slack:grafana",
    "slack:pagerduty",
)
"""The ``Alert.source`` values this module gives."""

MAX_SUMMARY = 3000
"""Characters of untrusted text kept in ``Alert.summary`` (Slack's section-block limit)."""

_MAX_NAME = 200
_MAX_VALUE = 200

_VENDORS = ("alertmanager", "pagerduty", "datadog", "grafana")

_FIRING_WORDS = frozenset(
    {"firing", "triggered", "re-triggered", "retriggered", "alert", "alerting", "problem"}
    | {"warn", "re-warn", "warning", "reopened", "critical", "open"}
)
_RESOLVED_WORDS = frozenset({"resolved", "recovered", "ok", "closed"})
# Updates about an alert that already fired: planning again for them would repeat the incident.
_UPDATE_WORDS = frozenset(
    {"acknowledged", "escalated", "no data", "re-notify", "renotify", "reassigned"}
)

_SEVERITY_LABELS = ("severity", "priority", "urgency")
_SEVERITY_WORDS = frozenset(
    {"critical", "warning", "info", "error", "high", "low", "page", "major", "minor"}
)
_NAME_KEYS = ("alertname", "alert", "alert_name", "rule", "monitor", "check", "name", "title")
_RESOLVED_COLORS = frozenset({"good", "green", "#36a64f", "#2eb886", "#2eb67d"})
_FIRING_COLORS = frozenset({"danger", "warning", "red", "#d63232", "#e01e5a", "#ff0000"})

_LEAD = r"^[\s:>#\-]*(?:(?::[\w+\-]{1,50}:|[\u2600-\u27bf\U0001f300-\U0001faff\ufe0f])\s*)*"
_AM = re.compile(
    _LEAD + r"\[(?P<status>firing|resolved)(?::\s*(?P<count>\d{1,9}))?(?:,\s*resolved:\s*\d+)?\]"
    r"\s*(?P<rest>.*)",
    re.IGNORECASE,
)
_PAGERDUTY = re.compile(
    _LEAD + r"(?P<status>triggered|acknowledged|resolved|reopened|escalated|reassigned)\b"
    r"\s*:?\s*#(?P<number>\d{1,12})\b[\s:\-\u2013\u2014]*(?P<rest>.*)",
    re.IGNORECASE,
)
_DATADOG = re.compile(
    _LEAD + r"(?:\[(?P<p1>P[1-5])\]\s*)?\[?"
    r"(?P<status>re-triggered|triggered|recovered|re-warn|warn|no data|re-notify|renotify)"
    r"(?:\s+on\s+(?P<scope>\{[^}\n]{0,500}\}))?(?:\]|:)\s*(?:\[(?P<p2>P[1-5])\]\s*)?(?P<rest>.*)",
    re.IGNORECASE,
)
_GENERIC = re.compile(
    _LEAD + r"(?:\[(?P<s1>firing|resolved|alert|alerting|problem|recovered|triggered)\]"
    r"|(?P<s2>firing|resolved|alert|alerting|problem|recovered|triggered)\s*[:\-\u2013\u2014])"
    r"\s*(?P<rest>.+)",
    re.IGNORECASE,
)
_LINE_PAIR = re.compile(
    r"^\s*(?:[-\u2022\u00b7]\s*)?(?P<key>[A-Za-z_][\w.\-/]{0,62})\s*[:=]\s*"
    r"(?P<value>[^\s,;|(){}\[\]<>\"'`]{1,200})\s*$"
)
_VALUE = r"[^\s,;|(){}\[\]<>\"'`]{1,200}"
_TOKEN_SPLIT = re.compile(r"[\s()\[\]{}<>,;|\"'`*]+")
_SUMMARY_LINE = re.compile(r"^[\s*_\u2022\-]*summary[\s*_]*[:=][\s*_]*(?P<value>\S.*)$", re.I)
_TS = re.compile(r"(?P<seconds>\d{1,12})(?:\.\d{1,9})?")


class AlertLookup(Protocol):
    """Finds an Alertmanager group's alerts (:meth:`integrations.alerts.AlertmanagerAPI.find_group`:
    ``[]``, logged, when it cannot)."""

    def find_group(
        self, shown: str, *, links: Sequence[str], expected: int | None, where: str
    ) -> Sequence[GroupAlert]: ...


@dataclass(frozen=True)
class _Headline:
    family: str
    status: AlertStatus | None
    rest: str
    priority: str | None = None
    count: int | None = None
    """How many alerts the sender says the message covers (``[FIRING:2000]``)."""
    key: str | None = None
    """What identifies the alert in the sender's wording (a PagerDuty incident number, a
    Datadog scope with its monitor), when the headline shows it."""


def alerts_from_message(
    event: Mapping[str, Any],
    *,
    known_services: Collection[str],
    service_labels: Sequence[str] = DEFAULT_SERVICE_LABELS,
    now: datetime,
    lookup: AlertLookup | None = None,
) -> list[Alert]:
    """The alerts an alerting bot's Slack message announces; ``[]`` when it is not an alert.

    Args:
        event: the ``message`` event (bare, or its ``event_callback`` envelope). Only messages
            posted by a bot count (``subtype: bot_message`` or a ``bot_id``); edits, deletions
            and other subtypes give nothing.
        known_services: the catalog's service names; a bare word of the title names a service
            only when it equals one of them exactly (no case folding, no Unicode normalisation).
        service_labels: label names tried in order (``service=x``, ``service: x`` or a field
            titled ``Service``); the first one present gives the service, verbatim.
        now: the time used when the event carries no ``ts`` (timezone-aware).
        lookup: reads a firing Alertmanager group's alerts when the message names no service
            (a network call: use it off Slack's acknowledgement path); with it, such a group's
            ``[RESOLVED]`` message on the default route gives one alert per known service.

    Returns:
        One firing or resolved alert per service the message names (usually one); ``[]`` for a
        human message, a bot message that is no alert, or an update such as "Acknowledged".

    Raises:
        TypeError: ``known_services`` or ``service_labels`` is a single string.
    """
    if isinstance(known_services, str) or isinstance(service_labels, str):
        raise TypeError("known_services and service_labels must be collections, not one string")
    message = inner_event(event)
    if message is None or not _is_alert_candidate(message):
        return []
    known = frozenset(name for name in known_services if isinstance(name, str))
    labels_order = tuple(label for label in service_labels if isinstance(label, str) and label)
    parts = message_parts(message)
    headline = _headline(parts)
    pairs = _pairs(parts, labels_order)
    if headline is None:
        headline = _from_fields(pairs, parts)
    if headline is None or headline.status is None:
        return []
    source = f"slack:{_source(parts, headline)}"
    ts = message.get("ts")
    started_at = slack_time(ts) or now
    service_key, services = _services(pairs, labels_order, headline, parts, known)
    name = _name(pairs, headline, parts, known)
    severity = _severity(pairs, headline, known)
    summary = _summary(parts, headline)
    labels = _first_values(pairs)
    labels.pop(GROUP_SIZE_LABEL, None)  # only Backout sets it
    if headline.count is not None and headline.count > 1:
        labels[GROUP_SIZE_LABEL] = str(headline.count)
    identity = _identity(headline, name)
    amtitle = source == "slack:alertmanager" and headline.family == "alertmanager"
    if lookup is not None and services == [None] and amtitle:
        shown, where = headline.rest.split(" | ", 1)[0], f"message {ts} in {message.get('channel')}"
        if headline.status == AlertStatus.RESOLVED and not shown.split("(", 1)[0].strip():
            # Default route: the receiver's whole group ended, on whatever services it named
            # (Alertmanager lists no ended alert): resolve each alert the firing lookup gave.
            services = [None, *sorted(known)]
        elif headline.status == AlertStatus.FIRING and (
            found := lookup.find_group(
                shown, links=_links(message), expected=headline.count, where=where
            )
        ):
            return [
                item.as_alert(
                    fingerprint=_fingerprint([source, identity, item.service(labels_order)]),
                    source=source,
                    service_labels=labels_order,
                    started_at=started_at,
                    summary=summary,
                )
                for item in found
            ]
    alerts = []
    for service in services:
        own_labels = dict(labels)
        if service_key is not None and service is not None:
            own_labels[service_key] = service
        alerts.append(
            Alert(
                fingerprint=_fingerprint([source, identity, service]),
                service=service,
                name=name,
                severity=severity,
                status=headline.status,
                started_at=started_at,
                summary=summary,
                labels=own_labels,
                source=source,
            )
        )
    return alerts


def slack_time(ts: object) -> datetime | None:
    """A Slack ``ts`` (``"1773756250.002100"``) as an aware UTC time, to the second.

    The digits after the dot only make the ``ts`` unique within its channel, so they are
    dropped. ``None`` for anything that is not such a string (or is out of range).
    """
    if not isinstance(ts, str):
        return None
    match = _TS.fullmatch(ts)
    if match is None:
        return None
    try:
        return datetime.fromtimestamp(int(match["seconds"]), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _links(message: Mapping[str, Any]) -> list[str]:
    """The attachments' title links and fallbacks (Alertmanager's name its receiver)."""
    attachments = message.get("attachments")
    items = attachments[:10] if isinstance(attachments, list) else []
    values = (i.get(k) for i in items if isinstance(i, Mapping) for k in ("title_link", "fallback"))
    return [value for value in values if isinstance(value, str)]


def _is_alert_candidate(message: Mapping[str, Any]) -> bool:
    kind = message.get("type", "message")
    subtype = message.get("subtype")
    return kind == "message" and subtype in (None, "bot_message") and is_bot_message(message)


def _headline(parts: MessageParts) -> _Headline | None:
    """The first line that starts with an alert status, in any supported wording."""
    for line in parts.lines[:200]:
        text = strip_emphasis(line)[:MAX_TEXT]
        match = _AM.match(text)
        if match:
            count = int(match["count"]) if match["count"] else None
            return _Headline(
                "alertmanager", _status_word(match["status"]), match["rest"], count=count
            )
        match = _PAGERDUTY.match(text)
        if match:
            return _Headline(
                "pagerduty", _status_word(match["status"]), match["rest"], key=f"#{match['number']}"
            )
        match = _DATADOG.match(text)
        if match:
            # The scope ``{service:x,env:y}`` stays in the line, where the label pairs read it.
            priority = match["p1"] or match["p2"]
            key = f"{match['scope'] or ''} {' '.join(match['rest'].split())}"
            return _Headline(
                "datadog", _status_word(match["status"]), match["rest"], priority, key=key
            )
        match = _GENERIC.match(text)
        if match:
            word = match["s1"] or match["s2"]
            return _Headline("generic", _status_word(word), match["rest"])
    return None


def _from_fields(pairs: Sequence[tuple[str, str]], parts: MessageParts) -> _Headline | None:
    """A status from a ``Status`` field, else from the attachment colour of a titled message."""
    for key, value in pairs:
        if key in ("status", "state", "alert_status"):
            return _Headline("generic", _status_word(value), "")
    if not parts.titles:
        return None
    for color in parts.colors:
        folded = color.casefold()
        if folded in _RESOLVED_COLORS:
            return _Headline("generic", AlertStatus.RESOLVED, "")
        if folded in _FIRING_COLORS:
            return _Headline("generic", AlertStatus.FIRING, "")
    return None


def _status_word(word: str) -> AlertStatus | None:
    folded = " ".join(word.casefold().split())
    if folded in _RESOLVED_WORDS:
        return AlertStatus.RESOLVED
    if folded in _FIRING_WORDS:
        return AlertStatus.FIRING
    return None  # an update ("acknowledged") or a word we do not know


def _source(parts: MessageParts, headline: _Headline) -> str:
    """The vendor named by the posting bot, else the one whose wording the headline uses."""
    for name in parts.names:
        folded = name.casefold()
        for vendor in _VENDORS:
            if vendor in folded:
                return vendor
    if headline.family == "alertmanager" and _looks_like_grafana(parts):
        return "grafana"
    return headline.family


def _looks_like_grafana(parts: MessageParts) -> bool:
    """Grafana's default message lists ``Labels:`` then `` - name = value`` lines."""
    lines = [strip_emphasis(line).strip() for line in parts.lines]
    return "Labels:" in lines and any(line.startswith("- ") and " = " in line for line in lines)


def _pairs(parts: MessageParts, service_labels: Sequence[str]) -> list[tuple[str, str]]:
    """``(label, value)`` pairs in reading order: fields, whole-line pairs, inline pairs.

    Labels are folded to lower case with ``_`` for spaces; values are kept verbatim.
    """
    pairs: list[tuple[str, str]] = []
    for field in parts.fields:
        value = strip_emphasis(field.value).strip()
        if field.title and value and "\n" not in value and len(value) <= _MAX_VALUE:
            pairs.append((_label_key(strip_emphasis(field.title)), value))
    lines = [strip_emphasis(line) for line in parts.lines[:500]]
    for line in lines:
        match = _LINE_PAIR.match(line)
        if match and "//" not in match["value"]:  # addresses are links, not labels
            pairs.append((_label_key(match["key"]), _trim(match["value"])))
    inline = _inline_pattern((*service_labels, *_SEVERITY_LABELS, "alertname"))
    for line in lines:
        for match in inline.finditer(line):
            value = _trim(match["value"])
            if value:
                pairs.append((_label_key(match["key"]), value))
    return [(key, value) for key, value in pairs if key and value]


@functools.lru_cache(maxsize=32)
def _inline_pattern(keys: tuple[str, ...]) -> re.Pattern[str]:
    """``key=value`` / ``key: value`` anywhere in a line, for the label names that matter."""
    names = "|".join(re.escape(key) for key in sorted(set(keys), key=len, reverse=True))
    return re.compile(
        rf"(?<![\w.\-/])(?P<key>{names})[ \t]*[:=][ \t]*(?P<value>{_VALUE})", re.IGNORECASE
    )


def _label_key(title: str) -> str:
    return "_".join(title.strip().casefold().split())[:63]


def _trim(value: str) -> str:
    return value.rstrip(".:!?")


def _first_values(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for key, value in pairs:
        labels.setdefault(key, value)
    return labels


def _values(pairs: Sequence[tuple[str, str]], key: str) -> list[str]:
    seen: list[str] = []
    for name, value in pairs:
        if name == key and value not in seen:
            seen.append(value)
    return seen


def _services(
    pairs: Sequence[tuple[str, str]],
    service_labels: Sequence[str],
    headline: _Headline,
    parts: MessageParts,
    known: frozenset[str],
) -> tuple[str | None, list[str | None]]:
    """The label that names the services, and the services: one per distinct value of it.

    Without such a label, the first bare word of the title that is exactly a known service.
    """
    for label in service_labels:
        key = label.casefold()
        values = _values(pairs, key)
        if values:
            return key, list(values[:20])
    for text in (headline.rest, *parts.titles):
        for token in _tokens(text):
            if token in known:
                return None, [token]
    return None, [None]


def _tokens(text: str) -> list[str]:
    return [_trim(token) for token in _TOKEN_SPLIT.split(text[:MAX_TEXT]) if _trim(token)]


def _name(
    pairs: Sequence[tuple[str, str]],
    headline: _Headline,
    parts: MessageParts,
    known: frozenset[str],
) -> str:
    """The alert's name: an ``alertname``-like label, else from the headline, else the title."""
    for key in _NAME_KEYS:
        values = _values(pairs, key)
        if values:
            return values[0][:_MAX_NAME]
    rest = " ".join(headline.rest.split())
    if headline.family == "alertmanager":
        # "[FIRING:1] <group label values> (<other common label values>)": with Alertmanager's
        # default route (no group_by) there are no group values, so the name is in the brackets.
        words = _tokens(rest.split("(", 1)[0]) or _tokens(rest.split("(", 1)[-1].split(")")[0])
        useful = [w for w in words if w not in known and w.casefold() not in _SEVERITY_WORDS]
        if useful or words:
            return (useful or words)[0][:_MAX_NAME]
    elif rest:
        return rest[:_MAX_NAME]
    for title in parts.titles:
        text = " ".join(strip_emphasis(title).split())
        if text:
            return text[:_MAX_NAME]
    return "unnamed alert"


def _severity(pairs: Sequence[tuple[str, str]], headline: _Headline, known: frozenset[str]) -> str:
    for key in _SEVERITY_LABELS:
        values = _values(pairs, key)
        if values:
            return values[0][:_MAX_NAME]
    if headline.priority:
        return headline.priority.upper()
    if headline.family == "alertmanager":
        for token in _tokens(headline.rest):
            if token.casefold() in _SEVERITY_WORDS and token not in known:
                return token
    return "unknown"


def _summary(parts: MessageParts, headline: _Headline) -> str:
    """The untrusted text, kept verbatim as data: a ``Summary:`` line, else the whole body."""
    for line in parts.raw_body.splitlines():
        match = _SUMMARY_LINE.match(line)
        if match:
            return match["value"].strip()[:MAX_SUMMARY]
    for field in parts.fields:
        if _label_key(strip_emphasis(field.title)) in ("summary", "description"):
            return field.value.strip()[:MAX_SUMMARY]
    return (parts.raw_body.strip() or headline.rest.strip())[:MAX_SUMMARY]


def _identity(headline: _Headline, name: str) -> str:
    """What identifies the alert in the firing message and the resolved one alike, never the
    rendered title nor the message's time.

    Alertmanager's (and Grafana's) title lists the group's label values after the status
    (``[FIRING:1] a b (c d)``, ``[RESOLVED] a b (c d)``): that label set is the alert group.
    PagerDuty's headline has the incident number; Datadog's the monitor with its scope. Other
    senders are known by the alert's name (and service, which the fingerprint adds).
    """
    if headline.key:
        return f"{headline.family}:{headline.key}"
    if headline.family == "alertmanager":
        values = " ".join(_tokens(headline.rest.split(" | ", 1)[0]))
        if values:
            return f"alertmanager:{values}"
    return f"name:{name}"


def _fingerprint(key: Sequence[object]) -> str:
    canonical = json.dumps(key, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:16]
