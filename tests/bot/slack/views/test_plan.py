"""The plan message: content, buttons by mode and state, Slack's limits, and hostile text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest

from bot.core.simulation import SimulatedStep
from bot.slack.views import PlanView, StepState, plan_message, progress_reply, simulation_message
from integrations.base import Preview
from planners.model import Plan
from tests.support.views import (
    HOSTILE,
    HUGE,
    abstained_plan,
    action_ids,
    all_text,
    button,
    live_markup,
    shop_plan,
    validate,
    wide_plan,
)

APPROVE_BUTTONS = {"backout_approve_stage", "backout_approve_plan"}


def view(
    plan: Plan | None = None,
    *,
    status: str = "proposed",
    mode: str = "approve",
    steps: Mapping[str, StepState] | None = None,
) -> PlanView:
    return PlanView(
        plan_id="p1",
        plan=plan or shop_plan(),
        plan_status=status,
        mode=mode,
        steps=steps or {},
    )


def sections(message: Mapping[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]


class TestContent:
    def test_a_planned_incident_renders_as_a_valid_message(self):
        """A real plan becomes a message Slack accepts, with a header naming the services."""
        message = plan_message(view())
        assert validate(message) == []
        header = message["blocks"][0]
        assert header["type"] == "header"
        assert header["text"]["text"] == "Rollback plan for frontend"
        assert "chg-7" in message["text"] and "4 step(s)" in message["text"]

    def test_the_most_likely_cause_comes_with_its_evidence(self):
        """The top suspect leads, with its reasons as bullets, then the other suspects."""
        plan = shop_plan()
        text = all_text(plan_message(view(plan)))
        top = plan.suspects[0]
        assert f"*Most likely cause:* deploy of *cartservice* (`{top.change_id}`)" in text
        for reason in top.reasons:
            assert f"• {reason}" in text
        assert "*Also suspected:*" in text and "`chg-8`" in text

    def test_impacted_services_are_listed(self):
        """The impacted services appear in their own line."""
        assert "*Impacted:* frontend" in all_text(plan_message(view()))

    def test_steps_appear_by_stage_in_order(self):
        """Stages come contain, partial, full, each step numbered with its service and version."""
        text = all_text(plan_message(view()))
        positions = [text.index(f"· {stage}*") for stage in ("contain", "partial", "full")]
        assert positions == sorted(positions)
        assert "*2.* Roll back *cartservice* to `v1.4.2` · `s2`" in text
        assert "*1.* Turn off flag `new-checkout` on *frontend*" in text

    def test_each_step_shows_risk_approvals_and_status(self):
        """A step line says its risk, approvals given of needed, duration and status."""
        plan = shop_plan()
        critical = next(s for s in plan.steps if s.approvals_required == 2)
        steps = {critical.id: StepState(approvers=frozenset({"U1"}))}
        text = all_text(plan_message(view(plan, steps=steps)))
        assert re.search(r"medium risk · 1/2 approvals · ~1 min 30 s · ⏳ pending", text)
        assert "0/1 approvals" in text

    @pytest.mark.parametrize(
        ("status", "shown"),
        [
            ("pending", "⏳ pending"),
            ("queued", "🕒 queued"),
            ("running", "🔄 running"),
            ("done", "✅ done"),
            ("failed", "❌ failed: executor timed out"),
            ("skipped", "⏭️ skipped: skip requested"),
            ("not_needed", "💤 not needed: executor timed out"),
            ("aborted", "🛑 aborted: executor timed out"),
        ],
    )
    def test_step_status_is_shown_with_its_emoji(self, status, shown):
        """Each status has its emoji; failed, skipped, not needed and aborted say why."""
        reason = "skip requested" if status == "skipped" else "executor timed out"
        steps = {"s2": StepState(status=status, reason=reason)}
        assert f"~1 min 30 s · {shown}" in all_text(plan_message(view(steps=steps)))

    def test_manual_and_irreversible_steps_carry_a_warning(self):
        """An irreversible migration becomes a by-hand step with a warning, flagged up front."""
        text = all_text(plan_message(view()))
        assert "✋ By hand: undo `mig-1` on *orders-db*" in text
        assert "⚠️ irreversible migration (bump cart cache TTL)" in text
        assert "⚠️ *1 step(s) need a human*" in text

    def test_parallel_steps_and_the_critical_path_are_reported(self):
        """What may run at the same time and the longest chain are in the context."""
        text = all_text(plan_message(view(wide_plan(5))))
        assert "⇉ May run in parallel: 2 & 3 & 4 & 5" in text
        assert "⏱️ Critical path ~3 min: steps 1 → 2" in text

    def test_a_chain_of_steps_has_no_parallel_line(self):
        """When every step waits for the one before, the critical path is the whole chain."""
        text = all_text(plan_message(view()))
        assert "May run in parallel" not in text
        assert "⏱️ Critical path ~13 min 15 s: steps 1 → 2 → 3 → 4" in text

    def test_the_drafting_source_is_named(self):
        """A context line says the graph drafted the plan."""
        assert "🤖 Drafted by graph at 10:03 UTC" in all_text(plan_message(view()))

    def test_an_llm_explanation_is_shown_escaped(self):
        """When an LLM explained the plan, its words are shown, escaped, with the model named."""
        plan = shop_plan().model_copy(
            update={"drafted_by": "graph+llm:qwen", "explanation": "**Roll back** <!here> now"}
        )
        text = all_text(plan_message(view(plan)))
        assert "_(drafted by graph+llm:qwen)_" in text
        assert "*Roll back* &lt;!here&gt; now" in text

    def test_a_refined_plan_says_what_the_model_changed_and_what_the_graph_rejected(self):
        """A plan the model refined: what was applied and each rejection with the graph's
        reason, counted, escaped and cut; the refinement's notes are not repeated among the
        plan's own, and the planner's prose is not passed off as the model's."""
        refinement = (
            f"applied the model's proposal: drop s3: {HUGE}",
            "rejected the model's proposal: s2 before s1: s2 is in stage full, s1 in partial",
        )
        base = shop_plan()
        plan = base.model_copy(
            update={"drafted_by": "graph+llm:qwen", "notes": (*refinement, *base.notes)}
        )
        message = plan_message(view(plan))
        text = all_text(message)
        assert "*Refined by the model `qwen`* · checked by the graph: 1 of 2 proposal(s)" in text
        assert "applied: drop s3: " in text
        assert "rejected by the graph: s2 before s1: s2 is in stage full, s1 in partial" in text
        assert "x" * 300 not in text  # the model's reason is cut
        assert live_markup(message) == []
        assert validate(message) == []
        assert text.count("s2 is in stage full") == 1
        assert "names unknown service 'no-such-service'" in text  # the plan's own notes stay
        assert "In plain words" not in text

    def test_notes_are_shown(self):
        """The planner's notes (an alert naming an unknown service) appear in a context line."""
        assert "names unknown service 'no-such-service'" in all_text(plan_message(view()))


