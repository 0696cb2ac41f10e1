"""The graph planner: topology, recent changes and firing alerts in, a rollback plan out.

This is the pure entry point of the core (no clock, no files, no network): ``now`` is an argument.
It finds the incident (:mod:`planners.incident`: which firing alerts belong together, and when
it started; noise and unknown services left out), scores every recent change
(:mod:`planners.suspects`), decides on one cause, two independent causes or none
(:mod:`planners.causes`), orders what to roll back (:mod:`planners.steps`) and explains it
(:mod:`planners.explain`). When no change explains most of the symptoms it abstains: the plan has
no steps and says why (naming an unchanged common dependency when there is one).
"""

from __future__ import annotations

import difflib
import hashlib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from planners.causes import decide
from planners.evidence import collect
from planners.explain import explain
from planners.graph import Distances, distances_from
from planners.incident import group_alerts
from planners.model import Action, Alert, AlertStatus, Change, Excluded, Incident, Noise, Plan
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
        burst_gap: alerts further apart than this are separate groups; groups before the
            incident's burst are chronic noise.
        consider: change ids to roll back as well, when the plan does not abstain and they are
            in the window and before the start (a reviewer's ``consider_change`` proposal that
            the guard accepted, :mod:`planners.validate`); each joins the suspects with a note.
    """

    window: timedelta = timedelta(hours=2)
    clock_skew: timedelta = timedelta(minutes=2)
    min_score: float = 0.12
    full_stage_ratio: float = 0.5
    max_suspects: int = 20
    default_seconds: Mapping[Action, int] = field(default_factory=lambda: dict(DEFAULT_SECONDS))
    weights: ScoringWeights = field(default_factory=ScoringWeights)
    burst_gap: timedelta = timedelta(minutes=30)
    consider: frozenset[str] = frozenset()


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
    grouping = group_alerts(alerts, known=topology.services, burst_gap=options.burst_gap)
    notes += _alert_notes(grouping.unknown, topology)
    notes += [f"alert {n.name!r} on {n.service} left out: {n.why}" for n in grouping.noise]
    alerting = list(grouping.services)
    started_at = grouping.started_at
    incident = Incident(id=_incident_id(firing), services=tuple(alerting), started_at=started_at)
    draft = _Draft(
        incident=incident,
        now=now,
        notes=notes,
        alerting=alerting,
        noise=list(grouping.noise),
        failed={c.id: c for c in changes if c.failed},
    )

    if not firing:
        return draft.abstain(["no firing alert: resolved alerts never start an incident"])
    if started_at is None or not alerting:
        if grouping.noise:
            return draft.abstain(["every firing alert on a known service is noise"])
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
    decision = decide(
        candidates,
        scored,
        alerting=alerting,
        topology=topology,
        down=down,
        up=up,
        min_score=options.min_score,
        weights=options.weights,
    )
    draft.notes += decision.notes
    second = decision.causes[1] if len(decision.causes) > 1 else None
    listed = candidates[: options.max_suspects]
    if second is not None and second not in listed:
        listed.append(second)
        listed.sort(key=lambda s: (-s.score, -s.change.at.timestamp(), s.change.id))
    for rank, item in enumerate(scored, start=1):
        if item in listed:
            continue
        if item.score < options.min_score:
            why = f"scored {item.score:.2f}, below {options.min_score:.2f}: " + "; ".join(
                item.reasons
            )
            excluded.append(Excluded(change_id=item.change.id, why=why))
        else:
            why = f"scored {item.score:.2f}, ranked {rank}: beyond the {options.max_suspects} shown"
            excluded.append(Excluded(change_id=item.change.id, why=why))
    draft.suspects = listed
    draft.excluded = excluded
    draft.common_dependency = decision.common_dependency
    if not candidates:
        reason = (
            "no change in the window"
            if not scored
            else f"the best candidate scores {scored[0].score:.2f}, below {options.min_score:.2f}"
        )
        reasons = [f"no change explains the symptoms well enough: {reason}"]
        if decision.common_dependency is not None:
            reasons.append(
                f"every alerting service depends on {decision.common_dependency}, which has no "
                "recorded change: it is the likely common cause, and rolling back is not the fix"
            )
        return draft.abstain(reasons)
    if not decision.causes:
        return draft.abstain(list(decision.abstain_reasons))

    top = decision.causes[0]
    chosen = list(decision.causes)
    chosen += [
        s
        for s in candidates[1:]
        if s not in chosen and s.score >= options.full_stage_ratio * top.score
    ]
    _consider(draft, chosen, scored, options.consider)
    eligible = [s.change for s in scored]
    steps = build_steps(
        chosen,
        eligible=eligible,
        topology=topology,
        down=down,
        default_seconds=options.default_seconds,
        causes=len(decision.causes),
        second=decision.second,
    )
    draft.impacted = _impacted(topology, alerting, down, top)
    if second is not None:
        draft.causes = [top.change.id, second.change.id]
    return draft.finish(steps)


def _consider(
    draft: _Draft, chosen: list[Scored], scored: Sequence[Scored], ids: frozenset[str]
) -> None:
    """Add the changes a reviewer asked to consider (only scored ones: in the window, before
    the start) to the chosen suspects, out of the exclusions."""
    forced = [s for s in scored if s.change.id in ids and s not in chosen]
    if not forced:
        return
    chosen.extend(forced)
    draft.suspects += [s for s in forced if s not in draft.suspects]
    taken = {s.change.id for s in forced}
    draft.excluded = [e for e in draft.excluded if e.change_id not in taken]
    draft.notes += [
        f"{s.change.id} on {s.change.service} considered at a reviewer's proposal "
        f"(score {s.score:.2f})"
        for s in forced
    ]


def suggest_services(name: str, topology: Topology, *, limit: int = 3) -> list[str]:
    """Close matches for a service name that is not in the topology, look-alikes first.

    A hint for people only: a name is never mapped to its suggestion.
    """
    return _suggest(name, topology, _skeletons(topology), limit=limit)


def _skeletons(topology: Topology) -> dict[str, list[str]]:
    """The topology's names by skeleton (one pass, reused for every unknown name)."""
    index: dict[str, list[str]] = {}
    for known in topology.services:
        index.setdefault(_skeleton(known), []).append(known)
    return index


