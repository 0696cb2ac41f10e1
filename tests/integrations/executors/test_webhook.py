"""WebhookExecutor against a loopback receiver: the signed body, its headers, the state URL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest

from fakes.webhook import WebhookReceiver
from integrations.base import Operation
from integrations.errors import ConfigError, PermanentIntegrationError
from integrations.executors.webhook import WebhookExecutor, payload, sign, verify
from integrations.http import make_client
from planners.model import Action

SHARED = "whsec-9f2c"

OPERATION = Operation(
    step_id="s3",
    action=Action.REVERT_CONFIG,
    service="payments",
    params={"pipeline": "payments-config", "region": "eu-west-1"},
    target_version="cfg-41",
    bad_version="cfg-42",
    key="plan-9:s3",
)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def executor_for(receiver: WebhookReceiver, *, state: bool = True) -> WebhookExecutor:
    return WebhookExecutor(
        client=make_client("", timeout=2.0),
        url=f"{receiver.base_url}/hook",
        secret=SHARED,
        state_url=f"{receiver.base_url}/state" if state else None,
        clock=lambda: 1_795_000_000.7,
    )


def test_the_signature_covers_id_timestamp_and_body(receiver: WebhookReceiver) -> None:
    """Standard Webhooks: v1,<base64 HMAC-SHA256 of "id.timestamp.body">; changing any of the
    three (a replay with a fresh timestamp, say) breaks it."""
    executor_for(receiver).execute(OPERATION)
    headers, body = receiver.received[0]
    signed = b"plan-9:s3.1795000000." + body
    digest = hmac.new(SHARED.encode(), signed, hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()
    now = 1_795_000_030.0
    assert verify(body, headers, SHARED, now=now)
    assert not verify(body, headers, "another-secret", now=now)
    assert not verify(body + b" ", headers, SHARED, now=now)
    assert not verify(body, {**headers, "webhook-timestamp": "1795000020"}, SHARED, now=now)
    assert not verify(body, {**headers, "webhook-id": "plan-9:s4"}, SHARED, now=now)


def test_verify_refuses_a_stale_or_future_timestamp(receiver: WebhookReceiver) -> None:
    """Outside the tolerance (5 minutes by default) a correctly signed request is refused."""
    executor_for(receiver).execute(OPERATION)
    headers, body = receiver.received[0]
    assert verify(body, headers, SHARED, now=1_795_000_000 + 299)
    assert not verify(body, headers, SHARED, now=1_795_000_000 + 301)
    assert not verify(body, headers, SHARED, now=1_795_000_000 - 301)
    assert verify(body, headers, SHARED, now=1_795_000_000 + 900, tolerance=1000)


def test_a_whsec_secret_is_used_decoded() -> None:
    """A ``whsec_<base64>`` secret (the spec's format) signs with its decoded bytes."""
    key = b"0123456789abcdef"
    secret = "whsec_" + base64.b64encode(key).decode()
    digest = hmac.new(key, b"m.1.{}", hashlib.sha256).digest()
    assert sign("m", 1, b"{}", secret) == "v1," + base64.b64encode(digest).decode()


def test_the_body_carries_the_operation(receiver: WebhookReceiver) -> None:
    """The JSON body names the step, action, service, params, versions and key."""
    executor_for(receiver).execute(OPERATION)
    _, body = receiver.received[0]
    assert json.loads(body) == {
        "step_id": "s3",
        "action": "revert_config",
        "service": "payments",
        "params": {"pipeline": "payments-config", "region": "eu-west-1"},
        "target_version": "cfg-41",
        "bad_version": "cfg-42",
        "flag": None,
        "key": "plan-9:s3",
    }
    assert body == payload(OPERATION)


def test_headers_carry_timestamp_and_idempotency_key(receiver: WebhookReceiver) -> None:
    """The timestamp is whole Unix seconds; the idempotency key is the operation's key."""
    outcome = executor_for(receiver).execute(OPERATION)
    headers, _ = receiver.received[0]
    assert headers["webhook-timestamp"] == "1795000000"
    assert headers["webhook-id"] == headers["idempotency-key"] == "plan-9:s3"
    assert headers["content-type"] == "application/json"
    assert outcome.details["status"] == 200


def test_the_state_url_tells_whether_the_step_happened(receiver: WebhookReceiver) -> None:
    """current_state asks state_url with the key, and reports what it answers."""
    executor = executor_for(receiver)
    before = executor.current_state(OPERATION)
    executor.execute(OPERATION)
    after = executor.current_state(OPERATION)
    assert (before.at_target, after.at_target) == (False, True)
    assert receiver.state_queries[0] == {"key": "plan-9:s3", "step_id": "s3", "service": "payments"}


def test_without_a_state_url_the_target_is_never_reached(receiver: WebhookReceiver) -> None:
    """With nothing to read, current_state says not at target, and no request is made."""
    state = executor_for(receiver, state=False).current_state(OPERATION)
    assert not state.at_target
    assert receiver.state_queries == []


def test_a_redirect_is_not_success(receiver: WebhookReceiver) -> None:
    """Only 2xx means done: a 3xx (not followed) is a permanent error."""
    receiver.status = 302
    with pytest.raises(PermanentIntegrationError, match="not 2xx"):
        executor_for(receiver).execute(OPERATION)


def test_preview_sends_nothing(receiver: WebhookReceiver) -> None:
    """The dry run names the URL and the idempotency key, and posts nothing."""
    preview = executor_for(receiver).preview(OPERATION)
    assert f"{receiver.base_url}/hook" in preview.summary
    assert "plan-9:s3" in preview.changes[0]
    assert receiver.received == []


def test_the_secret_stays_out_of_repr(receiver: WebhookReceiver) -> None:
    """repr (logs, tracebacks) shows the URL but never the secret."""
    text = repr(executor_for(receiver))
    assert "/hook" in text
    assert SHARED not in text


def test_sign_matches_the_documented_format() -> None:
    """sign() gives v1,<base64 of a 32-byte digest>."""
    signature = sign("m", 1, b"{}", SHARED)
    assert signature.startswith("v1,") and len(base64.b64decode(signature[3:])) == 32


def test_from_config_needs_url_and_secret(receiver: WebhookReceiver) -> None:
    """A webhook without a URL or secret is a configuration error; with both it posts."""
    with pytest.raises(ConfigError, match="url"):
        WebhookExecutor.from_config({"secret": SHARED})
    with pytest.raises(ConfigError, match="secret"):
        WebhookExecutor.from_config({"url": f"{receiver.base_url}/hook", "secret": ""})
    executor = WebhookExecutor.from_config(
        {"url": f"{receiver.base_url}/hook", "secret": SHARED, "headers": {"X-Team": "payments"}}
    )
    executor.execute(OPERATION)
    assert receiver.received[0][0]["x-team"] == "payments"
