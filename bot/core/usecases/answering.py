"""Questions asked of the bot in an incident thread, answered in the thread (issue 9 item 5).

A responder mentions the bot in the thread of a posted plan ("why not cartservice?", "what if we
only roll back the flag?"). :meth:`Answering.soon` takes the question off the request, onto the
explanations' pool (a slow model holds only that pool). :meth:`Answering.answer` reads the
thread's newest plan and the inputs it was drafted from, the thread's last few turns, and asks
the pure glue (:func:`planners.questions.answer_question`): read-only planner lookups, the
model's answer checked by the graph, or the findings in the planner's words when there is no
model or no usable answer. The turn is remembered (the question redacted) and the answer posted
as a reply in the thread, once per question however often Slack delivers it (the outbox key
is the question's ``ts``). An answer carries no buttons, and nothing here approves, runs or
changes a plan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import prompts
from bot.core.ports import Clock, ThreadReplies
from bot.core.runner import ThreadRunner
from bot.store import Store, StoredPlan, ThreadTurn
from planners.llm import StructuredModel
from planners.lookups import Lookups
from planners.questions import CheckedAnswer, Turn, answer_question
from planners.refine import PlanningInputs

__all__ = ["Answering", "Question"]

log = logging.getLogger(__name__)

HISTORY = 4
"""Earlier turns of the thread given with a question."""


@dataclass(frozen=True, kw_only=True)
class Question:
    """A question asked in a thread: where, by whom, the message's ``ts``, and its text (the
    bot's mention taken out)."""

    channel: str
    thread_ts: str
    ts: str
    user: str
    text: str


@dataclass(frozen=True, kw_only=True)
class Answering:
    """Answers questions in incident threads, off the request.

    Args:
        store: plans, where they are posted, the threads' memory.
        notifier: posts the answer in the thread.
        runner: the pool answers wait on.
        inputs: what a stored plan was drafted from (for the lookups' re-plans).
        clock: the current time (when a turn is remembered).
        redactor: takes secrets out of a question before it is remembered.
        model: a fresh model for one question (its calls share one deadline); None answers
            from the graph alone.
    """

    store: Store
    notifier: ThreadReplies
    runner: ThreadRunner
    inputs: Callable[[StoredPlan], PlanningInputs]
    clock: Clock
    redactor: prompts.Redactor
    model: Callable[[], StructuredModel] | None = None

    def plan_for(self, channel: str, thread_ts: str) -> str | None:
        """The plan a question in this thread is about: the thread's newest, if any."""
        return self.store.conversations.plan_in_thread(channel, thread_ts)

    def soon(self, question: Question) -> None:
        """Answer ``question`` on the pool."""
        self.runner.submit(self.answer, question)

    def answer(self, question: Question) -> CheckedAnswer | None:
        """Answer ``question`` in its thread; None when the thread shows no plan.

        Never raises for what the model does.
        """
        plan_id = self.plan_for(question.channel, question.thread_ts)
        if plan_id is None:
            return None
        stored = self.store.plans.get(plan_id)
        lookups = Lookups(plan=stored.plan, inputs=self.inputs(stored))
        turns = self.store.threads.recent(question.channel, question.thread_ts, limit=HISTORY)
        checked = answer_question(
            question.text,
            lookups=lookups,
            model=self.model() if self.model is not None else None,
            history=[Turn(t.question, t.answer) for t in turns],
        )
        log.info(
            "question in %s/%s about plan %s: answered by the %s (%s)",
            question.channel,
            question.thread_ts,
            plan_id,
            checked.source,
            checked.outcome,
        )
        self.store.threads.record(
            question.channel,
            question.thread_ts,
            ThreadTurn(
                plan_id=plan_id,
                asked_by=question.user,
                question=self.redactor(question.text),
                answer=checked.text,
                source=checked.source,
                outcome=checked.outcome,
                model=checked.model,
                at=self.clock(),
            ),
        )
        self.notifier.post_answer(
            channel=question.channel,
            thread_ts=question.thread_ts,
            key=f"answer:{question.channel}:{question.ts}",
            answer=checked,
        )
        return checked
