"""Reading health-check configuration: typed fields, or a ``ConfigError`` that names the field.

Private to ``integrations/health/``: the adapters' ``from_config`` share these so that every
message has the same shape (``health.prometheus.timeout must be a positive number of seconds,
got 0``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any, Protocol

import httpx

from integrations.errors import ConfigError

__all__ = [
    "ClientFactory",
    "optional_number",
    "optional_text",
    "positive_number",
    "reject_unknown",
    "text",
]


class ClientFactory(Protocol):
    """Builds the ``httpx.Client`` for one base URL; :func:`integrations.http.make_client` fits."""

    def __call__(self, base_url: str, *, timeout: float) -> httpx.Client: ...


def reject_unknown(
    config: Mapping[str, Any], known: Collection[str], *, where: str, integration: str
) -> None:
    """Raise on the first key not in ``known`` (a typo such as ``treshold`` must not pass)."""
    unknown = sorted(str(key) for key in config if key not in known)
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]} is not a known setting (known: {', '.join(sorted(known))})",
            integration=integration,
        )


def text(config: Mapping[str, Any], key: str, *, where: str, integration: str) -> str:
    """A required non-empty string, stripped."""
    value = config.get(key)
    if not isinstance(value, str) or not value.strip():
        got = "nothing" if value is None else repr(value)
        raise ConfigError(
            f"{where}.{key} must be a non-empty string, got {got}", integration=integration
        )
    return value.strip()


def optional_text(
    config: Mapping[str, Any], key: str, *, where: str, integration: str
) -> str | None:
    """A non-empty string, or None when the key is absent or null."""
    if config.get(key) is None:
        return None
    return text(config, key, where=where, integration=integration)


def optional_number(
    config: Mapping[str, Any], key: str, *, where: str, integration: str
) -> float | None:
    """A finite or infinite number (not NaN, not a bool), or None when absent or null."""
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigError(f"{where}.{key} must be a number, got {value!r}", integration=integration)
    return float(value)


def positive_number(
    config: Mapping[str, Any], key: str, *, default: float, where: str, integration: str
) -> float:
    """A number above zero, or ``default`` when absent."""
    value = optional_number(config, key, where=where, integration=integration)
    if value is None:
        return default
    if not 0 < value < math.inf:
        raise ConfigError(
            f"{where}.{key} must be a positive number of seconds, got {config[key]!r}",
            integration=integration,
        )
    return value
