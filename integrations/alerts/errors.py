"""Errors of the alert parsers (``integrations.alerts``).

The parsers turn vendor webhook bodies into :class:`planners.model.Alert`; a body they cannot read
raises the one error below. It sits in the tree of :mod:`integrations.errors`; as a
``PayloadError`` it is also a ``ValueError``, so a web handler can answer ``400`` with its
message, which names the format and the exact place of the problem for a human.

```
IntegrationError
 └── PermanentIntegrationError
      └── PayloadError (also ValueError)
           └── AlertFormatError    not a supported alert payload, or a malformed one
```
"""

from __future__ import annotations

from integrations.errors import PayloadError

__all__ = ["AlertFormatError"]

_INTEGRATION = "alerts"


class AlertFormatError(PayloadError):
    """A webhook body that is not a readable alert payload.

    ``message`` is one human sentence, for example
    ``"Alertmanager payload: alerts[2].startsAt is not a timestamp"``.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message, integration=_INTEGRATION)

    def __repr__(self) -> str:
        return f"AlertFormatError({self.message!r})"
