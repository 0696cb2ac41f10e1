"""The one place that builds ``httpx.Client`` objects and maps HTTP failures to our errors.

Every HTTP adapter takes a client built here (timeouts always set) and calls
:func:`raise_for_status` so that 401/403, 404, 409, 429 and 5xx become the same
``integrations.errors`` types everywhere, and transport failures become ``UnavailableError``.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import httpx

from integrations.errors import (
    ConflictError,
    NotFoundError,
    PermanentIntegrationError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
)

__all__ = ["make_client", "raise_for_status", "send"]


def make_client(
    base_url: str,
    *,
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
    verify: bool | str | ssl.SSLContext = True,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An ``httpx.Client`` with a timeout on every phase.

    Args:
        base_url: where every relative request goes.
        timeout: seconds for each of connect, read, write and pool.
        headers: sent with every request (auth).
        verify: TLS verification: on, off, a CA bundle path, or an ``ssl.SSLContext``.
        transport: replaces the network (tests).
    """
    if isinstance(verify, str):
        verify = ssl.create_default_context(cafile=verify)
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout),
        headers=dict(headers or {}),
        verify=verify,
        transport=transport,
    )


def send(client: httpx.Client, request: httpx.Request, *, integration: str) -> httpx.Response:
    """Send ``request``; transport failures become :class:`UnavailableError`."""
    try:
        return client.send(request)
    except httpx.TimeoutException as exc:
        raise UnavailableError(
            f"{request.method} {request.url.path} timed out", integration=integration
        ) from exc
    except httpx.TransportError as exc:
        raise UnavailableError(
            f"{request.method} {request.url.path} failed: {exc}", integration=integration
        ) from exc


def raise_for_status(response: httpx.Response, *, integration: str, what: str = "") -> None:
    """Map an error status to our error types; ``what`` names the target in the message."""
    status = response.status_code
    if status < 400:
        return
    subject = what or f"{response.request.method} {response.request.url.path}"
    body = response.text[:300].strip()
    message = f"{subject}: HTTP {status}" + (f": {body}" if body else "")
    if status in (401, 403):
        raise UnauthorizedError(message, integration=integration)
    if status == 404:
        raise NotFoundError(message, integration=integration)
    if status == 409:
        raise ConflictError(message, integration=integration)
    if status == 429:
        raise RateLimitedError(
            message, integration=integration, retry_after=_retry_after(response.headers)
        )
    if status >= 500:
        raise UnavailableError(
            message, integration=integration, retry_after=_retry_after(response.headers)
        )
    raise PermanentIntegrationError(message, integration=integration)


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
