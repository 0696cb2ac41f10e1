"""Errors of the planning core.

```
PlanningError
 └── UnknownServiceError (also LookupError)   a name that is not in the topology
```
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["PlanningError", "UnknownServiceError"]


class PlanningError(Exception):
    """Base class of every error the planning core raises."""


class UnknownServiceError(PlanningError, LookupError):
    """A service name that the topology does not hold; ``suggestions`` are close matches."""

    def __init__(self, name: str, *, suggestions: Iterable[str] = ()) -> None:
        self.name = name
        self.suggestions = tuple(suggestions)
        hint = f" (did you mean {', '.join(self.suggestions)}?)" if self.suggestions else ""
        super().__init__(f"unknown service {name!r}{hint}")

    def __repr__(self) -> str:
        return f"UnknownServiceError(name={self.name!r}, suggestions={self.suggestions!r})"
