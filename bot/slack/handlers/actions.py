"""The plan message's buttons: approve (a stage or all), simulate, reject, retry, skip, abort,
and the summary's feedback. Each click is acknowledged at once; the work runs lazily.

The user comes from the signed ``block_actions`` payload (``body["user"]["id"]``); the plan and
step from the button's value. A click on an unknown plan, or by someone the policy refuses,
changes nothing and gets an ephemeral answer (refusals are audited by the use case).
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.core.usecases import Decisions, Execution
from bot.slack import messages, views
from bot.slack.views import replies, simulation_message
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
)


def register(app: App, *, decisions: Decisions, execution: Execution) -> None:
    """Listen for every Backout button."""

    def ack_click(ack: Ack) -> None:
        ack()

    def run_click(body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        user = body["user"]["id"]
        channel = (body.get("container") or {}).get("channel_id") or body["channel"]["id"]
        try:
            reply = _click(
                action["action_id"],
                str(action.get("value", "")),
                user,
                decisions=decisions,
                execution=execution,
            )
        except PlanNotFoundError:
            reply = replies.plan_not_found(str(action.get("value", "")).split(":")[0])
        if reply is not None:
            client.chat_postEphemeral(channel=channel, user=user, **reply)

    for action_id in ACTION_IDS:
        app.action(action_id)(ack=ack_click, lazy=[run_click])


def _click(
    action_id: str, value: str, user: str, *, decisions: Decisions, execution: Execution
) -> dict[str, Any] | None:
    plan_id, _, detail = value.partition(":")
    if action_id in (views.ACTION_APPROVE_STAGE, views.ACTION_APPROVE_PLAN):
        stage = detail if action_id == views.ACTION_APPROVE_STAGE else None
        result = decisions.approve(plan_id, user=user, stage=stage)
        if result.refused and not result.approved:
            return replies.not_authorized("; ".join(result.refused))
        return {"text": replies.approval(result)}
    if action_id == views.ACTION_SIMULATE:
        return simulation_message(plan_id, results=execution.simulate(plan_id))
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
