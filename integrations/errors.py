"""Errors raised by adapters; callers never see a vendor's own exception types.

```
IntegrationError(integration)
 ├── PermanentIntegrationError            retrying will not help: stop and report
 │    ├── NotFoundError                   the target does not exist (404)
 │    ├── UnauthorizedError               credentials refused (401)
 │    │    └── ForbiddenError             accepted, but lacking a permission (403)
 │    ├── ConflictError                   the target refuses in its current state (409, paused)
 │    ├── ConfigError                     Backout is configured wrongly for this target
 │    └── PayloadError (also ValueError)  an inbound payload that cannot be read
 │         ├── AlertFormatError           not an alert payload (integrations.alerts.errors)
 │         └── ChangeFormatError          not a change list (integrations.deploys)
 └── TemporaryIntegrationError(retry_after)   may succeed later: retried with backoff
      ├── RateLimitedError                429
      └── UnavailableError                5xx, 408, timeouts, connection failures
```

Adapters translate at the boundary with ``raise XError(...) from exc`` (kopf's ``APIError``
family is the model). A :class:`PayloadError` is also a ``ValueError``, so that a web handler
or the CLI can answer "bad input" with its message, which names the place of the problem.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConflictError",
    "ForbiddenError",
    "IntegrationError",
    "NotFoundError",
    "PayloadError",
    "PermanentIntegrationError",
    "RateLimitedError",
    "TemporaryIntegrationError",
    "UnauthorizedError",
    "UnavailableError",
]


class IntegrationError(Exception):
    """Something outside Backout failed; ``integration`` names the adapter (``kubernetes``…)."""

    def __init__(self, message: str, *, integration: str) -> None:
        super().__init__(message)
        self.integration = integration

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, integration={self.integration!r})"


class PermanentIntegrationError(IntegrationError):
    """Retrying will not help; the step fails and the plan halts."""


class NotFoundError(PermanentIntegrationError):
    """The target (deployment, application, release, flag) does not exist."""


class UnauthorizedError(PermanentIntegrationError):
    """The credentials were refused."""


class ForbiddenError(UnauthorizedError):
    """The credentials were accepted but lack a permission (403): grant it, do not rotate them."""


class ConflictError(PermanentIntegrationError):
    """The target refuses the operation in its current state (a paused Deployment, a 409)."""


class ConfigError(PermanentIntegrationError):
    """Backout's configuration for this target is missing or wrong."""


class PayloadError(PermanentIntegrationError, ValueError):
    """An inbound payload (a webhook body, a file of changes) that the adapter cannot read."""


class TemporaryIntegrationError(IntegrationError):
    """May succeed later; ``retry_after`` (seconds) is the server's hint, if it gave one."""

    def __init__(self, message: str, *, integration: str, retry_after: float | None = None) -> None:
        super().__init__(message, integration=integration)
        self.retry_after = retry_after


class RateLimitedError(TemporaryIntegrationError):
    """The server asked us to slow down (429)."""


class UnavailableError(TemporaryIntegrationError):
    """The server failed (5xx), timed out or could not be reached."""
