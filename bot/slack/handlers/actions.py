"""The plan message's buttons: approve (a stage or all), simulate, reject, retry, skip, abort,
and the summary's feedback. Each click is acknowledged at once; the work runs lazily.

The user comes from the signed ``block_actions`` payload (``body["user"]["id"]``); the plan and
step from the button's value. A click on an unknown plan, or by someone the policy refuses,
changes nothing and gets an ephemeral answer (refusals are audited by the use case).

*Simulate* is the one click that is checked and counted: it runs the executors' previews with
production credentials, so only those who may read the plan (its channel's members and its
approvers, :mod:`bot.core.access`) may start it, each start and refusal is audited, and it
counts against the user's allowance (:mod:`bot.slack.limits`). Its ack
(:func:`bot.slack.handlers.commands.dry_run`) hands the dry run to the simulations' own pool, or
refuses it (not a reader of the plan, the allowance is spent, or the pool is full); the
refusal, decided in the ack, travels to its lazy listener in Bolt's ``context`` (copied for the
lazy listener after the ack has run, as acks run first on the request's thread) and is posted
from there. *Explain* (drawn only when a model is configured) is a read checked and counted the
same way (:func:`bot.slack.handlers.commands.explain`); its answer is posted to the user from
the explanations' pool when the model answers. The other clicks are never limited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.core.usecases import Decisions, Planning, Queries
from bot.slack import messages, views
from bot.slack.handlers.commands import dry_run, explain
from bot.slack.limits import Gate
from bot.slack.views import replies
from bot.slack.views.explanation import ACTION_EXPLAIN
from bot.store import PlanNotFoundError

__all__ = ["ACTION_IDS", "register"]

ACTION_IDS = (
    views.ACTION_APPROVE_STAGE,
    views.ACTION_APPROVE_PLAN,
    views.ACTION_SIMULATE,
    views.ACTION_REJECT,
    views.ACTION_RETRY,
    views.ACTION_SKIP,
    views.ACTION_ABORT,
    views.ACTION_FEEDBACK_RIGHT,
    views.ACTION_FEEDBACK_WRONG,
    ACTION_EXPLAIN,
)

_REFUSED = "backout_simulation_refused"
"""The ``context`` key under which the Simulate (or Explain) click's ack leaves its refusal."""


def register(
    app: App, *, decisions: Decisions, queries: Queries, gate: Gate, planning: Planning
) -> None:
    """Listen for every Backout button (*Explain* asks ``planning``'s model, if it has one)."""

    def ack_click(ack: Ack) -> None:
        ack()

    def run_click(body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        if (where := _where(body)) is None:
            return
        user, channel = where
        try:
            reply = _click(action["action_id"], str(action.get("value", "")), user, decisions)
        except PlanNotFoundError:
            reply = replies.plan_not_found(str(action.get("value", "")).split(":")[0])
        if reply is not None:
            client.chat_postEphemeral(channel=channel, user=user, **reply)

    def read_ack(
        start: Callable[[str, str, str, WebClient], dict[str, Any] | None],
    ) -> Callable[..., None]:
        """The ack of a button that reads a plan (*Simulate*, *Explain*): the work starts in the
        ack, and a refusal is handed to :func:`tell_refusal` through the context."""

        def ack_read(
            ack: Ack,
            body: dict[str, Any],
            action: dict[str, Any],
            client: WebClient,
            context: BoltContext,
        ) -> None:
            ack()
            if (where := _where(body)) is None:
                return
            user, channel = where
            plan_id = str(action.get("value", "")).partition(":")[0]
            if refused := start(plan_id, user, channel, client):
                context[_REFUSED] = refused

        return ack_read

    ack_simulate = read_ack(
        lambda plan_id, user, channel, client: dry_run(
            plan_id, user=user, channel=channel, client=client, queries=queries, gate=gate
        )
    )
    ack_explain = read_ack(
        lambda plan_id, user, channel, client: explain(
            plan_id,
            user=user,
            channel=channel,
            client=client,
            queries=queries,
            gate=gate,
            explaining=planning.explaining,
        )
    )

    def tell_refusal(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        if (refused := context.get(_REFUSED)) and (where := _where(body)):
            user, channel = where
            client.chat_postEphemeral(channel=channel, user=user, **refused)

    for action_id in ACTION_IDS:
        if action_id == views.ACTION_SIMULATE:
            app.action(action_id)(ack=ack_simulate, lazy=[tell_refusal])
        elif action_id == ACTION_EXPLAIN:
            app.action(action_id)(ack=ack_explain, lazy=[tell_refusal])
        else:
            app.action(action_id)(ack=ack_click, lazy=[run_click])


def _where(body: dict[str, Any]) -> tuple[str, str] | None:
    """Who clicked, and in which channel; None when the payload does not say."""
    user = (body.get("user") or {}).get("id")
    container, posted_in = body.get("container") or {}, body.get("channel") or {}
    channel = container.get("channel_id") or posted_in.get("id")
    return (str(user), str(channel)) if user and channel else None


def _click(action_id: str, value: str, user: str, decisions: Decisions) -> dict[str, Any] | None:
    plan_id, _, detail = value.partition(":")
    if action_id in (views.ACTION_APPROVE_STAGE, views.ACTION_APPROVE_PLAN):
        stage = detail if action_id == views.ACTION_APPROVE_STAGE else None
        result = decisions.approve(plan_id, user=user, stage=stage)
        if result.refused and not result.approved:
            return replies.not_authorized("; ".join(result.refused))
        return {"text": replies.approval(result)}
    if action_id in (views.ACTION_FEEDBACK_RIGHT, views.ACTION_FEEDBACK_WRONG):
        right = action_id == views.ACTION_FEEDBACK_RIGHT
        if decisions.feedback(plan_id, user=user, right=right):
            return {"text": messages.THANKS_FEEDBACK}
        return {"text": messages.FEEDBACK_NOT_YOURS}
    done = {
        views.ACTION_REJECT: lambda: decisions.reject(plan_id, user=user),
        views.ACTION_ABORT: lambda: decisions.abort(plan_id, user=user),
        views.ACTION_RETRY: lambda: decisions.retry(plan_id, detail, user=user),
        views.ACTION_SKIP: lambda: decisions.skip(plan_id, detail, user=user),
    }[action_id]()
    return None if done else replies.not_authorized(messages.NOT_AN_APPROVER)
