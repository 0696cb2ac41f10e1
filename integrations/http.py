"""The one place that builds ``httpx.Client`` objects and maps HTTP failures to our errors.

Every HTTP adapter takes a client built here (timeouts always set) and calls
:func:`raise_for_status` so that 401, 403, 404, 408, 409, 429 and 5xx become the same
``integrations.errors`` types everywhere, and transport failures become ``UnavailableError``.
The server's wait hint is ``Retry-After`` in seconds or as an HTTP date (RFC 9110 section
10.2.3), else ``X-Ratelimit-Reset`` (LaunchDarkly: epoch milliseconds; others: epoch seconds).
:func:`redact` strips credentials (user info, query string) from a URL before it is shown.
"""

from __future__ import annotations

import email.utils
import ssl
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

import httpx

from integrations.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PermanentIntegrationError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
)

__all__ = ["make_client", "raise_for_status", "redact", "retry_after", "send"]


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
    if status == 401:
        raise UnauthorizedError(message, integration=integration)
    if status == 403:
        raise ForbiddenError(
            f"{message} (the credentials were accepted but lack this permission)",
            integration=integration,
        )
    if status == 404:
        raise NotFoundError(message, integration=integration)
    if status == 409:
        raise ConflictError(message, integration=integration)
    if status == 429:
        raise RateLimitedError(
            message, integration=integration, retry_after=retry_after(response.headers)
        )
    if status >= 500 or status == 408:
        raise UnavailableError(
            message, integration=integration, retry_after=retry_after(response.headers)
        )
    raise PermanentIntegrationError(message, integration=integration)


def retry_after(
    headers: Mapping[str, str], *, now: Callable[[], float] = time.time
) -> float | None:
    """Seconds the server asks us to wait: ``Retry-After`` (seconds or an HTTP date), else
    ``X-Ratelimit-Reset`` (an epoch time, in milliseconds when that large); never negative."""
    value = headers.get("retry-after")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - now())
    reset = headers.get("x-ratelimit-reset")
    try:
        stamp = float(reset) if reset is not None else None
    except ValueError:
        return None
    if stamp is None:
        return None
    if stamp > 1e11:
        stamp /= 1000.0
    return max(0.0, stamp - now()) if stamp > 1e9 else max(0.0, stamp)


def redact(url: str) -> str:
    """``url`` without user info and with its query string replaced by ``?<redacted>``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unreadable URL>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if _port(parts) else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "<redacted>" if parts.query else "", ""))


def _port(parts: object) -> int | None:
    try:
        return getattr(parts, "port", None)
    except ValueError:
        return None
