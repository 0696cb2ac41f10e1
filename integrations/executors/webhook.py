"""The webhook executor: hands a step to the team's own automation as a signed HTTP POST.

One of the executors of ``integrations/executors/`` behind :class:`integrations.base.Executor`,
built by the registry with :meth:`WebhookExecutor.from_config`. For targets Backout has no adapter
for (a deploy pipeline, a runbook runner), it POSTs the operation as JSON, signed as the Standard
Webhooks specification says (https://github.com/standard-webhooks/standard-webhooks,
``spec/standard-webhooks.md``): ``webhook-id`` (the step's idempotency key), ``webhook-timestamp``
(Unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, so the
signature covers the timestamp and a receiver can refuse stale requests (:func:`verify` has a
tolerance) and forgeries. A retried POST carries the same ``webhook-id`` and ``Idempotency-Key``:
receivers must deduplicate by it to act once per step. A 2xx answer means done. An optional
``state_url`` tells whether the target is already there.

The URLs may carry credentials (``https://user:pw@…``, ``?token=…``): previews, errors and the
``repr`` show them redacted (:func:`redact`), so they never reach Slack or the audit log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import httpx

from integrations.base import Operation, Outcome, Preview, TargetState
from integrations.errors import ConfigError, PermanentIntegrationError, UnavailableError
from integrations.http import make_client, raise_for_status, redact, send

__all__ = [
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookExecutor",
    "payload",
    "sign",
    "verify",
]

ID_HEADER = "webhook-id"
"""The message id: the step's idempotency key, the same on every retry."""
TIMESTAMP_HEADER = "webhook-timestamp"
"""The Unix time the request was sent at, in whole seconds (signed)."""
SIGNATURE_HEADER = "webhook-signature"
"""``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` (space-separated if several)."""
DEFAULT_TOLERANCE = 300.0
"""Seconds a timestamp may be off before :func:`verify` refuses it (the spec's suggestion)."""

_NAME = "webhook"


def _key(secret: str | bytes) -> bytes:
    """The HMAC key: a ``whsec_<base64>`` secret's decoded bytes, else the secret's bytes."""
    if isinstance(secret, bytes):
        return secret
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def sign(msg_id: str, timestamp: int, body: bytes, secret: str | bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return (
        "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()
    )


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: str | bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """For receivers written in Python: whether the request is signed with ``secret`` and its
    timestamp is within ``tolerance`` seconds of ``now`` (compared in constant time). Replays
    inside the window must still be deduplicated by ``webhook-id``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp = lowered.get(ID_HEADER, ""), lowered.get(TIMESTAMP_HEADER, "")
    if not msg_id or not stamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        return False
    expected = sign(msg_id, int(stamp), body, secret)
    offered = lowered.get(SIGNATURE_HEADER, "").split()
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


class WebhookExecutor:
    """POSTs each operation, signed, to one URL."""

    kind: ClassVar[str] = "webhook"

    def __init__(
        self,
        *,
        client: httpx.Client,
        url: str,
        secret: str | bytes,
        state_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ConfigError(
                "a webhook needs a non-empty 'secret' to sign with", integration=_NAME
            )
        self._client = client
        self._url = url
        self._secret = secret
        self._state_url = state_url
        self._clock = clock

    def __repr__(self) -> str:
        state_url = redact(self._state_url) if self._state_url else None
        return f"WebhookExecutor(url={redact(self._url)!r}, state_url={state_url!r})"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WebhookExecutor:
        """Build from ``url``, ``secret`` and optional ``state_url``, ``headers``, ``timeout``
        and ``verify``."""
        url, secret = config.get("url"), config.get("secret")
        if not isinstance(url, str) or not url:
            raise ConfigError("a webhook needs a 'url'", integration=_NAME)
        if not isinstance(secret, str | bytes) or not secret:
            raise ConfigError("a webhook needs a 'secret' to sign with", integration=_NAME)
        headers = config.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise ConfigError("webhook 'headers' must be a mapping", integration=_NAME)
        client = make_client(
            "",
            timeout=float(config.get("timeout", 10.0)),
            headers={str(k): str(v) for k, v in headers.items()},
            verify=config.get("verify", True),
        )
        state_url = config.get("state_url")
        return cls(
            client=client, url=url, secret=secret, state_url=str(state_url) if state_url else None
        )

    def current_state(self, operation: Operation) -> TargetState:
        """GET ``state_url`` (``{"at_target": bool}``); without one, never at target."""
        if self._state_url is None:
            return TargetState(at_target=False, detail="no state_url: the webhook cannot be read")
        params = {"key": operation.key, "step_id": operation.step_id, "service": operation.service}
        request = self._client.build_request("GET", self._state_url, params=params)
        response = send(self._client, request, integration=_NAME)
        raise_for_status(
            response, integration=_NAME, what=f"webhook state {redact(self._state_url)}"
        )
        try:
            data = response.json()
        except ValueError as exc:
            raise UnavailableError("the webhook state is not JSON", integration=_NAME) from exc
        if not isinstance(data, dict) or not isinstance(data.get("at_target"), bool):
            raise PermanentIntegrationError(
                'the webhook state must be {"at_target": true|false}', integration=_NAME
            )
        current = data.get("current")
        return TargetState(
            at_target=data["at_target"],
            in_progress=data.get("in_progress") is True,
            current=str(current) if current is not None else None,
            detail=str(data.get("detail", "")),
        )

    def preview(self, operation: Operation) -> Preview:
        """Describe the POST that would be sent, touching nothing."""
        url = redact(self._url)
        return Preview(
            summary=f"POST {operation.action.value} of {operation.service} to {url}",
            changes=(f"signed POST to {url} with idempotency key {operation.key!r}",),
        )

    def execute(self, operation: Operation) -> Outcome:
        """POST the signed operation; a 2xx answer means the receiver has done it."""
        body = payload(operation)
        msg_id, stamp = operation.key or operation.step_id, int(self._clock())
        headers = {
            "Content-Type": "application/json",
            ID_HEADER: msg_id,
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(msg_id, stamp, body, self._secret),
            "Idempotency-Key": msg_id,
        }
        request = self._client.build_request("POST", self._url, content=body, headers=headers)
        response = send(self._client, request, integration=_NAME)
        raise_for_status(response, integration=_NAME, what=f"webhook {redact(self._url)}")
        if not 200 <= response.status_code < 300:
            raise PermanentIntegrationError(
                f"webhook {redact(self._url)} answered HTTP {response.status_code}, not 2xx "
                "(redirects are not followed)",
                integration=_NAME,
            )
        return Outcome(
            summary=f"webhook accepted {operation.action.value} of {operation.service}",
            details={"status": response.status_code, "response": response.text[:500]},
        )


def payload(operation: Operation) -> bytes:
    """The JSON body the webhook receives for ``operation`` (exactly the bytes that are signed)."""
    document = {
        "step_id": operation.step_id,
        "action": operation.action.value,
        "service": operation.service,
        "params": dict(operation.params),
        "target_version": operation.target_version,
        "bad_version": operation.bad_version,
        "flag": operation.flag,
        "key": operation.key,
    }
    return json.dumps(document, sort_keys=True, default=str).encode()
