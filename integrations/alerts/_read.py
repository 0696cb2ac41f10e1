"""Careful reading of untrusted JSON for the alert parsers (private to ``integrations.alerts``).

Every vendor module reads its webhook body through :class:`Node`, which knows the vendor and the
path it stands at, so that any missing or mistyped field becomes an :class:`AlertFormatError`
naming that path instead of a ``KeyError`` or ``TypeError``. Strings are returned exactly as they
arrived: nothing here lower-cases, normalises, strips or interprets alert text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from integrations.alerts.errors import AlertFormatError

__all__ = ["SEVERITY_LABELS", "Node", "first_label", "parse_iso", "tag_pairs"]

SEVERITY_LABELS = ("severity", "priority", "urgency")
"""The labels that carry an alert's severity, in order of preference."""

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))",
    re.ASCII,
)
_DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_iso(text: str) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime, or ``None`` if ``text`` is not one.

    Fractions beyond microseconds (Go sends nanoseconds) are truncated; a timestamp without a
    timezone is refused rather than guessed.
    """
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        offset = timedelta(0) if zulu else timedelta(hours=int(off_h), minutes=int(off_m))
        zone = timezone(-offset if sign == "-" else offset)
        local = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, zone
        )
        return local.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _from_epoch_ms(value: object) -> datetime | None:
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    try:
        return _EPOCH + timedelta(milliseconds=value)
    except OverflowError:
        return None


def first_label(labels: Mapping[str, str], names: Sequence[str]) -> str | None:
    """The value of the first of ``names`` present in ``labels``, exactly as it is.

    An empty value counts as absent (as in Prometheus, where an empty label is no label).
    """
    for name in names:
        value = labels.get(name)
        if value:
            return value
    return None


def tag_pairs(tags: Iterable[str]) -> dict[str, str]:
    """``key:value`` tags as a dict; the first tag of a key wins, tags without ``:`` are skipped."""
    pairs: dict[str, str] = {}
    for tag in tags:
        key, colon, value = tag.partition(":")
        if colon and key:
            pairs.setdefault(key, value)
    return pairs


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _to_text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class Node:
    """A JSON object inside a ``vendor`` payload, at ``path`` (``""`` for the body itself)."""

    data: Mapping[str, object]
    vendor: str
    path: str = ""

    @classmethod
    def root(cls, payload: object, *, vendor: str) -> Node:
        """The payload body, which must be a JSON object."""
        if not isinstance(payload, Mapping):
            raise AlertFormatError(f"{vendor} payload: the body is not a JSON object")
        return cls(payload, vendor)

    def where(self, key: str) -> str:
        """The path of ``key`` below this node, as error messages show it."""
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, problem: str) -> AlertFormatError:
        """The error for a bad ``key`` of this node (to be raised by the caller)."""
        return AlertFormatError(f"{self.vendor} payload: {self.where(key)} {problem}")

    def text(self, key: str) -> str | None:
        """A string field (an integer is taken as its decimal form); ``None`` when absent."""
        value = self.data.get(key)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return str(value)
            except ValueError as exc:  # more digits than int->str allows
                raise self.fail(key, "is too large a number") from exc
        raise self.fail(key, f"is not a string (got {_short(value)})")

    def required_text(self, key: str) -> str:
        """A string field that must be present and non-empty."""
        value = self.text(key)
        if not value:
            raise self.fail(key, "is missing")
        return value

    def child(self, key: str) -> Node | None:
        """A nested object; ``None`` when absent."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.fail(key, "is not an object")
        return Node(value, self.vendor, self.where(key))

    def required_child(self, key: str) -> Node:
        """A nested object that must be present."""
        node = self.child(key)
        if node is None:
            raise self.fail(key, "is missing")
        return node

    def children(self, key: str) -> list[Node]:
        """A list of objects that must be present (it may be empty)."""
        value = self.data.get(key)
        if value is None:
            raise self.fail(key, "is missing")
        if not isinstance(value, list):
            raise self.fail(key, "is not a list")
        nodes = []
        for index, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise self.fail(f"{key}[{index}]", "is not an object")
            nodes.append(Node(item, self.vendor, self.where(f"{key}[{index}]")))
        return nodes

    def strings(self, key: str) -> dict[str, str]:
        """A string map such as labels; other values are stringified, ``null`` ones dropped."""
        node = self.child(key)
        if node is None:
            return {}
        result: dict[str, str] = {}
        for name, value in node.data.items():
            if not isinstance(name, str):
                raise node.fail(_short(name), "is not a string key")
            if value is None:
                continue
            try:
                result[name] = _to_text(value)
            except (TypeError, ValueError) as exc:
                raise node.fail(name, "is not a JSON value") from exc
        return result

    def string_list(self, key: str) -> list[str]:
        """A list of strings such as tags; ``[]`` when absent."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, "is not a list")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{key}[{index}]", "is not a string")
        return list(value)

    def iso_time(self, key: str) -> datetime:
        """An RFC 3339 timestamp, in UTC, that must be present."""
        return self._required(key, self.maybe_iso_time(key))

    def maybe_iso_time(self, key: str) -> datetime | None:
        """An RFC 3339 timestamp in UTC; ``None`` when absent."""
        value = self.data.get(key)
        if value is None:
            return None
        parsed = parse_iso(value) if isinstance(value, str) else None
        if parsed is None:
            raise self.fail(key, f"is not a timestamp (got {_short(value)})")
        return parsed

    def epoch_ms_time(self, key: str) -> datetime:
        """A time in Unix epoch milliseconds (number or digit string) that must be present."""
        return self._required(key, self.maybe_epoch_ms_time(key))

    def maybe_epoch_ms_time(self, key: str) -> datetime | None:
        """A time in Unix epoch milliseconds (number or digit string); ``None`` when absent."""
        value = self.data.get(key)
        if value is None:
            return None
        parsed = _from_epoch_ms(value)
        if parsed is None:
            raise self.fail(key, f"is not a timestamp in epoch milliseconds (got {_short(value)})")
        return parsed

    def _required(self, key: str, value: datetime | None) -> datetime:
        if value is None:
            raise self.fail(key, "is missing")
        return value
