"""The graph planner: topology, recent changes and firing alerts in, a rollback plan out.

This is the pure entry point of the core (no clock, no files, no network): ``now`` is an argument.
It finds the incident (the firing alerts whose services are in the topology), scores every
recent change (:mod:`planners.suspects`), chooses what to roll back, orders it
(:mod:`planners.steps`) and explains it (:mod:`planners.explain`). When no change explains the
symptoms well enough it abstains: the plan has no steps and says why.
"""

from __future__ import annotations

import difflib
import hashlib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from planners.explain import explain
from planners.graph import Distances, distances_from
from planners.model import Action, Alert, AlertStatus, Change, Excluded, Incident, Plan
from planners.steps import DEFAULT_SECONDS, StepPlan, build_steps
from planners.suspects import Scored, ScoringWeights, score_changes, to_suspect
from planners.topology import Topology

__all__ = ["PlanningOptions", "plan_rollback", "suggest_services"]


@dataclass(frozen=True, kw_only=True)
class PlanningOptions:
    """What a team may tune. The defaults are DESIGN.md's.

    Attributes:
        window: how far before the first alert a change may be the cause.
        clock_skew: how far after the first alert a change still counts (clocks disagree).
        min_score: below this no change is a suspect, and a plan with none abstains.
        full_stage_ratio: the ``full`` stage takes suspects scoring at least this share of the
            top suspect's score.
        max_suspects: how many suspects the plan lists; the rest are excluded with their rank.
        default_seconds: how long each action takes unless the catalog says otherwise.
        weights: the scoring model's constants.
    """

    window: timedelta = timedelta(hours=2)
    clock_skew: timedelta = timedelta(minutes=2)
    min_score: float = 0.12
    full_stage_ratio: float = 0.5
    max_suspects: int = 20
    default_seconds: Mapping[Action, int] = field(default_factory=lambda: dict(DEFAULT_SECONDS))
    weights: ScoringWeights = field(default_factory=ScoringWeights)


def plan_rollback(
    topology: Topology,
    *,
    changes: Sequence[Change],
    alerts: Sequence[Alert],
    now: datetime,
    options: PlanningOptions | None = None,
    history: Mapping[str, int] | None = None,
) -> Plan:
    """Draft the rollback plan for the incident that ``alerts`` describe.

    Args:
        topology: the merged service graph.
        changes: recent changes (any order; later ones are excluded with a reason).
        alerts: alerts of any status; only firing ones start an incident.
        now: the planner's clock.
        options: tuning; DESIGN.md's defaults when omitted.
        history: earlier incidents caused per service, for the history factor.

    Returns:
        The plan; ``plan.abstained`` when no change explains the symptoms well enough.
    """
    options = options or PlanningOptions()
    notes = [
        f"dependency cycle among {', '.join(cycle)}: their relative order is by name"
        for cycle in topology.cycles
    ]
    firing = [a for a in alerts if a.status == AlertStatus.FIRING]
    notes += _alert_notes(firing, topology)
    alerting = sorted(
        {a.service for a in firing if a.service is not None and a.service in topology}
    )
    started_at = min((a.started_at for a in firing), default=None)
    incident = Incident(id=_incident_id(firing), services=tuple(alerting), started_at=started_at)
    draft = _Draft(incident=incident, now=now, notes=notes, alerting=alerting)

    if started_at is None:
        return draft.abstain(["no firing alert: resolved alerts never start an incident"])
    if not alerting:
        return draft.abstain(["no firing alert names a service in the topology"])

    down = distances_from(topology, alerting)
    up = distances_from(topology, alerting, upstream=True, cutoff=3)
    scored, excluded = score_changes(
        changes,
        alerting=alerting,
        down=down,
        up=up,
        known=topology.services,
        started_at=started_at,
        window=options.window,
        skew=options.clock_skew,
        history=history or {},
        weights=options.weights,
    )
    candidates = [s for s in scored if s.score >= options.min_score]
    for rank, item in enumerate(scored, start=1):
        if item.score < options.min_score:
            why = f"scored {item.score:.2f}, below {options.min_score:.2f}: " + "; ".join(
                item.reasons
            )
            excluded.append(Excluded(change_id=item.change.id, why=why))
        elif rank > options.max_suspects:
            why = f"scored {item.score:.2f}, ranked {rank}: beyond the {options.max_suspects} shown"
            excluded.append(Excluded(change_id=item.change.id, why=why))
    draft.suspects = candidates[: options.max_suspects]
    draft.excluded = excluded
    if not candidates:
        reason = (
            "no change in the window"
            if not scored
            else f"the best candidate scores {scored[0].score:.2f}, below {options.min_score:.2f}"
        )
        return draft.abstain([f"no change explains the symptoms well enough: {reason}"])

    top = candidates[0]
    chosen = [top] + [s for s in candidates[1:] if s.score >= options.full_stage_ratio * top.score]
    eligible = [s.change for s in scored]
    steps = build_steps(
        chosen,
        eligible=eligible,
        topology=topology,
        down=down,
        default_seconds=options.default_seconds,
    )
    draft.impacted = _impacted(topology, alerting, down, top)
    return draft.finish(steps)


