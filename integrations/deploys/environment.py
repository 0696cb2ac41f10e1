"""Deploy environments: how a change records one, which count as production, which are the same.

Part of the change sources (:mod:`integrations.deploys`). A change carries its environment, when
its source names one, as the label ``env:<name>`` exactly as the source wrote it. Whether it counts
is the team's list of production-like names (``channels.environments``); whether two sources
mean the same one forgives the usual abbreviations (``prod`` is ``production``). An Argo CD
application named ``<service>-<env>`` names both.
"""

from __future__ import annotations

from collections.abc import Collection

from planners.model import Change

__all__ = [
    "ENVIRONMENT_LABEL",
    "PRODUCTION_ENVIRONMENTS",
    "environment_label",
    "environment_of",
    "is_production",
    "same_environment",
    "split_environment",
]

ENVIRONMENT_LABEL = "env:"
"""The prefix of the label that carries a change's environment."""

PRODUCTION_ENVIRONMENTS: tuple[str, ...] = ("prod", "production", "live")
"""Environment names that count as production unless the team lists its own."""

_SAME = {"prod": "production", "prd": "production", "live": "production"}
_SAME |= {"stage": "staging", "stg": "staging", "dev": "development"}
_WORDS = frozenset(_SAME) | frozenset(_SAME.values())
_WORDS |= {"qa", "test", "testing", "uat", "preprod", "sandbox", "canary", "preview"}


def environment_label(environment: str) -> str:
    """The label recording ``environment`` on a change."""
    return f"{ENVIRONMENT_LABEL}{environment}"


def environment_of(change: Change) -> str | None:
    """The environment a change's labels record, as its source wrote it; None when none does."""
    for label in change.labels:
        if label.startswith(ENVIRONMENT_LABEL) and len(label) > len(ENVIRONMENT_LABEL):
            return label[len(ENVIRONMENT_LABEL) :]
    return None


def is_production(environment: str, production: Collection[str] = PRODUCTION_ENVIRONMENTS) -> bool:
    """Whether ``environment`` is one of ``production`` or a variant (``prod-eu1``), ignoring case.

    Raises:
        TypeError: ``production`` is one string instead of a collection of names.
    """
    if isinstance(production, str):
        raise TypeError("production must be a collection of environment names, not one string")
    names = {name.casefold() for name in production}
    folded = environment.casefold()
    head = folded.replace("_", "-").replace(".", "-").split("-", 1)[0]
    return folded in names or head in names


def same_environment(first: str, second: str) -> bool:
    """Whether two sources name the same environment (``prod`` and ``Production`` do)."""
    return _canonical(first) == _canonical(second)


def split_environment(name: str) -> tuple[str, str | None]:
    """A name and the environment its suffix names: ``checkoutservice-prod`` gives
    ``("checkoutservice", "prod")``; a name without such a suffix gives ``(name, None)``."""
    for separator in ("-", "_", "."):
        base, sep, suffix = name.rpartition(separator)
        if sep and base and suffix.casefold() in _WORDS:
            return base, suffix
    return name, None


def _canonical(environment: str) -> str:
    folded = environment.casefold()
    return _SAME.get(folded, folded)
