"""Scoring the recent changes: which one most likely caused the incident, and why.

A change's score in [0, 1] is the product of four factors (DESIGN.md, planning rule 1):

* **explains**: how well its service explains the alerting services, averaged over them, times
  the square root of the share of them it explains. The alerting service itself counts 1; a
  service it depends on counts 0.9, decaying by 0.9 a hop; a consumer of it counts nothing (a
  consumer rarely breaks its provider, and does not explain its alert; the reason says so). When
  several
  services alert, the cause should explain them all: a dependency they share beats a more recent
  deploy of one of them (whose own alert may only be a symptom); the square root keeps one
  unrelated, flapping alert from sinking the real cause. Unrelated changes score zero.
* **recency**: 1 at the first alert, easing towards 0.55 over the window, so that the graph
  decides and time breaks ties.
* **kind**: deploys weigh most; flags, config and migrations a shade less; infra less.
* **history**: services whose changes caused earlier incidents weigh a little more.

Changes after the incident started (beyond the clock skew) or before the window are excluded,
each with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from planners.graph import Distances
from planners.model import Change, ChangeKind, Excluded, Suspect

__all__ = ["Scored", "ScoringWeights", "rescore", "score_changes", "to_suspect"]


@dataclass(frozen=True, kw_only=True)
class ScoringWeights:
    """The constants of the scoring model; see the module docstring."""

    self_weight: float = 1.0
    dependency_weight: float = 0.9
    dependency_decay: float = 0.9
    recency_floor: float = 0.55
    recency_minutes: float = 45.0
    coverage: float = 0.5
    history_step: float = 0.05
    history_cap: int = 4
    kind: Mapping[ChangeKind, float] | None = None


_KIND_WEIGHT: Mapping[ChangeKind, float] = {
    ChangeKind.DEPLOY: 1.0,
    ChangeKind.FEATURE_FLAG: 0.98,
    ChangeKind.CONFIG: 0.98,
    ChangeKind.MIGRATION: 0.98,
    ChangeKind.INFRA: 0.9,
}


@dataclass(frozen=True, kw_only=True)
class Scored:
    """A change in the window with its score and the alerting services its service explains.

    ``factor`` is the part of the score that does not depend on the graph (recency, kind,
    history), so the change can be re-scored against other alerting services (:func:`rescore`).
    """

    change: Change
    score: float
    reasons: tuple[str, ...]
    explains: tuple[str, ...]
    factor: float = 1.0


def score_changes(
    changes: Sequence[Change],
    *,
    alerting: Sequence[str],
    down: Distances,
    up: Distances,
    known: Mapping[str, object],
    started_at: datetime,
    window: timedelta,
    skew: timedelta,
    history: Mapping[str, int],
    weights: ScoringWeights,
) -> tuple[list[Scored], list[Excluded]]:
    """Score every change that could have caused an incident that started at ``started_at``.

    Args:
        changes: the recent changes.
        alerting: the alerting services that are in the topology.
        down: hops from each alerting service to what it depends on.
        up: hops from each alerting service to its consumers.
        known: the topology's services by name.
        started_at: when the first alert fired.
        window: how far back a change may be the cause.
        skew: how far after ``started_at`` a change may be and still count (clock skew).
        history: how many earlier incidents each service's changes caused.
        weights: the scoring constants.

    Returns:
        The scored changes (best first; a score may be 0) and the excluded ones with why.
    """
    scored: list[Scored] = []
    excluded: list[Excluded] = []
    kind_weight = weights.kind or _KIND_WEIGHT
    for change in changes:
        why = _exclusion(change, known=known, started_at=started_at, window=window, skew=skew)
        if why:
            excluded.append(Excluded(change_id=change.id, why=why))
            continue
        explains, graph_reasons, explained = _explanation(
            change.service, alerting, down, up, weights
        )
        minutes = max(0.0, (started_at - change.at).total_seconds() / 60)
        recency = weights.recency_floor + (1 - weights.recency_floor) * math.exp(
            -minutes / weights.recency_minutes
        )
        past = min(history.get(change.service, 0), weights.history_cap)
        factor = recency * kind_weight[change.kind] * (1 + weights.history_step * past)
        score = explains * factor
        reasons = [_timing(change, minutes), *graph_reasons]
        if past:
            reasons.append(f"its changes caused {past} earlier incident{'s' * (past > 1)}")
        scored.append(
            Scored(
                change=change,
                score=round(min(score, 1.0), 3),
                reasons=tuple(reasons),
                explains=explained,
                factor=factor,
            )
        )
    scored.sort(key=lambda s: (-s.score, -s.change.at.timestamp(), s.change.id))
    return scored, excluded


def rescore(
    item: Scored,
    *,
    alerting: Sequence[str],
    down: Distances,
    up: Distances,
    weights: ScoringWeights,
) -> Scored:
    """``item`` scored against ``alerting`` only (the services another cause leaves unexplained)."""
    explains, graph_reasons, explained = _explanation(
        item.change.service, alerting, down, up, weights
    )
    return Scored(
        change=item.change,
        score=round(min(explains * item.factor, 1.0), 3),
        reasons=(
            item.reasons[0],
            *graph_reasons,
            *(r for r in item.reasons if r.startswith("its changes caused")),
        ),
        explains=explained,
        factor=item.factor,
    )


def to_suspect(item: Scored) -> Suspect:
    """The public form of a scored change."""
    return Suspect(
        change_id=item.change.id,
        service=item.change.service,
        score=item.score,
        reasons=item.reasons,
        kind=item.change.kind,
        at=item.change.at,
    )


def _exclusion(
    change: Change,
    *,
    known: Mapping[str, object],
    started_at: datetime,
    window: timedelta,
    skew: timedelta,
) -> str | None:
    if change.at > started_at + skew:
        late = _minutes(change.at - started_at)
        return f"happened after the incident started ({late} after the first alert)"
    if change.at < started_at - window:
        return f"older than the {_minutes(window)} window before the first alert"
    if change.service not in known:
        return f"service {change.service!r} is not in the topology"
    return None


def _explanation(
    service: str,
    alerting: Sequence[str],
    down: Distances,
    up: Distances,
    weights: ScoringWeights,
) -> tuple[float, list[str], tuple[str, ...]]:
    """How well a change on ``service`` explains the alerting services, with the evidence."""
    total = 0.0
    reasons: list[str] = []
    explained: list[str] = []
    consumers_of: list[str] = []
    for alert_service in alerting:
        if service == alert_service:
            total += weights.self_weight
            reasons.append(f"{service} itself is alerting")
            explained.append(alert_service)
        elif (hops := down.get(alert_service, {}).get(service)) is not None:
            total += weights.dependency_weight * weights.dependency_decay ** (hops - 1)
            how = "directly" if hops == 1 else f"through {hops - 1} other service(s)"
            reasons.append(f"{alert_service} depends on it {how} (distance {hops})")
            explained.append(alert_service)
        elif up.get(alert_service, {}).get(service) is not None:
            consumers_of.append(alert_service)
    if consumers_of:
        reasons.append(
            f"it only calls {', '.join(consumers_of)} (a consumer rarely breaks its provider)"
        )
    if not reasons:
        reasons.append(f"no dependency path between {service} and {', '.join(alerting)}")
    if explained and len(explained) < len(alerting):
        reasons.append(f"explains {len(explained)} of {len(alerting)} alerting services")
    share = len(explained) / max(len(alerting), 1)
    return total / max(len(alerting), 1) * share**weights.coverage, reasons, tuple(explained)


def _timing(change: Change, minutes: float) -> str:
    verb = {
        ChangeKind.DEPLOY: "deployed",
        ChangeKind.CONFIG: "config changed",
        ChangeKind.FEATURE_FLAG: "flag changed",
        ChangeKind.MIGRATION: "migrated",
        ChangeKind.INFRA: "infrastructure changed",
    }[change.kind]
    if minutes < 1:
        return f"{verb} at the time of the first alert"
    return f"{verb} {_minutes(timedelta(minutes=minutes))} before the first alert"


def _minutes(delta: timedelta) -> str:
    total = int(delta.total_seconds() // 60)
    if total < 60:
        return f"{total} min"
    hours, mins = divmod(total, 60)
    return f"{hours} h {mins} min" if mins else f"{hours} h"
