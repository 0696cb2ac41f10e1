"""A registry of adapter factories by name, built at startup (apscheduler 3.x's design).

``Registry[T]`` maps a kind (``"kubernetes"``, ``"argocd"``…) to a factory taking that adapter's
configuration. Registration is explicit, in the composition root (``bot/``); an unknown kind
raises ``LookupError`` naming the kinds that exist. Instances, not class attributes, so tests get
a fresh one each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")
Factory = Callable[[Mapping[str, Any]], T]


class Registry(Generic[T]):
    """Factories by kind for one port (executors, health checks)."""

    def __init__(self, *, port: str) -> None:
        self.port = port
        self._factories: dict[str, Factory[T]] = {}

    def register(self, kind: str, factory: Factory[T]) -> None:
        """Add a factory; registering a kind twice is a programming error."""
        if kind in self._factories:
            raise ValueError(f"{self.port} {kind!r} is already registered")
        self._factories[kind] = factory

    def create(self, kind: str, config: Mapping[str, Any]) -> T:
        """Build the adapter of ``kind`` from its configuration.

        Raises:
            LookupError: no factory for ``kind``; the message lists the kinds available.
        """
        try:
            factory = self._factories[kind]
        except KeyError:
            known = ", ".join(sorted(self._factories)) or "none"
            raise LookupError(f"no {self.port} named {kind!r} (available: {known})") from None
        return factory(config)

    def kinds(self) -> list[str]:
        """The registered kinds, sorted."""
        return sorted(self._factories)

    def __contains__(self, kind: object) -> bool:
        return kind in self._factories
