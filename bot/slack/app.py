"""The Slack app: :func:`build_app` makes one Bolt ``App`` (no module-level app) from the use cases
it calls and the channels it watches.

One sync execution model: Bolt's sync ``App``; every listener acks at once and does its slow
work in a lazy listener on Bolt's thread pool. Request verification stays on. Global middleware
refuses requests from any workspace but the bot token's (:mod:`bot.slack.workspace`), then
acknowledges and drops Slack's event retries (same ``event_id``), and every error ends in one
handler that logs it with a short reference and tells the user that reference.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient

from bot.core.ports import Clock
from bot.slack.handlers import UseCases, Watch, register
from bot.slack.limits import Gate, Limits
from bot.slack.notifier import SlackNotifier
from bot.slack.workspace import Workspace, only_this_workspace
from bot.store import Handled

__all__ = ["build_app"]

log = logging.getLogger(__name__)


def build_app(
    *,
    client: WebClient,
    signing_secret: str,
    handled: Handled,
    use_cases: UseCases,
    notifier: SlackNotifier,
    watch: Watch,
    clock: Clock,
    forget_group: Callable[[str], None],
    listeners: ThreadPoolExecutor | None = None,
    limits: Limits | None = None,
) -> App:
    """The Bolt app with every listener registered, serving the workspace of ``client``'s token
    (asked once, here, with ``auth.test``).

    Args:
        client: the Slack Web API client.
        signing_secret: the app's signing secret; every request is verified with it.
        handled: remembers handled event ids (Slack's retries are dropped).
        use_cases: what the listeners call.
        notifier: renders a plan's status for ``/rollback status``.
        watch: the channels the bot reads, and how.
        clock: the current time.
        forget_group: drops a user group's cached members (it changed in Slack).
        listeners: where Bolt runs the lazy listeners (the slow half of every handler).
        limits: how many plans and dry runs one person or channel may start.

    Raises:
        bot.slack.workspace.WorkspaceError: the token is not one workspace's.
    """
    identity = client.auth_test().data
    workspace = Workspace.from_auth_test(identity if isinstance(identity, dict) else {})
    log.info("serving Slack workspace %s", workspace.team_id)
    app = App(
        client=client,
        signing_secret=signing_secret,
        token_verification_enabled=False,  # the token was just checked (auth.test above)
        # Acks run on the request's own thread (no polling for a listener thread to answer);
        # every slow handler is a lazy listener, which Bolt still runs on its thread pool.
        process_before_response=True,
        listener_executor=listeners,
    )
    app.use(only_this_workspace(workspace))  # first: nothing of another workspace is recorded
    app.use(_drop_retries(handled))
    register(
        app,
        use_cases=use_cases,
        notifier=notifier,
        watch=watch,
        clock=clock,
        forget_group=forget_group,
        gate=Gate(execution=use_cases.execution, limits=limits),
    )

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        ref = uuid.uuid4().hex[:8]
        log.error("unhandled error (ref %s)", ref, exc_info=error)
        user = (body.get("user") or {}).get("id") or body.get("user_id")
        channel = (body.get("channel") or {}).get("id") or body.get("channel_id")
        if user and channel:
            from bot.slack.views import replies  # the views are only needed on this rare path

            client.chat_postEphemeral(channel=channel, user=user, **replies.internal_error(ref))

    return app


def _drop_retries(handled: Handled) -> Callable[..., BoltResponse | None]:
    """Slack re-sends an event it thinks we missed; the first delivery wins, on any replica."""

    def middleware(body: dict[str, Any], next: Callable[[], BoltResponse]) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not handled.claim_event(str(event_id)):
            log.info("event %s already handled: dropping the retry", event_id)
            return BoltResponse(status=200, body="")
        return next()

    return middleware