class TestButtons:
    def test_a_new_plan_offers_approve_simulate_and_reject(self):
        """Approve the first stage, approve all, simulate, reject: with the documented values."""
        message = plan_message(view())
        assert action_ids(message) == [
            "backout_approve_stage",
            "backout_approve_plan",
            "backout_simulate",
            "backout_reject",
        ]
        stage = button(message, "backout_approve_stage")
        assert stage["value"] == "p1:contain" and stage["text"]["text"] == "Approve stage contain"
        assert button(message, "backout_approve_plan")["value"] == "p1"
        assert button(message, "backout_simulate")["value"] == "p1"
        reject = button(message, "backout_reject")
        assert reject["value"] == "p1" and reject["style"] == "danger"
        assert reject["confirm"]["confirm"]["text"] == "Reject"

    def test_approve_stage_moves_to_the_next_stage_with_pending_steps(self):
        """Once contain is done, the stage button approves partial."""
        steps = {"s1": StepState(status="done")}
        message = plan_message(view(status="waiting", steps=steps))
        assert button(message, "backout_approve_stage")["value"] == "p1:partial"

    def test_a_started_plan_offers_abort_instead_of_reject(self):
        """After a step ran, the danger button aborts (with a confirmation)."""
        message = plan_message(view(status="running", steps={"s1": StepState(status="running")}))
        assert "backout_reject" not in action_ids(message)
        abort = button(message, "backout_abort")
        assert abort["value"] == "p1" and "confirm" in abort

    def test_suggest_mode_has_no_approve_buttons(self):
        """Learning mode posts the plan for review: simulate only, and a line explaining why."""
        message = plan_message(view(mode="suggest"))
        assert not APPROVE_BUTTONS & set(action_ids(message))
        assert "backout_simulate" in action_ids(message)
        assert "Learning mode (`suggest`)" in all_text(message)

    def test_an_unknown_mode_has_no_approve_buttons(self):
        """A mode Backout does not know is treated as learning mode, and says so."""
        message = plan_message(view(mode="yolo"))
        assert not APPROVE_BUTTONS & set(action_ids(message))
        assert "Mode yolo is not known" in all_text(message)

    def test_autopilot_explains_itself_and_offers_later_stages(self):
        """In autopilot, contain runs at once; the next pending stage can be approved."""
        steps = {"s1": StepState(status="done")}
        message = plan_message(view(mode="autopilot", status="waiting", steps=steps))
        assert "Autopilot" in all_text(message)
        assert button(message, "backout_approve_stage")["value"] == "p1:partial"

    def test_an_abstained_plan_says_why_and_has_no_buttons(self):
        """No rollback proposed: the reasons are shown and nothing can be clicked."""
        message = plan_message(view(abstained_plan()))
        assert validate(message) == []
        assert action_ids(message) == []
        text = all_text(message)
        assert "*No rollback proposed.*" in text and "no change in the window" in text
        assert "proposes no rollback" in message["text"]

    def test_a_failed_step_offers_retry_skip_and_abort(self):
        """A failure shows the reason, Retry and Skip for that step, and Abort; approval waits."""
        steps = {"s1": StepState(status="done"), "s2": StepState(status="failed", reason="boom")}
        message = plan_message(view(status="halted", steps=steps))
        assert validate(message) == []
        assert button(message, "backout_retry")["value"] == "p1:s2"
        assert button(message, "backout_skip")["value"] == "p1:s2"
        assert button(message, "backout_skip")["text"]["text"] == "Skip step 2"
        assert button(message, "backout_abort")["value"] == "p1"
        assert not APPROVE_BUTTONS & set(action_ids(message))
        assert "❌ *Step 2 failed* (Roll back *cartservice* to `v1.4.2`): boom" in all_text(message)

    def test_several_failed_steps_each_get_their_own_buttons(self):
        """Each failed step has its own actions block, so action ids stay unique per block."""
        steps = {sid: StepState(status="failed", reason="x") for sid in ("s1", "s2", "s3")}
        message = plan_message(view(status="halted", steps=steps))
        assert validate(message) == []
        retries = [b["value"] for b in _all_buttons(message) if b["action_id"] == "backout_retry"]
        assert retries == ["p1:s1", "p1:s2", "p1:s3"]

    def test_a_step_id_that_cannot_round_trip_gets_no_buttons(self):
        """A value Slack could not send back unchanged is left out, never sent altered."""
        plan = shop_plan()
        odd = plan.steps[1].model_copy(update={"id": "s2\ud800"})
        plan = plan.model_copy(update={"steps": (plan.steps[0], odd, *plan.steps[2:])})
        steps = {odd.id: StepState(status="failed", reason="boom")}
        message = plan_message(view(plan, status="halted", steps=steps))
        assert validate(message) == []
        assert "backout_retry" not in action_ids(message)
        assert "backout_abort" in action_ids(message)

    @pytest.mark.parametrize("status", ["done", "aborted", "rejected"])
    def test_a_finished_plan_has_no_buttons(self, status):
        """A done, aborted or rejected plan offers nothing to click, and says it is finished."""
        steps = {"s1": StepState(status="failed", reason="x")}
        message = plan_message(view(status=status, steps=steps))
        assert action_ids(message) == []
        assert f"This plan is {status}" in all_text(message)


