"""Every user-facing string of the Slack surface, in one place (bolt's ``logger/messages.py`` idea).

The views in :mod:`bot.slack.views` fill these templates with ``str.format``; whatever they put
in has already been escaped (:func:`bot.slack.views.escape.escape`). Each template is itself
valid mrkdwn: it may use ``*bold*``, `` `code` `` and ``_italic_``, and writes a literal angle
bracket as ``&lt;`` or ``&gt;``, so that no template can start a mention or a link. Keeping the
words here lets a reviewer read the whole tone of the bot in one file and keeps the views about
structure only. This module is a leaf: constants and templates, no functions; it imports only
:mod:`bot.lifecycle` (pure, itself importing nothing of ours), whose step statuses key
:data:`STATUS_EMOJI` and :data:`STATUS_WORDS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from bot.lifecycle import StepStatus

# -- shared -------------------------------------------------------------------------------------

EMPTY: Final = "–"
"""Shown where an untrusted value turned out empty once control characters were removed."""
ELLIPSIS: Final = "…"
LIST_SEPARATOR: Final = ", "
AND_MORE: Final = "and {count} more"

STATUS_EMOJI: Final[Mapping[StepStatus, str]] = {
    StepStatus.PENDING: "⏳",
    StepStatus.QUEUED: "🕒",
    StepStatus.RUNNING: "🔄",
    StepStatus.DONE: "✅",
    StepStatus.FAILED: "❌",
    StepStatus.SKIPPED: "⏭️",
    StepStatus.NOT_NEEDED: "💤",
    StepStatus.ABORTED: "🛑",
}
UNKNOWN_STATUS_EMOJI: Final = "❔"
STATUS_WORDS: Final[Mapping[StepStatus, str]] = {
    StepStatus.PENDING: "pending",
    StepStatus.QUEUED: "queued",
    StepStatus.RUNNING: "running",
    StepStatus.DONE: "done",
    StepStatus.FAILED: "failed",
    StepStatus.SKIPPED: "skipped",
    StepStatus.NOT_NEEDED: "not needed",
    StepStatus.ABORTED: "aborted",
}
STATUS_WITH_REASON: Final = "{status}: {reason}"

ACTION_WORDS: Final[dict[str, str]] = {
    "disable_flag": "Turn off flag {flag} on *{service}*",
    "revert_config": "Revert the config of *{service}*",
    "rollback_deploy": "Roll back *{service}*",
    "revert_migration": "Revert the migration on *{service}*",
    "manual": "✋ By hand: undo {change} on *{service}*",
}
STATUS_COMMAND: Final = "/rollback status {plan_id}"
UNKNOWN_ACTION: Final = "{action} on *{service}*"
TO_VERSION: Final = " to {version}"

STAGE_TITLE: Final = "*Stage {number} · {stage}* {description}"
STAGE_DESCRIPTIONS: Final[dict[str, str]] = {
    "contain": "_(flags and config first)_",
    "partial": "_(the top suspect and what is coupled to it)_",
    "full": "_(the remaining suspects, only if health has not recovered)_",
}
STAGE_COUNTS: Final = "{count} step(s): {statuses}"
STAGE_HIDDEN: Final = "_… {count} more step(s) in this stage_"

# -- the plan message ---------------------------------------------------------------------------

PLAN_HEADER: Final = "Rollback plan for {services}"
PLAN_HEADER_NO_SERVICE: Final = "Rollback plan for incident {incident}"
PLAN_STATUS_LINE: Final = (
    "Plan {plan_id} · status *{status}* · mode *{mode}* · incident {incident}, "
    "first alert {started}"
)
PLAN_STARTED_UNKNOWN: Final = "unknown"
PLAN_FALLBACK: Final = (
    "Rollback plan for {services}: {steps} step(s), most likely cause {change} on {service}. "
    "Status: {status}."
)
PLAN_FALLBACK_ABSTAINED: Final = "Backout proposes no rollback for {services}: {reason}"

ABSTAINED_TITLE: Final = "🤷 *No rollback proposed.*"
ABSTAINED_HINT: Final = (
    "_Look at the alerts and recent changes by hand, or widen the window "
    "(`/rollback plan &lt;service&gt; --window 4h`)._"
)

SUSPECT_TOP: Final = "*Most likely cause:* {kind} of *{service}* ({change}) at {at} · score {score}"
SUSPECT_CLOSEST: Final = (
    "*Closest candidate:* {kind} of *{service}* ({change}) at {at} · score {score}"
)
SUSPECT_OTHERS_TITLE: Final = "*Also suspected:*"
STANDBY_FOR: Final = "*Kept ready to undo:* {kind} of *{service}* ({change}) at {at}"
SUSPECT_OTHER: Final = "*{rank}.* {kind} of *{service}* ({change}) at {at} · score {score}"
SUSPECT_REASON: Final = "• {reason}"
SUSPECTS_MORE: Final = "_… {count} more suspect(s): {command} lists them._"
RULED_OUT: Final = "Ruled out {count} change(s), e.g. {change}: {why}"

IMPACTED: Final = "*Impacted:* {services}"
EXPLANATION_TITLE: Final = "*In plain words* _(drafted by {drafted_by})_"
EXPLANATION_BY_MODEL: Final = (
    "🤖 *Explained by the model {model}* · checked by the graph: {dropped} claims dropped"
)
EXPLANATION_BY_GRAPH: Final = (
    "🤖 *The graph's own explanation*: the model {model} was asked, and the graph dropped its "
    "answer (checked by the graph: {dropped} claims dropped)"
)
EXPLANATION_NOTE: Final = (
    "_Written by a language model and checked against the plan's evidence; it cannot approve "
    "or run anything. The steps above are the planner's._"
)
EXPLANATION_DROPPED: Final = "Dropped by the graph: {claims}"
ANSWER_BY_MODEL: Final = (
    "🤖 _Answered by the model {model} from the plan and the graph's lookups; checked by the "
    "graph. It cannot approve or run anything._"
)
ANSWER_BY_GRAPH: Final = "🤖 _The graph's own answer: {why}._"
ANSWER_CITES: Final = "Rests on {ids}."
NEEDS_A_HUMAN: Final = (
    "⚠️ *{count} step(s) need a human* (irreversible, or no automatic rollback): {steps}"
)

STEP_LINE: Final = "*{number}.* {action} · {step_id}"
STEP_DETAILS: Final = "{risk} risk · {approvals} · ~{duration} · {status}"
STEP_APPROVALS: Final = "{given}/{required} approvals"
STEP_NO_APPROVALS: Final = "no approval needed"
STEP_WHY: Final = "_why: {why}_"
STEP_AFTER: Final = "after {steps}"
STEP_WARNING: Final = "⚠️ {warning}"
STEP_INDENT: Final = "      "

PARALLEL: Final = "⇉ May run in parallel: {groups}"
PARALLEL_GROUP_JOIN: Final = " & "
PARALLEL_GROUP_SEPARATOR: Final = "; "
CRITICAL_PATH: Final = "⏱️ Critical path ~{duration}: steps {chain}"
CRITICAL_PATH_ARROW: Final = " → "
STEPS_COLLAPSED: Final = "… and {count} more step(s) (see {command})"
NOTES_TITLE: Final = "📝 {notes}"
NOTES_MORE: Final = "… {count} more note(s)"

DRAFTED_BY: Final = "🤖 Drafted by {drafted_by} at {at}"
MODE_SUGGEST: Final = (
    "🎓 Learning mode (`suggest`): Backout posts plans for review and never executes them. "
    "Simulate shows what each step would do."
)
MODE_AUTOPILOT: Final = (
    "🚀 Autopilot: the `contain` stage runs at once; later stages still need approval."
)
PLAN_STANDBY: Final = (
    "🧊 Standby plan, kept ready for this deploy: it can be simulated, not run as it is. "
    "If the deploy goes bad, the alert gets a live plan to approve, or ask for one now with "
    "`/rollback plan {service}`."
)
PLAN_HEADER_STANDBY: Final = "Standby rollback plan for {services}"
PLAN_STANDBY_STATUS_LINE: Final = (
    "Plan {plan_id} · ready for the deploy of {services} · nothing has fired"
)
STEP_APPROVALS_NEEDED: Final = "would need {required} approval(s)"
MODE_UNKNOWN: Final = "Mode {mode} is not known: nothing can be approved from this message."
PLAN_FINISHED: Final = "This plan is {status}: nothing more can be run from this message."

BUTTON_APPROVE_STAGE: Final = "Approve stage {stage}"
BUTTON_APPROVE_PLAN: Final = "Approve all"
BUTTON_SIMULATE: Final = "Simulate"
BUTTON_EXPLAIN: Final = "Explain"
BUTTON_REJECT: Final = "Reject"
BUTTON_ABORT: Final = "Abort"
BUTTON_RETRY: Final = "Retry step {number}"
BUTTON_SKIP: Final = "Skip step {number}"
FAILED_STEP: Final = "❌ *Step {number} failed* ({action}): {reason}"
FAILED_MORE: Final = "{count} more failed step(s): {command} shows them all."

CONFIRM_APPROVE_PLAN_TITLE: Final = "Approve every stage?"
CONFIRM_APPROVE_PLAN_TEXT: Final = (
    "Every step of this plan will run once it has its approvals, stage after stage, "
    "unless health recovers first."
)
CONFIRM_APPROVE_PLAN_YES: Final = "Approve all"
CONFIRM_REJECT_TITLE: Final = "Reject this plan?"
CONFIRM_REJECT_TEXT: Final = "Nobody will be able to run it. It stays in the history."
CONFIRM_REJECT_YES: Final = "Reject"
CONFIRM_ABORT_TITLE: Final = "Abort this plan?"
CONFIRM_ABORT_TEXT: Final = (
    "Steps that have not started will not run. Steps already running finish."
)
CONFIRM_ABORT_YES: Final = "Abort"
CONFIRM_SKIP_TITLE: Final = "Skip this step?"
CONFIRM_SKIP_TEXT: Final = "The plan goes on without step {number}; it will not be retried."
CONFIRM_SKIP_YES: Final = "Skip"
CONFIRM_NO: Final = "Cancel"

# -- progress and simulation --------------------------------------------------------------------

PROGRESS: Final = "{emoji} Step {step_id}: {action} · {status}"
SIMULATION_TITLE: Final = "🧪 *Dry run of plan {plan_id}*: nothing was changed."
SIMULATION_STEP: Final = "{step_id} [{stage}] {action}: {summary}"
SIMULATION_BLOCKED: Final = "{step_id} [{stage}] {action}: 🚫 cannot preview: {problem}"
SIMULATION_ALREADY_DONE: Final = " (already done)"
SIMULATION_CHANGES: Final = ": {changes}"
SIMULATION_TOTALS: Final = "{previewed} step(s) previewed, {blocked} cannot run as configured"
SIMULATION_EMPTY: Final = "The plan has no steps: there is nothing to simulate."
SIMULATION_MORE: Final = "… and {count} more step(s)"
SIMULATION_FALLBACK: Final = "Dry run of plan {plan_id}: {previewed} previewed, {blocked} blocked"

# -- the post-incident summary --------------------------------------------------------------------

SUMMARY_HEADER: Final = "Post-incident summary: {services}"
SUMMARY_OUTCOME: Final = "*Outcome:* plan {plan_id} is *{status}*; {counts}"
SUMMARY_MITIGATE: Final = "*Time to mitigate:* {duration} (first alert {start} → healthy {end} UTC)"
SUMMARY_MITIGATE_UNKNOWN: Final = "*Time to mitigate:* unknown ({why})"
SUMMARY_MITIGATE_NO_START: Final = "no first alert time"
SUMMARY_MITIGATE_NOTHING_RAN: Final = "no step of this plan ran"
SUMMARY_MITIGATE_FAILED: Final = "a step failed; health was not restored by this plan"
SUMMARY_RESOLVE: Final = "*Time to resolve:* {duration} (first alert {start} → resolved {end} UTC)"
SUMMARY_RESOLVE_UNKNOWN: Final = "*Time to resolve:* unknown ({why})"
SUMMARY_RESOLVE_OPEN: Final = "the alerts have not resolved"
SUMMARY_APPROVERS: Final = "*Approved by:* {approvers}"
SUMMARY_NO_APPROVERS: Final = "*Approved by:* nobody (nothing was approved)"
SUMMARY_RAN_TITLE: Final = "*What ran:*"
SUMMARY_RAN_NOTHING: Final = "*What ran:* nothing"
SUMMARY_RAN_STEP: Final = "{emoji} *{number}.* {action} · {status}"
SUMMARY_TIMELINE_TITLE: Final = "*Timeline (UTC):*"
SUMMARY_TIMELINE_ENTRY: Final = "`{at}` {actor}: {what}"
SUMMARY_TIMELINE_GAP: Final = "_… {count} more event(s)_"
SUMMARY_TIMELINE_EMPTY: Final = "*Timeline:* no audit entries"
SUMMARY_FEEDBACK_SUSPECT: Final = (
    "*Was the suspect right?* Backout blamed the {kind} of *{service}* ({change})."
)
SUMMARY_FEEDBACK_ABSTAINED: Final = (
    "*Was Backout right?* It proposed no rollback for this incident."
)
SUMMARY_FALLBACK: Final = "Post-incident summary for {services}: plan {status}, {counts}"
BUTTON_FEEDBACK_RIGHT: Final = "👍 Yes, it was right"
BUTTON_FEEDBACK_WRONG: Final = "👎 No, it was wrong"

# -- ephemeral errors -----------------------------------------------------------------------------

UNKNOWN_SERVICE: Final = "🤔 I don't know a service called {name}."
UNKNOWN_SERVICE_SUGGEST: Final = "Did you mean {suggestions}?"
UNKNOWN_SERVICE_HINT: Final = "Names must match the topology exactly; `/rollback help` shows usage."
USAGE_TITLE: Final = "I couldn't read {text}{problem}. Here is what I understand:"
USAGE_PROBLEM: Final = " ({problem})"
USAGE_EMPTY_TITLE: Final = "Here is what I understand:"
USAGE_COMMANDS: Final = (
    "• `/rollback plan &lt;service|incident&gt; [--window 2h] [--to VERSION]`: draft a plan now\n"
    "• `/rollback status [plan]`: where a plan is (the latest when none is named)\n"
    "• `/rollback simulate &lt;plan&gt;`: what each step would do, touching nothing\n"
    "• `/rollback abort &lt;plan&gt;`: stop a plan; running steps finish\n"
    "• `/rollback history &lt;service&gt;`: past plans for a service\n"
    "• `/rollback explain &lt;plan&gt;`: the model's explanation, checked by the graph\n"
    "• `/rollback help`: this message"
)
NOT_AUTHORIZED: Final = "🔒 You can't do that: {reason}"
PLAN_NOT_FOUND: Final = (
    "🔍 There is no plan {plan_id}. `/rollback status` shows the latest plans in this channel."
)
NOTHING_TO_SIMULATE: Final = (
    "🧪 Plan {plan_id} is finished: there is nothing left to simulate. "
    "`/rollback plan &lt;service&gt;` drafts a fresh one."
)
RATE_LIMITED_USER: Final = (
    "🐢 One person may ask for {count} {what} {period}, and you have used yours. "
    "Try again in {wait}."
)
RATE_LIMITED_CHANNEL: Final = (
    "🐢 One channel may ask for {count} {what} {period}, and this one has used its share. "
    "Try again in {wait}."
)
RATE_LIMITED_WHAT: Final[dict[str, str]] = {
    "plan": "plans",
    "simulate": "dry runs",
    "explain": "explanations",
    "ask": "questions",
}
RATE_LIMITED_OTHER: Final = "requests"
RATE_LIMITED_HINT: Final = (
    "Approving, rejecting and aborting are never limited, and alerts always get their plan."
)
PERIOD_MINUTE: Final = "a minute"
PERIOD_SECONDS: Final = "every {seconds} seconds"
WAIT_SECONDS: Final = "{seconds} s"
SIMULATIONS_BUSY: Final = (
    "🧪 Too many dry runs are under way or waiting, so plan {plan_id} was not simulated. "
    "Try again shortly."
)
SIMULATIONS_BUSY_HINT: Final = "An executor may be slow to answer: `backout doctor` checks them."
NO_MODEL: Final = (
    "🤖 No model is configured, so there is nothing more to explain: the plan message already "
    "shows the graph's own reasons (its suspects and their evidence)."
)
NO_MODEL_HINT: Final = "An admin can set `llm.model` in backout.yaml (see the README)."
EXPLAIN_FAILED: Final = (
    "🤖 The model gave no usable answer for plan {plan_id} ({outcome}): the plan stands as the "
    "graph drafted it, with its own reasons."
)
INTERNAL_ERROR: Final = (
    "💥 Something went wrong on our side. `/rollback status` shows what the plan did. "
    "If it happens again, give the Backout admins this reference: {ref}"
)

# -- short replies of the handlers (filled by :mod:`bot.slack.views.replies`) -----------------

NOT_AN_APPROVER: Final = (
    "only the plan's approvers can do this, and only while the plan is still open "
    "(`/rollback status` shows where it is)"
)
NOT_ALLOWED_ABORT: Final = (
    "🔒 You can't abort this plan: only its approvers can, and only before it has finished."
)
THANKS_FEEDBACK: Final = "🙏 Thanks: your answer goes into how Backout ranks suspects next time."
FEEDBACK_NOT_YOURS: Final = (
    "🙏 Thanks, but this question is for the incident's responders and approvers: "
    "their answers tune how Backout ranks suspects."
)
NO_PLANS: Final = (
    "No plan you can see yet: a plan shows to the people of the channel it is posted in and "
    "to its approvers. `/rollback plan &lt;service&gt;` drafts one."
)
READ_REFUSED: Final = (
    "🔒 Sorry, I can't {what} plan {plan_id} for you: a plan is for the people of the channel "
    "it is posted in and for those who may approve it, and you are neither. Ask someone in "
    "that channel, or one of its approvers."
)
READ_REFUSED_WHAT: Final[dict[str, str]] = {
    "status": "show",
    "simulate": "run a dry run of",
    "explain": "explain",
}
READ_REFUSED_HINT: Final = (
    "Plans from private incident channels stay there; approvers can read them anywhere."
)
NOT_IN_CHANNEL: Final = (
    "📝 Plan {plan_id} is drafted, but I am not a member of this channel, so it may not show "
    "up here: here it is, just for you."
)
NOT_IN_CHANNEL_INVITE: Final = (
    "To have plans posted (and kept up to date) in this channel, invite me: "
    "`/invite @backout`. Until then, `/rollback status` here shows it again."
)
WORKING: Final[dict[str, str]] = {
    "plan": "⏳ Drafting a rollback plan for {target}…",
    "status": "⏳ Looking up {target}…",
    "simulate": "🧪 Simulating plan {target}…",
    "abort": "🛑 Aborting plan {target}…",
    "history": "⏳ Looking up the history of {target}…",
    "explain": "🤖 Asking the model to explain plan {target}; the answer comes here when it "
    "arrives…",
    "replan": "⏳ Drafting a fresh plan for incident {target}…",
}
WORKING_OTHER: Final = "⏳ Working on it…"
WORKING_LATEST: Final = "the latest plan"
UNKNOWN_INCIDENT: Final = (
    "🤷 No incident {incident} is known here. `/rollback plan &lt;service&gt;` works too."
)
ABORTED: Final = "🛑 Plan {plan_id} aborted: steps that had not started will not run."
APPROVED: Final = "👍 You approved {count} step(s): {steps}."
APPROVED_QUEUED: Final = "Running now: {steps}."
APPROVED_WAITING: Final = "Waiting for another approver: {steps}."
APPROVED_REFUSED: Final = "Not approved: {reasons}."
APPROVED_NOTHING: Final = "Nothing is left to approve in this plan."
HISTORY_CHANGES: Final = "*Recent changes to {service}:*"
HISTORY_NO_CHANGES: Final = "*Recent changes to {service}:* none recorded"
HISTORY_CHANGE: Final = "• {at} {change} {kind}{versions}{actor}{summary}"
HISTORY_VERSIONS: Final = " {before} → {after}"
HISTORY_ACTOR: Final = " by {actor}"
HISTORY_SUMMARY: Final = ": {summary}"
HISTORY_PLANS: Final = "*Plans that touched it:*"
HISTORY_NO_PLANS: Final = "*Plans that touched it:* none"
HISTORY_PLAN: Final = "• {at} {plan_id} *{status}*, incident {incident}, top suspect {suspect}"
