"""The post-incident summary's narrative, written by the model from the summary's facts and
edited into the summary when (if) it arrives (issue 9 item 5).

The summary is posted from the audit log at once (:mod:`bot.core.usecases.summaries`); the Slack
notifier draws it with :meth:`Narrating.current`, the stored narrative only while it was written
from the summary's facts as they are now (:func:`planners.narrative.facts_digest`), and, when
there is none, calls :meth:`Narrating.soon`. That asks the configured model on the
explanations' pool (never on the request, the plan runner or the engine), through the pure
planner glue (:func:`planners.narrative.narrate`): the guard checks the answer. A checked or a
rejected narrative is stored with the plan (:meth:`bot.store.Plans.set_narrative`, audited as
``plan.narrated``) with the facts' digest, and the summary is updated in place. A model that
errors, times out or is skipped leaves the summary as it is (logged; the next change of the
summary asks again).

A summary whose facts changed later (a late step, feedback) is drawn without the old narrative
until a new one is stored; one whose facts did not change is not asked about again. Narrating
never approves, runs or changes a plan.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.core.ports import Notifier
from bot.core.runner import ThreadRunner
from bot.core.usecases.summaries import summarise_if_due
from bot.store import Store, StoredNarrative
from planners.llm import StructuredModel
from planners.narrative import (
    Fact,
    StepOutcome,
    SummaryAlert,
    SummaryEvent,
    facts_digest,
    narrate,
    summary_facts,
)

__all__ = ["Narrated", "Narrating", "facts_of"]

log = logging.getLogger(__name__)

_STORED = frozenset({"ok", "guard_rejected"})
"""The outcomes kept with the plan: the guard decided, so asking again would change nothing."""


@dataclass(frozen=True, kw_only=True)
class Narrated:
    """How one request for a summary's narrative ended.

    Attributes:
        plan_id: the plan.
        narrative: what is stored for the summary's current facts; None when nothing is.
        outcome: ``ok``, ``guard_rejected``, ``unchanged`` (a narrative of these facts
            was already stored), ``asking`` (one is being asked for), ``stale`` (the facts
            changed while the model wrote) or the model call's failure outcome.
    """

    plan_id: str
    narrative: StoredNarrative | None
    outcome: str


def facts_of(store: Store, plan_id: str) -> tuple[Fact, ...]:
    """The plan's summary facts (:func:`planners.narrative.summary_facts`) from the store.

    Raises:
        PlanNotFoundError: no plan has this id.
    """
    stored = store.plans.get(plan_id)
    incident = store.incidents.incident(stored.plan.incident.id)
    alerts = [
        SummaryAlert(name=a.name, service=a.service, status=a.status, started_at=a.started_at)
        for a in (incident.alerts if incident is not None else ())
    ]
    events = [
        SummaryEvent(
            at=e.at,
            actor=e.actor,
            action=e.action,
            step=e.subject.split("/", 1)[1] if "/" in e.subject else None,
            details=e.details,
        )
        for e in store.audit.entries(subject_prefix=plan_id)
    ]
    steps = {r.step_id: StepOutcome(status=str(r.status), reason=r.reason) for r in stored.steps}
    return summary_facts(
        stored.plan, status=str(stored.status), steps=steps, alerts=alerts, events=events
    )


class Narrating:
    """Narrates post-incident summaries with the configured model, off the request.

    Args:
        store: plans, incidents and the audit log (the facts), and where narratives are kept.
        notifier: updates the summary once a narrative is stored.
        runner: the pool the model calls wait on (the explanations'; a slow model holds only it).
        model: a fresh model for one summary (its calls share one deadline).
        model_name: the configured model, for the logs and the audit.
    """

    def __init__(
        self,
        *,
        store: Store,
        notifier: Notifier,
        runner: ThreadRunner,
        model: Callable[[], StructuredModel],
        model_name: str,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.runner = runner
        self.model = model
        self.model_name = model_name
        self._lock = threading.Lock()
        self._asking: set[tuple[str, str]] = set()

    def current(self, plan_id: str) -> StoredNarrative | None:
        """The stored narrative, if it was written from the summary's facts as they are now.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        kept = self.store.plans.narrative(plan_id)
        if kept is None or kept.digest != facts_digest(facts_of(self.store, plan_id)):
            return None
        return kept

    def soon(self, plan_id: str) -> None:
        """Narrate the summary on the pool."""
        self.runner.submit(self.narrate, plan_id)

    def narrate(self, plan_id: str) -> Narrated:
        """Ask the model for the summary's narrative unless one of its facts is stored; store
        what the guard decided and update the summary. Never raises for what the model does.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        facts = facts_of(self.store, plan_id)
        digest = facts_digest(facts)
        kept = self.store.plans.narrative(plan_id)
        if kept is not None and kept.digest == digest:
            return Narrated(plan_id=plan_id, narrative=kept, outcome="unchanged")
        with self._lock:
            if (plan_id, digest) in self._asking:
                return Narrated(plan_id=plan_id, narrative=None, outcome="asking")
            self._asking.add((plan_id, digest))
        try:
            checked = narrate(facts, self.model())
        finally:
            with self._lock:
                self._asking.discard((plan_id, digest))
        if checked.outcome not in _STORED:
            log.warning(
                "plan %s: no summary narrative from %s (%s): %s",
                plan_id,
                self.model_name,
                checked.outcome,
                checked.reason,
            )
            return Narrated(plan_id=plan_id, narrative=None, outcome=checked.outcome)
        if facts_digest(facts_of(self.store, plan_id)) != digest:
            log.info("plan %s: the summary changed while the model wrote; not stored", plan_id)
            return Narrated(plan_id=plan_id, narrative=None, outcome="stale")
        if checked.outcome == "guard_rejected":
            log.warning(
                "plan %s: the graph rejected %s's summary narrative: %s",
                plan_id,
                self.model_name,
                checked.reason,
            )
        narrative = StoredNarrative(
            model=checked.model or self.model_name,
            outcome=checked.outcome,
            text=checked.text,
            digest=digest,
            cited=checked.cited,
            reason=checked.reason,
        )
        self.store.plans.set_narrative(plan_id, narrative, actor=f"llm:{self.model_name}")
        summarise_if_due(self.store, self.notifier, plan_id)
        return Narrated(
            plan_id=plan_id,
            narrative=self.store.plans.narrative(plan_id) or narrative,
            outcome=checked.outcome,
        )
