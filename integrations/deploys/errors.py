"""Errors of the change sources (``integrations.deploys``).

A change list that cannot be read raises the one error below. It sits in the tree of
:mod:`integrations.errors`; as a ``PayloadError`` it is also a ``ValueError``.

```
IntegrationError
 └── PermanentIntegrationError
      └── PayloadError (also ValueError)
           └── ChangeFormatError    not a list of valid changes; the message names item and field
```
"""

from __future__ import annotations

from integrations.errors import PayloadError

__all__ = ["ChangeFormatError"]

_INTEGRATION = "deploys"


class ChangeFormatError(PayloadError):
    """A change list that cannot be read; the message names the item and the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message, integration=_INTEGRATION)

    def __repr__(self) -> str:
        return f"ChangeFormatError({str(self)!r})"
