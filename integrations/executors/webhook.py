"""The webhook executor: hands a step to the team's own automation as a signed HTTP POST.

One of the executors of ``integrations/executors/`` behind :class:`integrations.base.Executor`,
built by the registry with :meth:`WebhookExecutor.from_config`. For targets Backout has no adapter
for (a deploy pipeline, a runbook runner), it POSTs the operation as JSON, signed with
HMAC-SHA256 over the raw body (``X-Backout-Signature: sha256=<hex>``), with a timestamp and an
``Idempotency-Key`` so that the receiver can reject forgeries and replays and act once per step.
A 2xx answer means done. An optional ``state_url`` tells whether the target is already there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import httpx

from integrations.base import Operation, Outcome, Preview, TargetState
from integrations.errors import ConfigError, PermanentIntegrationError, UnavailableError
from integrations.http import make_client, raise_for_status, send

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookExecutor", "payload", "sign", "verify"]

SIGNATURE_HEADER = "X-Backout-Signature"
"""Carries ``sha256=<hex HMAC-SHA256 of the raw body>``."""
TIMESTAMP_HEADER = "X-Backout-Timestamp"
"""Carries the Unix time the request was sent at, in whole seconds."""

_NAME = "webhook"


def sign(body: bytes, secret: str | bytes) -> str:
    """The ``X-Backout-Signature`` value for ``body``: ``sha256=<hex>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str, secret: str | bytes) -> bool:
    """Whether ``signature`` is the one ``sign`` gives ``body`` (compared in constant time);
    for receivers written in Python."""
    return hmac.compare_digest(sign(body, secret), signature)


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
        return f"WebhookExecutor(url={self._url!r}, state_url={self._state_url!r})"

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
        raise_for_status(response, integration=_NAME, what="webhook state")
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
        return Preview(
            summary=f"POST {operation.action.value} of {operation.service} to {self._url}",
            changes=(f"signed POST to {self._url} with idempotency key {operation.key!r}",),
        )

    def execute(self, operation: Operation) -> Outcome:
        """POST the signed operation; a 2xx answer means the receiver has done it."""
        body = payload(operation)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, self._secret),
            TIMESTAMP_HEADER: str(int(self._clock())),
            "Idempotency-Key": operation.key or operation.step_id,
        }
        request = self._client.build_request("POST", self._url, content=body, headers=headers)
        response = send(self._client, request, integration=_NAME)
        raise_for_status(response, integration=_NAME, what=f"webhook {self._url}")
        if not 200 <= response.status_code < 300:
            raise PermanentIntegrationError(
                f"webhook {self._url} answered HTTP {response.status_code}, not 2xx "
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
