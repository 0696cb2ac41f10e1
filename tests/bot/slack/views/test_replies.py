"""Short replies: usage help, unknown services, refusals, missing plans, internal errors, and the
handlers' one-line answers (approvals, commands, history)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.usecases import Approval
from bot.lifecycle import Mode, PlanKind, PlanStatus
from bot.slack.views import internal_error, not_authorized, plan_not_found, unknown_service, usage
from bot.slack.views.replies import aborted, approval, history, working
from bot.store.records import StoredPlan
from planners.model import Change, ChangeKind
from tests.support.views import (
    HOSTILE,
    HUGE,
    T0,
    all_text,
    live_markup,
    shop_plan,
    validate,
)


def test_unknown_service_offers_close_names():
    """The unknown name is echoed as code, with the suggestions after it."""
    message = unknown_service("cartservise", suggestions=["cartservice", "cart-service"])
    assert validate(message) == []
    text = all_text(message)
    assert "I don't know a service called `cartservise`." in text
    assert "Did you mean `cartservice`, `cart-service`?" in text


def test_unknown_service_without_suggestions_only_says_so():
    """With nothing close, there is no "did you mean"."""
    assert "Did you mean" not in all_text(unknown_service("zzz", suggestions=[]))


def test_usage_shows_the_users_text_escaped_and_every_command():
    """The input that could not be read is echoed inert, followed by the commands."""
    message = usage("plan <!channel> now")
    assert validate(message) == []
    text = all_text(message)
    assert "I couldn't read `plan &lt;!channel&gt; now`." in text
    for command in ("plan", "status", "simulate", "abort", "history", "help"):
        assert f"`/rollback {command}" in text
    assert live_markup(message) == []


def test_usage_says_what_was_wrong():
    """The parser's complaint is shown after the echoed input."""
    text = all_text(usage("rollbak cart", "unknown command 'rollbak'"))
    assert "I couldn't read `rollbak cart` (unknown command 'rollbak')." in text


def test_replies_leave_the_response_type_to_the_caller():
    """Only ``text`` and ``blocks``: ``ack(response_type="ephemeral", **reply)`` cannot clash."""
    for reply in (usage("x"), unknown_service("x"), not_authorized("x"), plan_not_found("x")):
        assert set(reply) == {"text", "blocks"}


def test_usage_for_help_has_no_complaint():
    """``/rollback help`` (empty text) shows the commands without "I couldn't read"."""
    text = all_text(usage(""))
    assert "couldn't read" not in text and "`/rollback help`" in text


def test_not_authorized_gives_the_reason():
    """The refusal says why."""
    text = all_text(not_authorized("cartservice needs someone from team payments"))
    assert "🔒 You can't do that: cartservice needs someone from team payments" in text


def test_plan_not_found_names_the_id():
    """The missing id is echoed and the status command suggested."""
    text = all_text(plan_not_found("p-404"))
    assert "There is no plan `p-404`." in text and "`/rollback status`" in text


def test_internal_error_shows_the_reference():
    """The correlation id is shown so the admins can find the failure in the logs."""
    text = all_text(internal_error("req-8f2a"))
    assert "`req-8f2a`" in text and "Traceback" not in text


@pytest.mark.parametrize(
    "message",
    [
        unknown_service(HUGE, suggestions=[HOSTILE] * 10),
        usage(HUGE),
        not_authorized(HUGE),
        plan_not_found(HUGE),
        internal_error(HUGE),
    ],
    ids=["unknown_service", "usage", "not_authorized", "plan_not_found", "internal_error"],
)
def test_hostile_input_is_inert_and_within_limits(message):
    """Whatever the user typed, the reply is valid and mentions nobody."""
    assert validate(message) == []
    assert live_markup(message) == []


# -- the handlers' one-line answers ---------------------------------------------------------------


def test_approval_says_what_was_approved_queued_waiting_and_refused():
    """One line reports each part of an approve click, escaping the refusal reasons."""
    result = Approval(
        approved=("s1", "s2"), queued=("s1",), waiting=("s2",), refused=("<!here> not yours",)
    )
    assert approval(result) == (
        "👍 You approved 2 step(s): `s1`, `s2`. Running now: `s1`. "
        "Waiting for another approver: `s2`. Not approved: &lt;!here&gt; not yours."
    )


def test_an_empty_approval_says_nothing_is_left():
    """A click on a plan with nothing pending says so."""
    assert approval(Approval()) == "Nothing is left to approve in this plan."


def test_working_names_the_target_escaped():
    """The immediate ``ack`` line names what is being worked on, inert."""
    assert working("plan", "<!channel>") == ("⏳ Drafting a rollback plan for `&lt;!channel&gt;`…")
    assert working("status", None) == "⏳ Looking up the latest plan…"
    assert working("dance", "x") == "⏳ Working on it…"


def test_aborted_names_the_plan():
    """The abort answer names the plan as code."""
    assert aborted("p1").startswith("🛑 Plan `p1` aborted")


def test_history_lists_changes_and_plans_escaped():
    """Recent changes with versions, actor and summary; then plans with their top suspect."""
    change = Change(
        id="chg-7",
        service="cartservice",
        kind=ChangeKind.DEPLOY,
        at=T0 - timedelta(minutes=6),
        from_version="v1.4.2",
        to_version="v1.5.0",
        actor="alice",
        summary=HOSTILE,
    )
    stored = StoredPlan(
        id="p1",
        plan=shop_plan(),
        kind=PlanKind.LIVE,
        mode=Mode.APPROVE,
        status=PlanStatus.DONE,
        version=3,
        created_at=T0,
        updated_at=T0,
        steps=(),
    )
    text = history("cartservice", [change], [stored])
    assert "• 2026-11-27 09:54 UTC `chg-7` deploy `v1.4.2` → `v1.5.0` by alice: " in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "• 2026-11-27 10:00 UTC `p1` *done*, incident" in text
    assert "top suspect `chg-7`" in text


def test_history_of_a_quiet_service_says_so():
    """No changes and no plans are both stated."""
    text = history("ads", [], [])
    assert "none recorded" in text and "*Plans that touched it:* none" in text
