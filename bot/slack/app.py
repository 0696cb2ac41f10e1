"""The Slack app: ``build_app(settings, services)`` makes one Bolt ``App`` (no module-level app).

One sync execution model: Bolt's sync ``App``; every listener acks at once and does its slow
work in a lazy listener on Bolt's thread pool. Request verification stays on. A global
middleware acknowledges and drops Slack's event retries (same ``event_id``), and every error ends
in one handler that logs it with a short reference and tells the user that reference.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltResponse

from bot.runtime.services import Services
from bot.runtime.settings import Settings, SettingsError
from bot.slack.handlers import register

__all__ = ["build_app"]

log = logging.getLogger(__name__)


def build_app(settings: Settings, services: Services) -> App:
    """The Bolt app with every listener registered.

    Raises:
        SettingsError: no signing secret (every request must be verifiable).
    """
    if settings.slack_signing_secret is None:
        raise SettingsError("SLACK_SIGNING_SECRET is not set (Slack app > Basic Information)")
    app = App(
        client=services.client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        token_verification_enabled=False,  # build_services already called auth.test
        # Acks run on the request's own thread (no polling for a listener thread to answer);
        # every slow handler is a lazy listener, which Bolt still runs on its thread pool.
        process_before_response=True,
    )
    app.use(_drop_retries(services))
    register(app, services)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        ref = uuid.uuid4().hex[:8]
        log.error("unhandled error (ref %s)", ref, exc_info=error)
        user = (body.get("user") or {}).get("id") or body.get("user_id")
        channel = (body.get("channel") or {}).get("id") or body.get("channel_id")
        if user and channel:
            from bot.slack.views import errors  # the views are only needed on this rare path

            services.client.chat_postEphemeral(
                channel=channel, user=user, **errors.internal_error(ref)
            )

    return app


def _drop_retries(services: Services) -> Callable[..., BoltResponse | None]:
    """Slack re-sends an event it thinks we missed; the first delivery wins, on any replica."""

    def middleware(body: dict[str, Any], next: Callable[[], BoltResponse]) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not services.conversations.claim_event(str(event_id)):
            log.info("event %s already handled: dropping the retry", event_id)
            return BoltResponse(status=200, body="")
        return next()

    return middleware
