"""Alertmanager's HTTP API (v2), read only: the alerts behind a notification whose text does not
carry their labels.

Alertmanager's default Slack title is ``[FIRING:2] <group label values> (<common label values>)``
(the ``__subject`` of its ``template/default.tmpl``): an alert group that spans two services
shows neither. :meth:`AlertmanagerAPI.group_alerts` asks ``GET /api/v2/alerts`` for the active,
unsilenced, uninhibited alerts of the notification's receiver, narrowed by the alert names the
title may show (a ``filter`` matcher ``alertname=~"…"``), and keeps those whose label values
include every value the title shows. The API is described by
https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml (``getAlerts``: query
``active``, ``silenced``, ``inhibited``, ``filter`` (repeated matchers), ``receiver`` (a regular
expression); the answer is ``gettableAlerts``). Alerts that have ended are never listed there
(``alertFilter`` in ``api/v2/api.go`` drops them), so a ``[RESOLVED]`` notification cannot be
looked up.

Every request has a timeout and a fresh connection (lookups are rare: one per alert message that
lacks its labels), so nothing needs closing. Failures are ``integrations.errors``:
:class:`~integrations.errors.UnavailableError` for an unreachable or failing Alertmanager,
:class:`~integrations.errors.UnauthorizedError` and the like for refusals,
:class:`~integrations.errors.PayloadError` for an answer that is not a list of alerts, and
:class:`~integrations.errors.ConfigError` for an unusable URL. :meth:`AlertmanagerAPI.find_group`,
what the bot calls, never raises them: it logs why it found nothing and gives no alerts.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote_plus

import httpx

from integrations.alerts._read import SEVERITY_LABELS, first_label, parse_iso
from integrations.alerts.formats import GROUP_SIZE_LABEL
from integrations.errors import ConfigError, IntegrationError, PayloadError
from integrations.http import make_client, raise_for_status, redact, send
from planners.model import Alert, AlertStatus

__all__ = ["AlertmanagerAPI", "GroupAlert"]

log = logging.getLogger(__name__)

_INTEGRATION = "alertmanager"
_DEFAULT_TIMEOUT = 5.0
_MAX_WORDS = 50
"""Words of a title that are matched (a longer title is cut; its words only narrow the match)."""
_MAX_NAMES = 20
"""Alternatives in the ``alertname`` matcher."""
_MAX_ALERTS = 1000
"""Alerts kept from one answer."""
_RECEIVER = re.compile(r"[?&]receiver=(?P<name>[^&#\s|>]{1,200})")
"""The receiver in the link of Alertmanager's default title (``/#/alerts?receiver=slack``)."""
_META = re.compile(r"[\\.+*?()|\[\]{}^$]")
"""What Go's ``regexp.QuoteMeta`` escapes (Alertmanager's matchers are RE2 expressions)."""


@dataclass(frozen=True)
class GroupAlert:
    """One alert as Alertmanager lists it: its labels and annotations (verbatim, untrusted),
    when it started (``None`` if the answer's time is unreadable) and its fingerprint."""

    fingerprint: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None

    def service(self, service_labels: Sequence[str]) -> str | None:
        """The value of the first of ``service_labels`` it carries."""
        return first_label(self.labels, service_labels)

    def as_alert(
        self,
        *,
        fingerprint: str,
        source: str,
        service_labels: Sequence[str],
        started_at: datetime,
        summary: str = "",
    ) -> Alert:
        """This alert, firing, as a normalised alert known by ``fingerprint`` (that of the
        message that announced it) from ``source``: the service is the first present label of
        ``service_labels``, the name ``alertname``, the summary its ``summary`` or
        ``description`` annotation (else ``summary``), the start its own (else
        ``started_at``). Labels are kept verbatim, except Backout's own group-size label."""
        labels = {k: v for k, v in self.labels.items() if k != GROUP_SIZE_LABEL}
        return Alert(
            fingerprint=fingerprint,
            service=self.service(service_labels),
            name=labels.get("alertname") or "unnamed alert",
            severity=first_label(labels, SEVERITY_LABELS) or "unknown",
            status=AlertStatus.FIRING,
            started_at=self.starts_at or started_at,
            summary=first_label(self.annotations, ("summary", "description")) or summary,
            labels=labels,
            source=source,
        )


