"""Errors of the model client, in the ``integrations.errors`` tree.

The client returns most failures as an outcome (:class:`integrations.llm.outcome.LLMResult`)
rather than raising them, because a model that fails must never stop a plan; the error it would
have been travels in the result's ``error``. The vendor's own exceptions (``openai.*``) never
leave this package.

```
IntegrationError (integrations.errors)
 ├── PermanentIntegrationError
 │    ├── UnauthorizedError, NotFoundError, ConfigError      (from integrations.errors)
 │    └── ModelRequestError              the endpoint refused the request (4xx)
 │         └── StructuredOutputUnsupportedError
 │                                       it refuses this response_format (llama.cpp's 500)
 └── TemporaryIntegrationError
      ├── RateLimitedError, UnavailableError                  (from integrations.errors)
      └── DeadlineExceededError          the plan's time for the model ran out
```
"""

from __future__ import annotations

from integrations.errors import PermanentIntegrationError, TemporaryIntegrationError

__all__ = ["DeadlineExceededError", "ModelRequestError", "StructuredOutputUnsupportedError"]


class ModelRequestError(PermanentIntegrationError):
    """The endpoint refused the request itself (400, 422, or another 4xx); resending is useless."""


class StructuredOutputUnsupportedError(ModelRequestError):
    """The endpoint does not accept this ``response_format`` (the client falls back)."""


class DeadlineExceededError(TemporaryIntegrationError):
    """No time was left in the plan's model deadline for (another) request."""