def suggest_services(name: str, topology: Topology, *, limit: int = 3) -> list[str]:
    """Close matches for a service name that is not in the topology, look-alikes first.

    A hint for people only: a name is never mapped to its suggestion.
    """
    skeleton = _skeleton(name)
    lookalikes = [s for s in topology.services if s != name and _skeleton(s) == skeleton]
    close = difflib.get_close_matches(name, list(topology.services), n=limit, cutoff=0.75)
    return list(dict.fromkeys(lookalikes + close))[:limit]


# Latin look-alikes of Cyrillic and Greek letters seen in spoofed names.
_CONFUSABLES = str.maketrans(
    "асеіјорхуѕԁաАВСЕНІЈКМНОРСТХΑΒΕΗΙΚΜΝΟΡΤΧΥΖο", "aceijopxysdwABCEHIJKMHOPCTXABEHIKMNOPTXYZo"
)


def _skeleton(name: str) -> str:
    """``name`` folded (NFKC), invisible characters dropped, look-alike letters mapped."""
    folded = unicodedata.normalize("NFKC", name)
    visible = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    return visible.translate(_CONFUSABLES).casefold()


@dataclass(kw_only=True)
class _Draft:
    """The plan under construction; ends in :meth:`abstain` or :meth:`finish`."""

    incident: Incident
    now: datetime
    notes: list[str]
    alerting: list[str]
    suspects: list[Scored] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    impacted: list[str] = field(default_factory=list)

    def abstain(self, reasons: list[str]) -> Plan:
        return self._plan(StepPlan(steps=(), critical_path_seconds=0, notes=()), reasons)

    def finish(self, steps: StepPlan) -> Plan:
        return self._plan(steps, [])

    def _plan(self, steps: StepPlan, abstain_reasons: list[str]) -> Plan:
        suspects = tuple(to_suspect(s) for s in self.suspects)
        notes = tuple(self.notes) + steps.notes
        return Plan(
            incident=self.incident,
            impacted=tuple(self.impacted or self.alerting),
            suspects=suspects,
            excluded=tuple(sorted(self.excluded, key=lambda e: e.change_id)),
            steps=steps.steps,
            critical_path_seconds=steps.critical_path_seconds,
            explanation=explain(
                suspects=suspects,
                steps=steps.steps,
                critical_path_seconds=steps.critical_path_seconds,
                abstain_reasons=abstain_reasons,
            ),
            abstained=bool(abstain_reasons),
            abstain_reasons=tuple(abstain_reasons),
            notes=notes,
            generated_at=self.now,
        )


def _alert_notes(firing: Sequence[Alert], topology: Topology) -> list[str]:
    notes = []
    for alert in firing:
        if alert.service is None:
            notes.append(f"alert {alert.name!r} ({alert.source}) names no service: ignored")
        elif alert.service not in topology:
            close = suggest_services(alert.service, topology)
            hint = f"; close names: {', '.join(close)} (not used: names must match exactly)"
            notes.append(
                f"alert {alert.name!r} names unknown service {alert.service!r}"
                f"{hint if close else ''}"
            )
    return notes


def _incident_id(firing: Sequence[Alert]) -> str:
    if not firing:
        return "inc-none"
    key = "|".join(sorted(f"{a.source}:{a.fingerprint}" for a in firing))
    return "inc-" + hashlib.sha256(key.encode()).hexdigest()[:10]


def _impacted(
    topology: Topology, alerting: Sequence[str], down: Distances, top: Scored
) -> list[str]:
    """The alerting services, the top suspect's service, and every service on a shortest
    dependency path between them: where the failure travelled."""
    target = top.change.service
    to_target = distances_from(topology, [target], upstream=True).get(target, {})
    impacted = set(alerting) | {target}
    for alert_service in alerting:
        total = down.get(alert_service, {}).get(target)
        if total is None:
            continue
        impacted.update(
            node
            for node, hops in down[alert_service].items()
            if hops <= total and to_target.get(node) == total - hops
        )
    return sorted(impacted, key=lambda s: (s not in alerting, s))