def _suggest(
    name: str, topology: Topology, skeletons: dict[str, list[str]], *, limit: int = 3
) -> list[str]:
    lookalikes = [s for s in skeletons.get(_skeleton(name), []) if s != name]
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
    noise: list[Noise] = field(default_factory=list)
    suspects: list[Scored] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    impacted: list[str] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    common_dependency: str | None = None
    failed: dict[str, Change] = field(default_factory=dict)

    def abstain(self, reasons: list[str]) -> Plan:
        return self._plan(StepPlan(steps=(), critical_path_seconds=0, notes=()), reasons)

    def finish(self, steps: StepPlan) -> Plan:
        return self._plan(steps, [])

    def _plan(self, steps: StepPlan, abstain_reasons: list[str]) -> Plan:
        suspects = tuple(to_suspect(s) for s in self.suspects)
        notes = tuple(self.notes) + steps.notes + self._failed_notes(steps)
        excluded = tuple(sorted(self.excluded, key=lambda e: e.change_id))
        return Plan(
            incident=self.incident,
            impacted=tuple(self.impacted or self.alerting),
            suspects=suspects,
            excluded=excluded,
            steps=steps.steps,
            critical_path_seconds=steps.critical_path_seconds,
            explanation=explain(
                suspects=suspects,
                steps=steps.steps,
                critical_path_seconds=steps.critical_path_seconds,
                abstain_reasons=abstain_reasons,
                causes=self.causes,
            ),
            abstained=bool(abstain_reasons),
            abstain_reasons=tuple(abstain_reasons),
            notes=notes,
            generated_at=self.now,
            causes=tuple(self.causes),
            noise=tuple(self.noise),
            common_dependency=self.common_dependency,
            evidence=collect(
                incident_id=self.incident.id,
                suspects=suspects,
                steps=steps.steps,
                excluded=[(e.change_id, e.why) for e in excluded],
                abstain_reasons=abstain_reasons,
            ),
        )

    def _failed_notes(self, steps: StepPlan) -> tuple[str, ...]:
        """A note for each failed deploy the plan names: its version may not be what runs."""
        named = dict.fromkeys(
            [*(s.change.id for s in self.suspects), *(s.change_id for s in steps.steps)]
        )
        return tuple(_failed_note(self.failed[i]) for i in named if i in self.failed)


def _failed_note(change: Change) -> str:
    version = f" to {change.to_version}" if change.to_version else ""
    return (
        f"{change.id} ({change.service}{version}) was reported as a failed deploy: check what is "
        f"actually running on {change.service} before rolling back"
    )


_HINTED = 3
"""Close names are looked up for this many distinct unknown services (each lookup scans the
whole catalog); the others are listed without hints."""


def _alert_notes(unknown: Sequence[Alert], topology: Topology) -> list[str]:
    notes = []
    names: dict[str, list[Alert]] = {}
    for alert in unknown:
        if alert.service is None:
            notes.append(f"alert {alert.name!r} ({alert.source}) names no service: ignored")
        else:
            names.setdefault(alert.service, []).append(alert)
    skeletons = _skeletons(topology) if names else {}
    for index, (name, group) in enumerate(sorted(names.items())):
        close = _suggest(name, topology, skeletons) if index < _HINTED else []
        hint = f"; close names: {', '.join(close)} (not used: names must match exactly)"
        what = f"alert {group[0].name!r}" if len(group) == 1 else f"{len(group)} alerts"
        notes.append(
            f"{what} name{'s' * (len(group) == 1)} unknown service {name!r}"
            f"{hint if close else ''}: left out, never matched"
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
