"""Deciding what the scored changes say: one cause, two independent causes, or none.

:mod:`planners.suspects` scores every change against all the incident's alerting services;
:mod:`planners.planner` then asks :func:`decide` what to roll back (DESIGN.md, planning rule 1,
and the honest abstention of the product):

* **strays**: an alerting service related to no other one (neither depends on the other, nor
  do they share a direct datastore, queue or external dependency) and explained by no change is
  left out of the count: one unrelated alert must not sink the real cause.
* **most**: the top suspect must explain more than half of the remaining (core) services.
  Otherwise the plan abstains; when the core services all depend directly on a service with no
  recorded change (an external provider, a database, a queue), it is named as the likely common
  cause: rolling back is not the fix.
* **second cause**: the other changes are re-scored against the core services the top suspect
  leaves unexplained; one that explains most of those, above the minimum score, is a second,
  independent cause with its own steps. When the top suspect explains half or less, the pair
  stands only if the second explains all the rest and no unchanged service that every core
  service calls directly explains them all at once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from planners.graph import Distances
from planners.model import ServiceKind
from planners.suspects import Scored, ScoringWeights, rescore
from planners.topology import Topology

__all__ = ["Decision", "decide"]

_SHARED_KINDS = (ServiceKind.EXTERNAL, ServiceKind.QUEUE, ServiceKind.DATABASE, ServiceKind.CACHE)
_KIND_RANK = {kind: rank for rank, kind in enumerate(_SHARED_KINDS)}
_COMMON_HOPS = 1
"""A common dependency is one every core service calls directly (a provider outage shows there);
a deep one (a database under everything) explains nothing in particular."""
_MAX_STRAY_CHECK = 60
"""Above this many alerting services the pairwise stray check is skipped (all count)."""


@dataclass(frozen=True, kw_only=True)
class Decision:
    """What to roll back: ``causes`` (the top suspect first), or why not.

    ``second`` is the second cause as re-scored against the services it explains; ``strays``
    are alerting services left out of the count; ``common_dependency`` is named when
    abstaining and the core services share an unchanged dependency.
    """

    causes: tuple[Scored, ...] = ()
    second: Scored | None = None
    abstain_reasons: tuple[str, ...] = ()
    strays: tuple[str, ...] = ()
    common_dependency: str | None = None
    notes: tuple[str, ...] = ()


def decide(
    candidates: Sequence[Scored],
    scored: Sequence[Scored],
    *,
    alerting: Sequence[str],
    topology: Topology,
    down: Distances,
    up: Distances,
    min_score: float,
    weights: ScoringWeights,
) -> Decision:
    """Decide the causes among ``candidates`` (suspects at or above ``min_score``, best first).

    Args:
        candidates: the suspects above the minimum score, best first (may be empty).
        scored: every change in the window, scored (for strays and the common dependency).
        alerting: the incident's alerting services.
        topology: the service graph.
        down: hops from each alerting service to what it depends on.
        up: hops from each alerting service to its consumers.
        min_score: the minimum score of a cause.
        weights: the scoring constants (to re-score against the unexplained services).
    """
    explained_any = {a for item in scored if item.score > 0 for a in item.explains}
    strays = _strays(alerting, explained_any, topology=topology, down=down)
    core = [a for a in alerting if a not in strays] or list(alerting)
    notes = tuple(
        f"alert on {s} is unrelated to the other alerting services and no change explains it: "
        "not counted against the suspects"
        for s in strays
    )
    changed = {item.change.service for item in scored}
    common = _common_dependency(core, topology=topology, down=down, changed=changed)
    if not candidates:
        return Decision(strays=strays, common_dependency=common, notes=notes)
    top = candidates[0]
    covered = [a for a in core if a in top.explains]
    rest = [a for a in core if a not in top.explains]
    second = _second_cause(
        candidates[1:] if len(candidates) > 1 else [],
        scored,
        top=top,
        rest=rest,
        down=down,
        up=up,
        min_score=min_score,
        weights=weights,
    )
    if 2 * len(covered) > len(core) or (
        second is not None and set(second[1].explains) >= set(rest) and common is None
    ):
        causes = (top,) if second is None else (top, second[0])
        return Decision(
            causes=causes,
            second=None if second is None else second[1],
            strays=strays,
            notes=notes,
        )
    reasons = [
        f"no change explains most of the incident's services: the best candidate, "
        f"{top.change.id} on {top.change.service}, explains {len(covered)} of {len(core)} "
        f"({', '.join(core)})"
    ]
    if common is not None:
        reasons.append(_common_reason(common, core, topology))
    return Decision(
        abstain_reasons=tuple(reasons), strays=strays, common_dependency=common, notes=notes
    )


def _common_reason(common: str, core: Sequence[str], topology: Topology) -> str:
    kind = topology.services[common].kind.value
    return (
        f"every alerting service ({', '.join(core)}) depends on {common} ({kind}), which has no "
        "recorded change: it is the likely common cause, and rolling back is not the fix"
    )


def _second_cause(
    others: Sequence[Scored],
    scored: Sequence[Scored],
    *,
    top: Scored,
    rest: Sequence[str],
    down: Distances,
    up: Distances,
    min_score: float,
    weights: ScoringWeights,
) -> tuple[Scored, Scored] | None:
    """The best change explaining most of ``rest``: (as scored overall, as re-scored)."""
    if not rest:
        return None
    best: tuple[Scored, Scored] | None = None
    for item in scored:
        if item is top or item.change.id == top.change.id or item.score <= 0:
            continue
        if not set(item.explains) & set(rest):
            continue
        again = rescore(item, alerting=rest, down=down, up=up, weights=weights)
        if again.score < min_score or 2 * len(again.explains) <= len(rest):
            continue
        if best is None or again.score > best[1].score:
            best = (item, again)
    return best


def _strays(
    alerting: Sequence[str],
    explained: Collection[str],
    *,
    topology: Topology,
    down: Distances,
) -> tuple[str, ...]:
    if len(alerting) < 2 or len(alerting) > _MAX_STRAY_CHECK:
        return ()
    shared = {
        a: {d for d in topology.depends_on(a) if topology.services[d].kind in _SHARED_KINDS}
        for a in alerting
    }
    strays = []
    for a in alerting:
        if a in explained:
            continue
        related = any(
            b != a and (b in down.get(a, {}) or a in down.get(b, {}) or shared[a] & shared[b])
            for b in alerting
        )
        if not related:
            strays.append(a)
    return tuple(strays)


def _common_dependency(
    core: Sequence[str], *, topology: Topology, down: Distances, changed: Collection[str]
) -> str | None:
    """A service every core service depends on directly that had no change in the window."""
    if len(core) < 2:
        return None
    shared: dict[str, int] = {}
    for a in core:
        reach = down.get(a, {})
        if not shared:
            shared = {n: h for n, h in reach.items() if n != a}
        else:
            shared = {n: max(h, reach[n]) for n, h in shared.items() if n in reach}
        if not shared:
            return None
    options = [
        (hops, _KIND_RANK.get(topology.services[n].kind, len(_SHARED_KINDS)), n)
        for n, hops in shared.items()
        if n not in core and n not in changed and hops <= _COMMON_HOPS
    ]
    return min(options)[2] if options else None
