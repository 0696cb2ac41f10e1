"""Showing things in Slack: the plan message (posted, then updated in place), threaded progress,
the graph picture, summaries; with an outbox so that nothing is lost when Slack is down.

Implements :class:`bot.core.usecases.Notifier` over the real ``slack_sdk`` client. The client
retries
429s (honouring ``Retry-After``), 5xx and connection errors itself; a call that still fails goes
to the store's outbox with an idempotency key and is retried later by :meth:`flush_outbox` (the
scheduler calls it), so a plan that cannot be posted now is posted when Slack recovers.

An incident's plan message stands for all its alerts: every drawing of a plan whose incident
groups several alerts says how many, how many joined after the plan was drafted and how many
resolved (the use case coalesces the refreshes while a storm goes on). A redrafted plan takes
over its predecessor's message (:meth:`bot.store.Incidents.hand_over`); if the predecessor's post
was still waiting in the outbox, the message is recorded as the redraft's once Slack takes it,
and updated at once to show the redraft.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.core.usecases.narrating import Narrating
from bot.lifecycle import StepStatus
from bot.slack.views import (
    PlanView,
    StepState,
    incident_summary,
    plan_message,
    progress_reply,
)
from bot.slack.views.answer import Answer, answer_reply
from bot.slack.views.explanation import explanation_view
from bot.slack.views.graph import GraphRenderError, plan_graph_dot, render_png
from bot.store import Store, StoredNarrative, StoredPlan
from bot.store.conversations import PlanMessage
from bot.store.filing import Tally

__all__ = ["SlackNotifier", "make_web_client"]

log = logging.getLogger(__name__)

_PENDING = "pending:"
"""The ``ts`` a plan message has until Slack has taken it (it may be waiting in the outbox)."""
_UPDATE = "update:"
"""Outbox keys of plan-message updates: ``update:<plan id>:<nonce>``."""
_RETRY_DELAYS = (5.0, 15.0, 60.0, 300.0)
_PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "msg_too_long",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "no_permission",
        "message_not_found",
    }
)
_ALERTS_GROUPED = "this incident groups {total:,} alerts"
_ALERTS_JOINED = "{joined:,} more joined after this plan was drafted"
_ALERTS_RESOLVED = "{resolved:,} resolved"
_ALERTS_ALL_RESOLVED = "all resolved"


def make_web_client(*, token: str, base_url: str | None, timeout: int = 10) -> WebClient:
    """The real Slack client, retrying rate limits, server errors and dropped connections."""
    client = WebClient(
        token=token,
        base_url=base_url or WebClient.BASE_URL,
        timeout=timeout,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )
    return client


class SlackNotifier:
    """Posts and updates plan messages for the use cases.

    Args:
        client: the Slack client (bot token).
        store: plans and the audit log.
        graphs: whether to render and upload a graph picture with each new plan.
        model: the configured model's name: plan messages then offer *Explain* and show its
            checked explanation once stored; None when no model is configured.
    """

    def __init__(
        self, *, client: WebClient, store: Store, graphs: bool = True, model: str | None = None
    ) -> None:
        self.client = client
        self.store = store
        self.conversations = store.conversations
        self.graphs = graphs
        self.model = model
        self.worker = f"outbox-{uuid.uuid4().hex[:8]}"
        self._update_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._flushes = 0
        self.narrating: Narrating | None = None
        """Writes the summaries' narratives (set by the runtime when a model is configured)."""

    # -- the Notifier port ------------------------------------------------------------------

    def post_plan(
        self, plan_id: str, *, channel: str, thread_ts: str | None, requester: str | None = None
    ) -> None:
        """Post the plan message (in a thread when ``thread_ts``) and, if possible, its graph."""
        stored = self.store.plans.get(plan_id)
        args: dict[str, Any] = {"channel": channel, **self._drawn(stored)}
        if thread_ts:
            args["thread_ts"] = thread_ts
        self.conversations.set_plan_message(
            plan_id,
            channel=channel,
            ts=f"{_PENDING}{plan_id}",
            thread_ts=thread_ts,
            requester=requester,
        )
        result = self._call("chat.postMessage", args, key=f"plan:{plan_id}")
        if result is not None:
            self._posted(plan_id, result)
            if self.graphs and stored.plan.steps:
                thread = thread_ts or str(result.get("ts"))
                self._upload_graph(stored, channel=channel, thread_ts=thread)

    def refresh_plan(self, plan_id: str) -> None:
        """Update the plan message in place to show approvals and progress."""
        message = self._posted_message(plan_id)
        if message is not None:
            stored = self.store.plans.get(plan_id)
            self._update(message, self._drawn(stored), plan_id=plan_id)

    def step_changed(self, plan_id: str, step_id: str) -> None:
        """A step moved: update the message, and say so in the thread when it finished."""
        self.show_step_changes(plan_id, [step_id])

    def show_step_changes(self, plan_id: str, step_ids: Sequence[str]) -> None:
        """Steps moved: update the message once, and say in the thread which finished
        (:class:`bot.slack.delivery.StepDeliveries` calls this off the engine's threads)."""
        message = self._posted_message(plan_id)
        if message is None:
            return
        stored = self.store.plans.get(plan_id)
        view = self.view(stored)
        self._update(message, self._drawn(stored, view), plan_id=plan_id)
        steps = {s.id: s for s in stored.plan.steps}
        for step_id in step_ids:
            state = view.steps[step_id]
            if state.status not in (StepStatus.DONE, StepStatus.FAILED, StepStatus.NOT_NEEDED):
                continue
            # Replies go into the parent's thread: the plan message is itself a reply when it
            # answers an alert, and Slack threads are one level deep (chat.postMessage, thread_ts).
            args = {
                "channel": message.channel,
                "thread_ts": message.thread_ts or message.ts,
                **progress_reply(step_id, step=steps[step_id], state=state),
            }
            key = f"progress:{plan_id}:{step_id}:{state.status}"
            self._call("chat.postMessage", args, key=key)

    def post_summary(self, plan_id: str) -> None:
        """The post-incident summary in the plan's thread: posted once, then updated in place;
        with the model's narrative when one is stored for its facts as they are, else asking
        for one (off this thread)."""
        narrating = self.narrating
        narrative = narrating.current(plan_id) if narrating is not None else None
        if self._draw_summary(plan_id, narrative) and narrating is not None and narrative is None:
            narrating.soon(plan_id)

    def _draw_summary(self, plan_id: str, narrative: StoredNarrative | None) -> bool:
        message = self.conversations.plan_message(plan_id)
        if message is None:
            return False
        stored = self.store.plans.get(plan_id)
        timeline = [
            (
                e.at,
                e.actor,
                e.action + (f" {e.subject.split('/', 1)[1]}" if "/" in e.subject else ""),
            )
            for e in self.store.audit.entries(subject_prefix=plan_id)
        ]
        drawn = incident_summary(self.view(stored), timeline=timeline, narrative=narrative)
        if message.summary_ts:
            with self._update_lock:
                args = {"channel": message.channel, "ts": message.summary_ts, **drawn}
                self._call("chat.update", args, key=None)
            return True
        thread = message.thread_ts or (None if message.ts.startswith(_PENDING) else message.ts)
        args = {"channel": message.channel, **drawn}
        if thread:
            args["thread_ts"] = thread
        result = self._call("chat.postMessage", args, key=f"summary:{plan_id}")
        if result is not None and result.get("ts"):
            self.conversations.set_summary_message(plan_id, ts=str(result["ts"]))
        return True

    def post_answer(self, *, channel: str, thread_ts: str, key: str, answer: Answer) -> None:
        """A question's answer as a reply in its thread (no buttons)."""
        args = {"channel": channel, "thread_ts": thread_ts, **answer_reply(answer)}
        self._call("chat.postMessage", args, key=key)

    def status_message(self, plan_id: str) -> dict[str, Any]:
        """The plan as it stands, for an ephemeral ``/rollback status`` answer."""
        return self._drawn(self.store.plans.get(plan_id))

    # -- helpers ----------------------------------------------------------------------------

    def view(self, stored: StoredPlan) -> PlanView:
        """What the views need to draw a stored plan (with a note on its incident's alerts
        when it groups several)."""
        approvals = self.store.approvals.of(stored.id)
        plan = stored.plan
        tally = self.store.incidents.tally(plan.incident.id)
        note = _alerts_note(tally) if tally is not None else None
        if note is not None:
            plan = plan.model_copy(update={"notes": (note, *plan.notes)})
        return PlanView(
            plan_id=stored.id,
            plan=plan,
            plan_status=stored.status,
            mode=stored.mode,
            kind=stored.kind,
            steps={
                r.step_id: StepState(
                    status=str(r.status),
                    reason=r.reason,
                    approvers=approvals.get(r.step_id, frozenset()),
                )
                for r in stored.steps
            },
        )

    @property
    def flushing(self) -> bool:
        """Whether an outbox flush is under way (a sent call's follow-up, such as showing a
        redraft in the message just posted, may still be coming)."""
        with self._flush_lock:
            return self._flushes > 0

    def flush_outbox(self, *, limit: int = 20) -> int:
        """Send what earlier calls could not; returns how many were sent."""
        with self._flush_lock:
            self._flushes += 1
        try:
            return self._flush(limit)
        finally:
            with self._flush_lock:
                self._flushes -= 1

    def _flush(self, limit: int) -> int:
        sent = 0
        for item in self.conversations.claim_due(worker=self.worker, limit=limit):
            args = dict(item.args)
            if item.key.startswith(_UPDATE):  # a plan message: shown as it is now, not then
                current = self._update_args(item.key.split(":")[1])
                if current is None:
                    self.conversations.mark_sent(item.id, result={"skipped": "no message"})
                    continue
                args = current
            try:
                response = self.client.api_call(item.method, json=args)
            except SlackApiError as exc:
                self._failed_again(item.id, item.attempts, exc.response.get("error", "error"))
                continue
            except (SlackClientError, OSError) as exc:
                self._failed_again(item.id, item.attempts, str(exc))
                continue
            result = dict(response.data) if isinstance(response.data, dict) else {}
            self.conversations.mark_sent(item.id, result=result)
            if item.key.startswith("plan:"):
                self._posted(item.key.split(":", 1)[1], result)
            elif item.key.startswith("summary:") and result.get("ts"):
                self.conversations.set_summary_message(
                    item.key.split(":", 1)[1], ts=str(result["ts"])
                )
            sent += 1
        return sent

    def _posted_message(self, plan_id: str) -> PlanMessage | None:
        """Where the plan's message is, once Slack has taken it (not while it waits to be sent)."""
        message = self.conversations.plan_message(plan_id)
        if message is None or message.ts.startswith(_PENDING):
            return None
        return message

    def _drawn(self, stored: StoredPlan, view: PlanView | None = None) -> dict[str, Any]:
        """The plan message for ``stored``: with its checked explanation once stored, and the
        *Explain* button when a model is configured."""
        kept = stored.explanation if self.model is not None else None
        explanation = explanation_view(kept) if kept is not None else None
        return plan_message(
            view or self.view(stored), explanation=explanation, explain=self.model is not None
        )

    def _update(self, message: PlanMessage, drawn: dict[str, Any], *, plan_id: str) -> None:
        """Update the plan message; a failed update is retried by the outbox like a failed post
        (under a fresh key: it re-renders the plan when it is sent, so it never shows a state
        older than the one that failed)."""
        with self._update_lock:
            args = {"channel": message.channel, "ts": message.ts, **drawn}
            key = f"{_UPDATE}{plan_id}:{uuid.uuid4().hex[:12]}"
            self._call("chat.update", args, key=key)

    def _update_args(self, plan_id: str) -> dict[str, Any] | None:
        """The ``chat.update`` arguments showing the plan as it is now (None: no message)."""
        message = self._posted_message(plan_id)
        if message is None:
            return None
        drawn = self._drawn(self.store.plans.get(plan_id))
        return {"channel": message.channel, "ts": message.ts, **drawn}

    def _call(
        self, method: str, args: Mapping[str, Any], *, key: str | None
    ) -> dict[str, Any] | None:
        """Call Slack; on failure keep the call in the outbox (when it has a key)."""
        try:
            response = self.client.api_call(method, json=dict(args))
        except SlackApiError as exc:
            error = str(exc.response.get("error", "error"))
            log.warning("slack %s failed: %s", method, error)
            if key is not None and error not in _PERMANENT_ERRORS:
                self.conversations.enqueue(method, args, key=key)
            return None
        except (SlackClientError, OSError) as exc:  # connection failures, timeouts
            # A timeout may hide a call that Slack did perform: the outbox may then post twice,
            # which is better than never. The key keeps it to one queued copy.
            log.warning("slack %s failed: %s", method, exc)
            if key is not None:
                self.conversations.enqueue(method, args, key=key)
            return None
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _posted(self, plan_id: str, result: Mapping[str, Any]) -> None:
        """Slack took the plan's message: remember its ``ts`` (for the plan's redraft, if one
        took the message over while the post waited, and show the redraft in it)."""
        message = self.conversations.plan_message(plan_id)
        channel = str(result.get("channel") or (message.channel if message else ""))
        ts = str(result.get("ts"))
        if message is None and channel:
            successor = self.conversations.plan_at(channel, f"{_PENDING}{plan_id}")
            if successor is not None:
                taken = self.conversations.plan_message(successor)
                self.conversations.set_plan_message(
                    successor,
                    channel=channel,
                    ts=ts,
                    thread_ts=taken.thread_ts if taken else None,
                    requester=taken.requester if taken else None,
                )
                self.refresh_plan(successor)
                return
        self.conversations.set_plan_message(
            plan_id,
            channel=channel,
            ts=ts,
            thread_ts=message.thread_ts if message else None,
            requester=message.requester if message else None,
        )

    def _failed_again(self, item_id: int, attempts: int, error: str) -> None:
        if error in _PERMANENT_ERRORS or attempts >= len(_RETRY_DELAYS):
            self.conversations.mark_failed(item_id, error=error)
        else:
            self.conversations.mark_retry(item_id, error=error, delay=_RETRY_DELAYS[attempts])

    def _upload_graph(self, stored: StoredPlan, *, channel: str, thread_ts: str) -> None:
        statuses = {r.step_id: str(r.status) for r in stored.steps}
        try:
            png = render_png(plan_graph_dot(stored.plan, statuses))
            self.client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                content=png,
                filename=f"{stored.id}.png",
                title=f"Rollback order for {stored.id}",
            )
        except GraphRenderError as exc:
            log.warning("no graph for %s: %s", stored.id, exc)
        except SlackClientError as exc:  # the picture is a nicety: the plan is already posted
            log.warning("graph upload for %s failed: %s", stored.id, exc)


def _alerts_note(tally: Tally) -> str | None:
    """The plan's note on its incident's alerts; None for an incident of one alert."""
    resolved = tally.total - tally.firing
    if tally.total <= 1 and not tally.joined:
        return None
    parts = [_ALERTS_GROUPED.format(total=tally.total)]
    if tally.joined:
        parts.append(_ALERTS_JOINED.format(joined=tally.joined))
    if resolved:
        parts.append(
            _ALERTS_ALL_RESOLVED if not tally.firing else _ALERTS_RESOLVED.format(resolved=resolved)
        )
    return "; ".join(parts)
