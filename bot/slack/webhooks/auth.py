"""How each webhook sender proves who it is, checked in constant time.

Part of the webhook pipeline (:mod:`.endpoint`). Senders that can sign sign the raw body:
PagerDuty v3 sends ``X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the body>`` (several
comma-separated while a secret is being rotated: any one matching passes), GitHub sends
``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``. The others (Alertmanager, Grafana,
Datadog, Opsgenie, Argo CD, Backout's own change list) present the shared secret as
``Authorization: Bearer <secret>``, ``X-Backout-Token: <secret>`` or ``?token=<secret>``.

References: https://github.com/PagerDuty/developer-docs/blob/main/docs/webhooks/04-Signatures.md ;
https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request

__all__ = [
    "Authenticator",
    "BodySignature",
    "SharedSecret",
    "github_signature",
    "pagerduty_signature",
]

_MAX_SIGNATURES = 16
"""More signatures than this in one header are not tried (each costs an HMAC)."""


class Authenticator(Protocol):
    """Decides whether a request comes from the configured sender."""

    @property
    def hint(self) -> str:
        """What a refused sender is told (answered with 401): where the proof goes."""
        ...

    def accepts(self, request: Request, body: bytes) -> bool:
        """Whether ``request`` (whose raw body is ``body``) proves its sender."""
        ...


@dataclass(frozen=True)
class SharedSecret:
    """The shared secret, taken from the first place that carries one."""

    key: bytes
    hint: str = (
        "missing or wrong webhook secret (Authorization: Bearer <secret>, X-Backout-Token, "
        "or ?token=)"
    )

    def accepts(self, request: Request, body: bytes) -> bool:
        """Whether the request presents the secret (``body`` is not looked at)."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            offered = credentials.strip()
        else:
            offered = request.headers.get("x-backout-token", "") or request.query_params.get(
                "token", ""
            )
        return bool(offered) and hmac.compare_digest(offered.encode("utf-8", "replace"), self.key)


@dataclass(frozen=True)
class BodySignature:
    """A hex HMAC-SHA256 of the raw body with ``key``, after ``prefix``, in ``header``; when
    ``several``, the header may list comma-separated signatures and any one may match."""

    key: bytes
    header: str
    prefix: str
    hint: str
    several: bool = False

    def accepts(self, request: Request, body: bytes) -> bool:
        """Whether one of the signatures offered is the body's."""
        offered = request.headers.get(self.header, "")
        candidates = offered.split(",")[:_MAX_SIGNATURES] if self.several else [offered]
        expected = (self.prefix + hmac.new(self.key, body, hashlib.sha256).hexdigest()).encode()
        matches = [
            hmac.compare_digest(expected, candidate.strip().encode("utf-8", "replace"))
            for candidate in candidates
        ]
        return any(matches)


def pagerduty_signature(secret: str) -> BodySignature:
    """PagerDuty v3's ``X-PagerDuty-Signature`` with the subscription's secret."""
    return BodySignature(
        key=secret.encode(),
        header="x-pagerduty-signature",
        prefix="v1=",
        several=True,
        hint="missing or wrong X-PagerDuty-Signature (v1=<hex HMAC-SHA256 of the body with "
        "webhooks.pagerduty_secret>)",
    )


def github_signature(secret: str) -> BodySignature:
    """GitHub's ``X-Hub-Signature-256`` with the webhook's secret."""
    return BodySignature(
        key=secret.encode(),
        header="x-hub-signature-256",
        prefix="sha256=",
        hint="missing or wrong X-Hub-Signature-256 (sha256=<hex HMAC-SHA256 of the body with "
        "webhooks.github_secret>)",
    )
