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

from bot import messages
from bot.services import Services
from bot.store import PlanNotFoundError
from bot.views import errors, simulation_message
from planners.model import Stage

__all__ = ["ACTION_IDS", "register"]

ACTION_IDS = (
    "backout_approve_stage",
    "backout_approve_plan",
    "backout_simulate",
    "backout_reject",
    "backout_retry",
    "backout_skip",
    "backout_abort",
    "backout_feedback_right",
    "backout_feedback_wrong",
)


def register(app: App, services: Services) -> None:
    """Listen for every Backout button."""

    def ack_click(ack: Ack) -> None:
        ack()

    def run_click(body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        user = body["user"]["id"]
        channel = (body.get("container") or {}).get("channel_id") or body["channel"]["id"]
        try:
            reply = _click(action["action_id"], str(action.get("value", "")), user, services)
        except PlanNotFoundError:
            reply = errors.plan_not_found(str(action.get("value", "")).split(":")[0])
        if reply is not None:
            client.chat_postEphemeral(channel=channel, user=user, **reply)

    for action_id in ACTION_IDS:
        app.action(action_id)(ack=ack_click, lazy=[run_click])


def _click(action_id: str, value: str, user: str, services: Services) -> dict[str, Any] | None:
    backout = services.backout
    plan_id, _, detail = value.partition(":")
    if action_id in ("backout_approve_stage", "backout_approve_plan"):
        stage = _stage(detail) if action_id == "backout_approve_stage" else None
        result = backout.approve(plan_id, user=user, stage=stage)
        if result.refused and not result.approved:
            return errors.not_authorized("; ".join(result.refused))
        return {"text": messages.approval(result)}
    if action_id == "backout_simulate":
        return simulation_message(plan_id, results=backout.simulate(plan_id))
    if action_id == "backout_reject":
        return (
            None
            if backout.reject(plan_id, user=user)
            else errors.not_authorized(messages.NOT_AN_APPROVER)
        )
    if action_id in ("backout_retry", "backout_skip"):
        act = backout.retry if action_id == "backout_retry" else backout.skip
        return (
            None
            if act(plan_id, detail, user=user)
            else errors.not_authorized(messages.NOT_AN_APPROVER)
        )
    if action_id == "backout_abort":
        return (
            None
            if backout.abort(plan_id, user=user)
            else errors.not_authorized(messages.NOT_AN_APPROVER)
        )
    if action_id in ("backout_feedback_right", "backout_feedback_wrong"):
        backout.feedback(plan_id, user=user, right=action_id.endswith("right"))
        return {"text": messages.THANKS_FEEDBACK}
    return None


def _stage(value: str) -> Stage | None:
    try:
        return Stage(value)
    except ValueError:
        return None
