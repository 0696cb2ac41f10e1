"""The handlers' short replies in ``bot.slack.messages``: approvals, commands and history."""

from __future__ import annotations

from datetime import timedelta

from bot.core.usecases import Approval
from bot.slack import messages
from bot.store.records import StoredPlan
from planners.model import Change, ChangeKind
from tests.bot.slack.views.helpers import HOSTILE, T0, shop_plan


def test_approval_says_what_was_approved_queued_waiting_and_refused():
    """One line reports each part of an approve click, escaping the refusal reasons."""
    result = Approval(
        approved=("s1", "s2"), queued=("s1",), waiting=("s2",), refused=("<!here> not yours",)
    )
    assert messages.approval(result) == (
        "👍 You approved 2 step(s): `s1`, `s2`. Running now: `s1`. "
        "Waiting for another approver: `s2`. Not approved: &lt;!here&gt; not yours."
    )


def test_an_empty_approval_says_nothing_is_left():
    """A click on a plan with nothing pending says so."""
    assert messages.approval(Approval()) == "Nothing is left to approve in this plan."


def test_working_names_the_target_escaped():
    """The immediate ``ack`` line names what is being worked on, inert."""
    assert messages.working("plan", "<!channel>") == (
        "⏳ Drafting a rollback plan for `&lt;!channel&gt;`…"
    )
    assert messages.working("status", None) == "⏳ Looking up the latest plan…"
    assert messages.working("dance", "x") == "⏳ Working on it…"


def test_aborted_names_the_plan():
    """The abort answer names the plan as code."""
    assert messages.aborted("p1").startswith("🛑 Plan `p1` aborted")


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
        mode="approve",
        status="done",
        version=3,
        created_at=T0,
        updated_at=T0,
        steps=(),
    )
    text = messages.history("cartservice", [change], [stored])
    assert "• 2026-11-27 09:54 UTC `chg-7` deploy `v1.4.2` → `v1.5.0` by alice: " in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "• 2026-11-27 10:00 UTC `p1` *done*, incident" in text
    assert "top suspect `chg-7`" in text


def test_history_of_a_quiet_service_says_so():
    """No changes and no plans are both stated."""
    text = messages.history("ads", [], [])
    assert "none recorded" in text and "*Plans that touched it:* none" in text
