"""The model's explanation of a posted plan, edited into its message when (if) it arrives
(issue 9 item 5).

A plan is posted from the planner at once; :meth:`Explaining.soon` then asks the configured
model on its own small pool (never on the request, the plan runner or the engine, so a model
that takes 30 s holds nothing else up). What the model answers goes through the pure planner
glue (:func:`planners.llm.explain_plan`): the guard checks every claim. When the model answered,
the checked explanation is stored with the plan (:meth:`bot.store.Plans.set_explanation`,
audited as ``plan.explained``) and the plan message is refreshed in place: the model's
explanation with "checked by the graph: N claims dropped", or, when the guard rejected it, the
graph's own saying so. A model that errors, times out or is skipped by its breaker leaves the
plan as posted (logged). Explaining never approves, runs or changes a plan: the plan, its steps
and its status stay as drafted.

A plan just posted (a new one, or a grouping redraft in its predecessor's message) goes through
:meth:`Explaining.posted` instead: it is explained first (what responders read, as soon as the
model answers), then, with the ``refine`` :class:`~bot.core.usecases.Planning` gives it, the
model is asked for refinements (:mod:`bot.core.usecases.refining`), queued behind the
explanations already waiting for the pool; a refined plan that takes the plan's place in its
message is explained in turn. Each plan has its own deadline, so a slow refinement never costs
the explanation its time. A plan retired before its turn on the pool is
not explained.

``/rollback explain`` and the *Explain* button take the same path (:meth:`Explaining.soon` with
a ``then``), after the Slack edge has checked that the requester may read the plan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

import prompts
from bot.core.ports import Notifier
from bot.core.runner import ThreadRunner
from bot.core.usecases.inputs import alerts_text
from bot.lifecycle import PlanStatus
from bot.store import Store, StoredExplanation
from planners.llm import ModelAnswer, StructuredModel, explain_plan

__all__ = ["Explained", "Explaining", "Refine"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

Refine = Callable[[str, StructuredModel], str]
"""Refine the posted plan with the model; returns the id of the plan shown now (its refinement,
when one took its place)."""

_WHOLE = "the explanation"
"""The claim recorded when the guard rejected the model's explanation as a whole."""


@dataclass(frozen=True, kw_only=True)
class Explained:
    """How one request to explain a plan ended.

    Attributes:
        plan_id: the plan.
        explanation: what was stored and shown; None when the model gave no usable answer
            (the plan stays as posted).
        outcome: ``ok``, ``guard_rejected`` (:data:`planners.llm.GUARD_REJECTED`) or the
            model call's failure outcome.
        detail: why there is no model explanation, when there is none.
    """

    plan_id: str
    explanation: StoredExplanation | None
    outcome: str
    detail: str = ""


class _Answered:
    """The model, noting whether any of its calls came back with an answer (then the guard, not
    the model, decided what is shown)."""

    def __init__(self, model: StructuredModel) -> None:
        self._model = model
        self.answered = False

    def structured(self, prompt: prompts.RenderedPrompt, schema: type[M]) -> ModelAnswer[M]:
        result = self._model.structured(prompt, schema)
        self.answered = self.answered or str(result.outcome) == "ok"
        return result


@dataclass(frozen=True, kw_only=True)
class Explaining:
    """Explains posted plans with the configured model, off the request.

    Args:
        store: plans (and where the explanation is stored), incidents (the alerts' text).
        notifier: refreshes the plan message once the explanation is stored.
        runner: the pool the model calls wait on (its own: a slow model holds only it).
        model: a fresh model for one plan (its calls share one deadline).
        model_name: the configured model, for the logs and the audit.
    """

    store: Store
    notifier: Notifier
    runner: ThreadRunner
    model: Callable[[], StructuredModel]
    model_name: str

    def soon(self, plan_id: str, *, then: Callable[[Explained], None] | None = None) -> None:
        """Explain the plan on the pool; ``then`` (if given) is called there with the result."""
        self.runner.submit(self._explain_then, plan_id, then)

    def posted(self, plan_id: str, *, refine: Refine | None = None) -> None:
        """On the pool: explain the plan just posted, then refine it (with ``refine``, if
        given) and explain the refined plan if it took the plan's place."""
        self.runner.submit(self._posted, plan_id, refine)

    def explain(self, plan_id: str) -> Explained:
        """Ask the model about the plan, store what the graph accepts and refresh the message.

        Never raises for what the model does.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        return self._explain(plan_id, self.model())

    def _posted(self, plan_id: str, refine: Refine | None) -> None:
        if self.store.plans.get(plan_id).status == PlanStatus.EXPIRED:
            log.info("plan %s was retired before the model was asked: not explained", plan_id)
            return
        self._explain(plan_id, self.model())  # what responders read first, as soon as it can
        if refine is not None:  # behind the explanations already waiting for the pool
            self.runner.submit(self._refine, plan_id, refine)

    def _refine(self, plan_id: str, refine: Refine) -> None:
        shown = refine(plan_id, self.model())
        if shown != plan_id:  # the refined plan took the message: explain it in turn
            self._explain(shown, self.model())

    def _explain(self, plan_id: str, asked: StructuredModel) -> Explained:
        stored = self.store.plans.get(plan_id)
        model = _Answered(asked)
        alerts = alerts_text(self.store, stored.plan.incident.id)
        checked = explain_plan(stored.plan, model, alerts=alerts)
        if checked.source != "model" and not model.answered:
            log.warning(
                "plan %s: no explanation from %s (%s): the plan stays as posted",
                plan_id,
                self.model_name,
                checked.outcome,
            )
            return Explained(
                plan_id=plan_id, explanation=None, outcome=checked.outcome, detail=checked.detail
            )
        dropped = tuple((d.claim, d.reason) for d in checked.dropped)
        if checked.source != "model":  # the guard refused the explanation as a whole
            dropped += ((_WHOLE, checked.detail),)
            log.info("plan %s: the graph rejected the model's explanation", plan_id)
        explanation = StoredExplanation(
            model=checked.model or self.model_name,
            source=checked.source,
            outcome=checked.outcome,
            text=checked.text,
            dropped=dropped,
            detail=checked.detail,
        )
        self.store.plans.set_explanation(plan_id, explanation, actor=f"llm:{self.model_name}")
        self.notifier.refresh_plan(plan_id)
        return Explained(
            plan_id=plan_id,
            explanation=self.store.plans.get(plan_id).explanation or explanation,
            outcome=checked.outcome,
            detail=checked.detail,
        )

    def _explain_then(self, plan_id: str, then: Callable[[Explained], None] | None) -> None:
        explained = self.explain(plan_id)
        if then is not None:
            then(explained)
