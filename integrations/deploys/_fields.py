"""Careful reading of an untrusted deploy event (private to ``integrations.deploys``).

The vendor parsers read their JSON through :class:`Fields`, which knows the sender and the path
it stands at, so a missing or mistyped field becomes a :class:`ChangeFormatError` naming that
path instead of a ``KeyError``. Strings come back exactly as they arrived.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from integrations.deploys.errors import ChangeFormatError

__all__ = ["Fields", "image_tag"]


def image_tag(image: str) -> tuple[str, str | None]:
    """The repository's last path segment and the tag of a container image reference:
    ``registry/acme/checkoutservice:v1.8.2@sha256:…`` gives ``("checkoutservice", "v1.8.2")``."""
    reference = image.split("@", 1)[0]
    name, colon, tag = reference.rpartition(":")
    if not colon or "/" in tag:  # no tag, or the colon was a registry's port
        name, tag = reference, ""
    return name.rsplit("/", 1)[-1], tag or None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class Fields:
    """A JSON object inside a ``sender``'s event, at ``path`` (``""`` for the body itself)."""

    data: Mapping[str, object]
    sender: str
    path: str = ""

    @classmethod
    def root(cls, payload: object, *, sender: str) -> Fields:
        """The event body, which must be a JSON object."""
        if not isinstance(payload, Mapping):
            kind = "a list" if isinstance(payload, list) else f"a {type(payload).__name__}"
            raise ChangeFormatError(f"{sender}: the body is {kind}, not a JSON object")
        return cls(payload, sender)

    def fail(self, key: str, problem: str) -> ChangeFormatError:
        """The error for a bad ``key`` of this object (to be raised by the caller)."""
        where = f"{self.path}.{key}" if self.path else key
        return ChangeFormatError(f"{self.sender}: {where} {problem}")

    def text(self, key: str) -> str | None:
        """A string field (an integer is taken as its decimal form); None when absent or empty."""
        value = self.data.get(key)
        if isinstance(value, bool):
            raise self.fail(key, f"is not a string (got {_short(value)})")
        if isinstance(value, int) and abs(value) < 10**30:
            return str(value)
        if value is not None and not isinstance(value, str):
            raise self.fail(key, f"is not a string (got {_short(value)})")
        return value or None

    def required_text(self, key: str) -> str:
        """A string field that must be present and not empty."""
        value = self.text(key)
        if value is None:
            raise self.fail(key, "is missing")
        return value

    def child(self, key: str) -> Fields | None:
        """A nested object; None when absent."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.fail(key, "is not an object")
        return Fields(value, self.sender, f"{self.path}.{key}" if self.path else key)

    def required_child(self, key: str) -> Fields:
        """A nested object that must be present."""
        node = self.child(key)
        if node is None:
            raise self.fail(key, "is missing")
        return node

    def strings(self, key: str) -> list[str]:
        """A list of strings; ``[]`` when absent."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(key, "is not a list of strings")
        return list(value)

    def time(self, key: str) -> datetime | None:
        """An RFC 3339 timestamp with its offset, in UTC; None when absent."""
        value = self.text(key)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise self.fail(key, f"is not a timestamp with a timezone (got {_short(value)})")
        return parsed.astimezone(UTC)
