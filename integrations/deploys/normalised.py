"""Backout's own normalised change list: a JSON list of :class:`planners.model.Change` objects.

The change source ``backout plan --changes FILE`` reads (see :mod:`integrations.deploys`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from integrations.deploys.errors import ChangeFormatError
from planners.model import Change

__all__ = ["parse_changes"]


def parse_changes(payload: object) -> list[Change]:
    """Normalised changes from decoded JSON.

    Raises:
        ChangeFormatError: the payload is not a list of valid changes, or two share an id. The
            message names the first bad item and every bad field in it.
    """
    if not isinstance(payload, list):
        raise ChangeFormatError(f"expected a JSON list of changes, got {_kind(payload)}")
    changes: list[Change] = []
    seen: set[str] = set()
    for index, item in enumerate(payload):
        if not isinstance(item, dict):
            raise ChangeFormatError(f"item {index}: expected an object, got {_kind(item)}")
        try:
            change = Change.model_validate(item)
        except ValidationError as exc:
            raise ChangeFormatError(f"item {index}: {_fields(exc.errors())}") from exc
        if change.id in seen:
            raise ChangeFormatError(f"item {index}: duplicate change id {change.id!r}")
        seen.add(change.id)
        changes.append(change)
    return changes


def _fields(errors: Sequence[object]) -> str:
    parts = []
    for error in errors:
        if isinstance(error, dict):
            where = ".".join(str(p) for p in error.get("loc", ())) or "(item)"
            parts.append(f"field {where!r}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )
