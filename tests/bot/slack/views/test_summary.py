"""The post-incident summary: timeline, what ran, how long, who approved, and feedback."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

from bot.slack.views import PlanView, StepState, incident_summary
from planners.model import Plan
from tests.support.views import (
    HOSTILE,
    HUGE,
    T0,
    abstained_plan,
    action_ids,
    all_text,
    button,
    live_markup,
    shop_plan,
    validate,
)


def finished(
    plan: Plan | None = None,
    *,
    steps: Mapping[str, StepState] | None = None,
    status: str = "done",
) -> PlanView:
    plan = plan or shop_plan()
    default = {
        "s1": StepState(status="done", approvers=frozenset({"U0AAA111"})),
        "s2": StepState(status="done", approvers=frozenset({"U0BBB222"})),
        "s3": StepState(status="not_needed", reason="healthy after stage partial"),
        "s4": StepState(status="not_needed", reason="healthy after stage partial"),
    }
    return PlanView(
        plan_id="p1", plan=plan, plan_status=status, mode="approve", steps=steps or default
    )


TIMELINE = [
    (T0 + timedelta(minutes=12), "slack:alertmanager", "incident.resolved"),
    (T0 + timedelta(minutes=9), "engine-1", "step.done s2"),
    (T0 + timedelta(minutes=4), "U0AAA111", "step.approved s1"),
    (T0 + timedelta(minutes=3), "backout", "plan.proposed"),
]


def test_the_summary_is_a_valid_message_with_outcome_and_duration():
    """The outcome counts each status; time to mitigate runs from the first alert to the last
    step verified healthy, time to resolve to the alerts' resolution (issue 10, defect 3)."""
    message = incident_summary(finished(), timeline=TIMELINE)
    assert validate(message) == []
    text = all_text(message)
    assert message["blocks"][0]["text"]["text"] == "Post-incident summary: frontend"
    assert "*Outcome:* plan `p1` is *done*; ✅ 2 done, 💤 2 not needed" in text
    assert "*Time to mitigate:* 9 min (first alert 10:00:00 → healthy 10:09:00 UTC)" in text
    assert "*Time to resolve:* 12 min (first alert 10:00:00 → resolved 10:12:00 UTC)" in text


def test_mitigation_and_resolution_that_did_not_happen_are_said_plainly():
    """A failed step mitigated nothing; without the resolution the time to resolve is unknown."""
    steps = {
        "s1": StepState(status="failed", reason="boom"),
        "s2": StepState(status="pending"),
        "s3": StepState(status="pending"),
        "s4": StepState(status="pending"),
    }
    text = all_text(incident_summary(finished(steps=steps, status="halted"), timeline=TIMELINE[2:]))
    assert "*Time to mitigate:* unknown (a step failed" in text
    assert "*Time to resolve:* unknown (the alerts have not resolved)" in text


def test_the_timeline_is_in_time_order():
    """Audit entries are shown oldest first, whatever order they came in."""
    text = all_text(incident_summary(finished(), timeline=TIMELINE))
    assert re.search(
        r"`10:03:00` backout: plan\.proposed\n`10:04:00` U0AAA111: .*\n`10:09:00`", text
    )


def test_what_ran_lists_the_steps_that_left_pending():
    """Steps that ran or were settled are listed with their status; pending ones are not."""
    steps = {"s1": StepState(status="done"), "s2": StepState(status="failed", reason="boom")}
    text = all_text(incident_summary(finished(steps=steps, status="aborted"), timeline=[]))
    assert "✅ *1.* Turn off flag `new-checkout` on *frontend* · done" in text
    assert "❌ *2.* Roll back *cartservice* to `v1.4.2` · failed: boom" in text
    assert "*3.*" not in text


def test_approvers_are_mentioned_only_when_they_are_slack_user_ids():
    """Valid user ids become mentions; anything else is shown escaped."""
    steps = {
        "s1": StepState(status="done", approvers=frozenset({"U0AAA111", "<!channel>"})),
    }
    text = all_text(incident_summary(finished(steps=steps), timeline=[]))
    assert "<@U0AAA111>" in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text


def test_nobody_approved_is_said_plainly():
    """With no approvals, the summary says nobody approved."""
    steps = {"s1": StepState(status="not_needed")}
    text = all_text(incident_summary(finished(steps=steps), timeline=[]))
    assert "*Approved by:* nobody" in text and "*Timeline:* no audit entries" in text


def test_feedback_asks_whether_the_suspect_was_right():
    """Two buttons answer "was the suspect right?", each carrying the plan id."""
    message = incident_summary(finished(), timeline=TIMELINE)
    assert action_ids(message) == ["backout_feedback_right", "backout_feedback_wrong"]
    assert button(message, "backout_feedback_right")["value"] == "p1"
    assert button(message, "backout_feedback_wrong")["value"] == "p1"
    assert "*Was the suspect right?* Backout blamed the deploy of *cartservice* (`chg-7`)" in (
        all_text(message)
    )


def test_an_abstained_plan_asks_whether_abstaining_was_right():
    """Without a suspect, the feedback question is about proposing no rollback."""
    view = PlanView(plan_id="p1", plan=abstained_plan(), plan_status="proposed", mode="approve")
    message = incident_summary(view, timeline=[])
    assert validate(message) == []
    assert "It proposed no rollback" in all_text(message)
    assert action_ids(message) == ["backout_feedback_right", "backout_feedback_wrong"]


def test_a_long_timeline_keeps_its_ends_and_fits():
    """500 audit entries show the first and last fifteen and a count of the rest."""
    timeline = [(T0 + timedelta(seconds=i), "engine-1", f"event {i}") for i in range(500)]
    message = incident_summary(finished(), timeline=timeline)
    assert validate(message) == []
    text = all_text(message)
    assert "event 0\n" in text and "event 499" in text and "event 250" not in text
    assert "… 470 more event(s)" in text


def test_hostile_timeline_and_plan_text_is_inert():
    """Untrusted actors, audit text and plan fields cannot mention or link anything."""
    plan = shop_plan(service=HOSTILE, summary=HUGE, alert_name=HOSTILE)
    timeline = [(T0, HOSTILE, HUGE), (T0 + timedelta(minutes=1), HUGE, HOSTILE)]
    steps = {s.id: StepState(status="failed", reason=HUGE) for s in plan.steps}
    message = incident_summary(finished(plan, steps=steps, status=HOSTILE), timeline=timeline)
    assert validate(message) == []
    assert live_markup(message) == []