class AlertmanagerAPI:
    """Read-only client of one Alertmanager.

    Args:
        base_url: Alertmanager's root URL (``http://alertmanager:9093``; a route prefix such as
            ``/alertmanager`` included).
        timeout: seconds for each of connect, read, write and pool.
        headers: sent with every request (an ``Authorization`` for a proxy in front of it).
        transport: replaces the network (tests).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = _DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers = dict(headers or {})
        self._transport = transport

    def __repr__(self) -> str:
        return f"AlertmanagerAPI({redact(self.base_url)!r})"

    def alerts(
        self, *, matchers: Sequence[str] = (), receiver: str | None = None
    ) -> list[GroupAlert]:
        """The active alerts that are neither silenced nor inhibited (those a notification
        carries), in Alertmanager's order (by fingerprint).

        Args:
            matchers: Alertmanager matchers (``alertname="X"``, ``service=~"a|b"``), all of
                which an alert must satisfy.
            receiver: only alerts routed to this receiver (the exact name).

        Raises:
            ConfigError: the URL cannot be used.
            UnavailableError: Alertmanager could not be reached, timed out or failed (5xx).
            PermanentIntegrationError: it refused the request (401, 403, 400 …).
            PayloadError: the answer is not a list of alerts.
        """
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("active", "true"),
            ("silenced", "false"),
            ("inhibited", "false"),
        ]
        params += [("filter", matcher) for matcher in matchers]
        if receiver is not None:
            params.append(("receiver", _quote_meta(receiver)))
        self._check_url()
        with make_client(
            self.base_url, timeout=self.timeout, headers=self._headers, transport=self._transport
        ) as http:
            request = http.build_request("GET", "api/v2/alerts", params=params)
            response = send(http, request, integration=_INTEGRATION)
        raise_for_status(response, integration=_INTEGRATION, what="GET /api/v2/alerts")
        return _read_alerts(response)

    def _check_url(self) -> None:
        try:
            url = httpx.URL(self.base_url)
        except httpx.InvalidURL as exc:
            raise ConfigError(
                f"alertmanager_url {redact(self.base_url)!r} cannot be used: {exc}",
                integration=_INTEGRATION,
            ) from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(
                f"alertmanager_url {redact(self.base_url)!r} is not an http(s) URL with a host",
                integration=_INTEGRATION,
            )

    def group_alerts(
        self, shown: str, *, receiver: str | None = None, expected: int | None = None
    ) -> list[GroupAlert]:
        """The alerts of the notification group whose title shows ``shown``.

        ``shown`` is what Alertmanager's default title prints after the status: the group's
        label values, then the other common label values in brackets. An alert belongs to the
        group when every word shown is a word of its label values (brackets aside). The alert
        name is tried first as a filter on Alertmanager's side (``alertname=~"<shown words>"``:
        the name is among them when the group shares it); when that finds fewer alerts than
        ``expected`` (the count in ``[FIRING:n]``), the receiver's alerts are read without it.

        Args:
            shown: the title after ``[FIRING:n]`` (untrusted; it is escaped in the query).
            receiver: the notification's receiver (from the title's link), when known.
            expected: how many alerts the notification says it carries, when it says.

        Returns:
            The matching alerts; ``[]`` when none match, or when the title shows nothing and
            names no receiver (then nothing tells this group from any other).

        Raises:
            IntegrationError: as for :meth:`alerts`.
        """
        words = _words([shown])[:_MAX_WORDS]
        if not words and receiver is None:
            return []
        wanted = Counter(words)
        names = list(dict.fromkeys(words))[:_MAX_NAMES]
        found: list[GroupAlert] = []
        if names:
            by_name = self.alerts(matchers=[_name_matcher(names)], receiver=receiver)
            found = [alert for alert in by_name if _shows(alert, wanted)]
        if not found or (expected is not None and len(found) < expected):
            everything = self.alerts(receiver=receiver)
            found = [alert for alert in everything if _shows(alert, wanted)]
        return found

    def find_group(
        self, shown: str, *, links: Sequence[str] = (), expected: int | None = None, where: str
    ) -> list[GroupAlert]:
        """:meth:`group_alerts` for a notification read elsewhere (a Slack message), never
        raising: a failure, or no alert found, is logged as a warning saying why, and gives
        ``[]``.

        Args:
            shown: the title after ``[FIRING:n]``.
            links: the notification's links; the first ``?receiver=<name>`` names its receiver.
            expected: the count in ``[FIRING:n]``.
            where: what the notification is, for the log (``alert message <ts> in <channel>``).
        """
        receiver = next(
            (unquote_plus(m["name"]) for link in links if (m := _RECEIVER.search(link))), None
        )
        try:
            found = self.group_alerts(shown, receiver=receiver, expected=expected)
        except IntegrationError as exc:
            log.warning(
                "%s names no service, and Alertmanager at %s could not be asked for the group's "
                "alerts (%s: %s): planning from the message alone",
                where,
                redact(self.base_url),
                type(exc).__name__,
                exc,
            )
            return []
        if not found:
            log.warning(
                "%s names no service, and Alertmanager at %s lists no active alert of receiver "
                "%s showing %r: planning from the message alone",
                where,
                redact(self.base_url),
                receiver or "(any)",
                " ".join(shown.split())[:200],
            )
        elif expected is not None and len(found) != expected:
            log.info(
                "%s says %d alerts; Alertmanager lists %d of its group now: planning for those",
                where,
                expected,
                len(found),
            )
        return found


def _quote_meta(text: str) -> str:
    """``text`` as a regular expression that matches exactly it (Go's ``regexp.QuoteMeta``)."""
    return _META.sub(lambda match: "\\" + match.group(0), text)


def _name_matcher(names: Sequence[str]) -> str:
    pattern = "|".join(_quote_meta(name) for name in names)
    quoted = pattern.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'alertname=~"{quoted}"'


def _words(texts: Iterable[str]) -> list[str]:
    """The whitespace-separated words of ``texts``, each without surrounding brackets."""
    words: list[str] = []
    for text in texts:
        words.extend(word.strip("()") for word in text.split())
    return [word for word in words if word]


def _shows(alert: GroupAlert, wanted: Counter[str]) -> bool:
    """Whether every wanted word is a word of the alert's label values (as often as wanted)."""
    have = Counter(_words(alert.labels.values()))
    return all(have[word] >= count for word, count in wanted.items())


def _read_alerts(response: httpx.Response) -> list[GroupAlert]:
    try:
        body = response.json()
    except ValueError as exc:
        raise PayloadError(
            f"GET /api/v2/alerts: the answer is not JSON ({response.text[:80]!r})",
            integration=_INTEGRATION,
        ) from exc
    if not isinstance(body, list):
        raise PayloadError(
            f"GET /api/v2/alerts: expected a list of alerts, got {type(body).__name__}",
            integration=_INTEGRATION,
        )
    return [alert for item in body[:_MAX_ALERTS] if (alert := _read_alert(item)) is not None]


def _read_alert(item: object) -> GroupAlert | None:
    """One ``gettableAlert``; ``None`` for an entry without labels (nothing to plan from)."""
    if not isinstance(item, Mapping):
        return None
    labels = _strings(item.get("labels"))
    if not labels:
        return None
    starts = item.get("startsAt")
    return GroupAlert(
        fingerprint=str(item.get("fingerprint") or ""),
        labels=labels,
        annotations=_strings(item.get("annotations")),
        starts_at=parse_iso(starts) if isinstance(starts, str) else None,
    )


def _strings(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}