def _all_buttons(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


class TestLimits:
    def test_a_300_step_plan_stays_within_slacks_limits(self):
        """A huge plan is collapsed into a summary line and still a valid message."""
        message = plan_message(view(wide_plan(300)))
        assert validate(message) == []
        assert re.search(
            r"… and \d+ more step\(s\) \(see `/rollback status p1`\)", all_text(message)
        )
        assert button(message, "backout_approve_stage")["value"] == "p1:partial"

    def test_a_late_failure_in_a_huge_plan_is_shown_with_its_buttons(self):
        """The failed step is shown in full even when most steps are collapsed."""
        plan = wide_plan(300)
        failed = plan.steps[287]
        steps = {failed.id: StepState(status="failed", reason="image pull backoff")}
        message = plan_message(view(plan, status="halted", steps=steps))
        assert validate(message) == []
        assert f"*288.* Roll back *{failed.service}*" in all_text(message)
        assert button(message, "backout_retry")["value"] == f"p1:{failed.id}"

    def test_huge_untrusted_text_is_cut_to_fit(self):
        """10,000-character summaries, names and reasons are truncated, never rejected."""
        plan = shop_plan(summary=HUGE, alert_name=HUGE, version=HUGE, flag=HUGE)
        steps = {s.id: StepState(status="failed", reason=HUGE) for s in plan.steps}
        message = plan_message(view(plan, status="halted", steps=steps))
        assert validate(message) == []
        assert "…" in all_text(message)


class TestHostileText:
    @pytest.mark.parametrize("field", ["summary", "alert_name", "version", "change_id", "flag"])
    def test_hostile_text_in_the_plan_is_inert(self, field):
        """Mentions, links and broadcasts in planner input show as text and do nothing."""
        plan = shop_plan(**{field: HOSTILE})
        message = plan_message(view(plan))
        assert validate(message) == []
        assert live_markup(message) == []
        assert "&lt;!channel&gt;" in all_text(message)

    def test_a_hostile_service_name_is_inert(self):
        """A service named like markup stays text in the header, steps and fallback."""
        plan = shop_plan(service=HOSTILE)
        message = plan_message(view(plan))
        assert validate(message) == []
        assert live_markup(message) == []
        assert "&lt;https://evil.example|click&gt;" in all_text(message)

    def test_hostile_step_state_is_inert(self):
        """An executor's error message and odd approver ids cannot mention anyone."""
        steps = {"s2": StepState(status="failed", reason=HUGE, approvers=frozenset({HOSTILE}))}
        message = plan_message(view(status=HOSTILE, steps=steps))
        assert validate(message) == []
        assert live_markup(message) == []


class TestReplies:
    def test_progress_reply_reports_a_step_change(self):
        """A threaded reply names the step, what it does and its new status with the reason."""
        plan = shop_plan()
        reply = progress_reply(
            "s2", step=plan.steps[1], state=StepState(status="failed", reason="<!here> x")
        )
        assert validate(reply) == []
        assert reply["text"] == (
            "❌ Step `s2`: Roll back *cartservice* to `v1.4.2` · failed: &lt;!here&gt; x"
        )
        assert live_markup(reply) == []

    def test_simulation_lists_previews_and_blockers(self):
        """Each step shows its preview or why it cannot be previewed, then the totals."""
        plan = shop_plan()
        results = [
            (plan.steps[0], "would turn off new-checkout", ""),
            (plan.steps[3], None, "manual step: by hand <!channel>"),
        ]
        message = simulation_message("p1", results=results)
        assert validate(message) == []
        text = all_text(message)
        assert "`s1` [contain] Turn off flag `new-checkout` on *frontend*: would turn off" in text
        assert "🚫 cannot preview: manual step: by hand &lt;!channel&gt;" in text
        assert "1 step(s) previewed, 1 cannot run as configured" in text
        assert live_markup(message) == []

    def test_simulation_takes_the_engines_records(self):
        """The engine's ``SimulatedStep`` records render too, with the preview's changes."""
        plan = shop_plan()
        results = [
            SimulatedStep(
                step=plan.steps[1],
                preview=Preview(
                    summary="set image v1.4.2", changes=("cartservice: v1.5.0 → v1.4.2",)
                ),
            ),
            SimulatedStep(
                step=plan.steps[2], preview=Preview(summary="set image v2.0.0", already_done=True)
            ),
            SimulatedStep(step=plan.steps[3], preview=None, problem="manual step: by hand"),
        ]
        message = simulation_message("p1", results)
        assert validate(message) == []
        text = all_text(message)
        assert ": set image v1.4.2: cartservice: v1.5.0 → v1.4.2" in text
        assert "set image v2.0.0 (already done)" in text
        assert "2 step(s) previewed, 1 cannot run as configured" in text

    def test_a_long_simulation_stays_within_limits(self):
        """300 previews with long summaries collapse into a count, still valid."""
        plan = wide_plan(300)
        message = simulation_message("p1", results=[(s, HUGE, "") for s in plan.steps])
        assert validate(message) == []
        assert re.search(r"… and \d+ more step\(s\)", all_text(message))
        assert "300 step(s) previewed, 0 cannot run" in all_text(message)

    def test_an_empty_simulation_says_there_is_nothing_to_do(self):
        """A plan without steps simulates to a clear message."""
        message = simulation_message("p1", results=[])
        assert validate(message) == []
        assert "nothing to simulate" in all_text(message)
