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
from bot.store import Store, StoredExplanation
from planners.llm import ModelAnswer, StructuredModel, explain_plan

__all__ = ["Explained", "Explaining"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

_WHOLE = "the explanation"
"""The claim recorded when the guard rejected the model's explanation as a whole."""


@dataclass(frozen=True, kw_only=True)
class Explained:
    """How one request to explain a plan ended.

    Attributes:
        plan_id: the plan.
        explanation: what was stored and shown; None when the model gave no usable answer
            (the plan stays as posted).
        outcome: ``ok``, ``rejected`` (by the guard) or the model call's failure outcome.
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

    def explain(self, plan_id: str) -> Explained:
        """Ask the model about the plan, store what the graph accepts and refresh the message.

        Never raises for what the model does.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        stored = self.store.plans.get(plan_id)
        model = _Answered(self.model())
        checked = explain_plan(stored.plan, model, alerts=self._alerts(stored.plan.incident.id))
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

    def _alerts(self, incident_id: str) -> str:
        """The incident's alerts as the prompt's untrusted ``alerts`` text, one line each."""
        incident = self.store.incidents.incident(incident_id)
        if incident is None:
            return ""
        return "\n".join(
            f"{a.name} on {a.service or 'an unknown service'}" for a in incident.alerts
        )
