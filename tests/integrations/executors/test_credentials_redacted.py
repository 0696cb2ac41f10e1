"""Credentials in executor configuration never reach previews, errors or reprs (and from there
Slack and the audit log): URL user info and query strings are redacted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.webhook import WebhookReceiver
from integrations.base import Operation
from integrations.errors import IntegrationError
from integrations.executors.webhook import WebhookExecutor
from integrations.http import redact
from planners.model import Action

TOKEN = "tok-8c1d55"
PASSWORD = "pw-77f3"

OPERATION = Operation(
    step_id="s3", action=Action.REVERT_CONFIG, service="payments", key="plan-9:s3"
)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def executor_for(receiver: WebhookReceiver) -> WebhookExecutor:
    base = receiver.base_url.replace("http://", f"http://ops:{PASSWORD}@")
    return WebhookExecutor.from_config(
        {
            "url": f"{base}/hook?token={TOKEN}",
            "state_url": f"{base}/state?token={TOKEN}",
            "secret": "s",
        }
    )


def shown(text: str) -> None:
    assert TOKEN not in text and PASSWORD not in text, text


def test_preview_and_repr_redact_the_url(receiver: WebhookReceiver) -> None:
    """The preview names the host and path only; so does repr."""
    executor = executor_for(receiver)
    preview = executor.preview(OPERATION)
    shown(preview.summary + " ".join(preview.changes))
    shown(repr(executor))
    assert "/hook?<redacted>" in preview.summary


def test_errors_redact_the_url(receiver: WebhookReceiver) -> None:
    """An error answer names the webhook without its credentials (the request still had them)."""
    receiver.status = 500
    with pytest.raises(IntegrationError) as caught:
        executor_for(receiver).execute(OPERATION)
    shown(str(caught.value))
    receiver.fail_next(404)
    with pytest.raises(IntegrationError) as state_error:
        executor_for(receiver).current_state(OPERATION)
    shown(str(state_error.value))


def test_redact_keeps_what_identifies_the_endpoint() -> None:
    """Scheme, host, port and path stay; user info goes; the query becomes <redacted>."""
    assert redact(f"https://u:{PASSWORD}@h.example:8443/a/b?token={TOKEN}") == (
        "https://h.example:8443/a/b?<redacted>"
    )
    assert redact("https://h.example/a") == "https://h.example/a"
