"""From the chosen suspects to ordered plan steps (DESIGN.md, planning rules 2 to 6).

The chosen changes become drafts with an action and a stage (``contain`` for flags and config,
``partial`` for the top suspect and what is coupled to it, ``full`` for the rest). Ordering
constraints are then added as edges ``u -> v`` ("u before v") in priority order, each one only if
it keeps the order acyclic, so that a more specific rule wins over a general one:

1. coupled changes: a consumer changed after its provider's deploy or migration is rolled back
   before it (a flag or config change of the consumer goes to ``contain``, earlier still);
2. migrations are reverted after every application step that uses their database (such steps
   move up to the migration's stage);
3. in one stage, consumers before providers (transitively; services on one cycle by name), and
   the newer of two changes to one service first;
4. in one stage, flag and config reverts before deploy rollbacks;
5. stages run in order: every step of a stage comes after the whole previous stage.

The result is reduced to its minimal ``after`` lists, numbered in order, and its critical path
(the longest chain of estimated seconds) is measured by :func:`planners.schedule.critical_path`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx

from planners.graph import Distances, reachability
from planners.model import (
    Action,
    Change,
    ChangeKind,
    Risk,
    RollbackTarget,
    ServiceKind,
    Stage,
    Step,
    Tier,
)
from planners.schedule import critical_path
from planners.suspects import Scored
from planners.topology import Topology

__all__ = ["DEFAULT_SECONDS", "StepPlan", "build_steps"]

DEFAULT_SECONDS: Mapping[Action, int] = {
    Action.DISABLE_FLAG: 15,
    Action.REVERT_CONFIG: 30,
    Action.ROLLBACK_DEPLOY: 90,
    Action.REVERT_MIGRATION: 180,
    Action.MANUAL: 600,
}
"""How long each action takes unless the catalog says otherwise for a service."""

_STAGES = (Stage.CONTAIN, Stage.PARTIAL, Stage.FULL)
_ACTION_OF = {
    ChangeKind.FEATURE_FLAG: Action.DISABLE_FLAG,
    ChangeKind.CONFIG: Action.REVERT_CONFIG,
    ChangeKind.DEPLOY: Action.ROLLBACK_DEPLOY,
    ChangeKind.MIGRATION: Action.REVERT_MIGRATION,
    ChangeKind.INFRA: Action.MANUAL,
}
_BASE_RISK = {
    Action.DISABLE_FLAG: Risk.LOW,
    Action.REVERT_CONFIG: Risk.LOW,
    Action.ROLLBACK_DEPLOY: Risk.MEDIUM,
    Action.REVERT_MIGRATION: Risk.HIGH,
    Action.MANUAL: Risk.HIGH,
}
_EARLY = (Action.DISABLE_FLAG, Action.REVERT_CONFIG)
_APP_KINDS = (ChangeKind.DEPLOY, ChangeKind.CONFIG)
_NEW_VERSION = (ChangeKind.DEPLOY, ChangeKind.MIGRATION)
"""Changes that give consumers a new version to rely on (rule 3); flags and config do not."""
_RELIANT = (ChangeKind.DEPLOY, ChangeKind.CONFIG, ChangeKind.FEATURE_FLAG)
"""Changes of a consumer that may rely on its provider's new version."""


def _acts_on(change: Change) -> str:
    """The service a change altered: a migration's database, else the change's service."""
    if change.kind == ChangeKind.MIGRATION and change.database:
        return change.database
    return change.service


@dataclass(kw_only=True)
class _Draft:
    change: Change
    stage: Stage
    why: list[str] = field(default_factory=list)

    @property
    def acts_on(self) -> str:
        return _acts_on(self.change)

    @property
    def action(self) -> Action:
        if not self.change.revertible:
            return Action.MANUAL
        return _ACTION_OF[self.change.kind]


@dataclass(frozen=True, kw_only=True)
class StepPlan:
    """The ordered steps, their critical path, and what the planner noticed on the way."""

    steps: tuple[Step, ...]
    critical_path_seconds: int
    notes: tuple[str, ...]


def build_steps(
    chosen: Sequence[Scored],
    *,
    eligible: Sequence[Change],
    topology: Topology,
    down: Distances,
    default_seconds: Mapping[Action, int] = DEFAULT_SECONDS,
) -> StepPlan:
    """Turn the chosen suspects (best first) into ordered, staged steps.

    Args:
        chosen: the suspects to roll back; the first is the top suspect.
        eligible: every change that could be rolled back (in the window, before the incident);
            coupled changes are pulled in from here.
        topology: the service graph.
        down: hops from each alerting service to what it depends on (for ``verify``).
        default_seconds: duration of each action unless a service overrides it.
    """
    drafts: dict[str, _Draft] = {}
    for rank, item in enumerate(chosen, start=1):
        early = item.change.kind in (ChangeKind.FEATURE_FLAG, ChangeKind.CONFIG)
        stage = Stage.CONTAIN if early else Stage.PARTIAL if rank == 1 else Stage.FULL
        label = "top suspect" if rank == 1 else f"suspect #{rank}"
        reasons = "; ".join(item.reasons)
        drafts[item.change.id] = _Draft(
            change=item.change, stage=stage, why=[f"{label} (score {item.score:.2f}): {reasons}"]
        )
    notes: list[str] = []
    coupled = _pull_in_coupled(drafts, eligible=eligible, topology=topology, notes=notes)
    uses_db = _align_migrations(drafts, topology=topology)
    firsts = coupled + [(app, m) for m, apps in uses_db.items() for app in apps]
    _settle_stages(drafts, firsts)

    order: nx.DiGraph = nx.DiGraph()
    order.add_nodes_from(drafts)
    for before, after in coupled:
        _constrain(order, before, after)
    for migration, apps in uses_db.items():
        for app in apps:
            _constrain(order, app, migration)
    _order_within_stages(order, drafts, topology=topology, notes=notes)
    _chain_stages(order, drafts)

    reduced = nx.transitive_reduction(order)
    ranked = list(
        nx.lexicographical_topological_sort(reduced, key=lambda cid: _sort_key(drafts[cid]))
    )
    ids = {cid: f"s{i}" for i, cid in enumerate(ranked, start=1)}
    steps = tuple(
        _step(
            drafts[cid],
            step_id=ids[cid],
            after=tuple(sorted((ids[p] for p in reduced.predecessors(cid)), key=_id_number)),
            topology=topology,
            down=down,
            default_seconds=default_seconds,
        )
        for cid in ranked
    )
    return StepPlan(steps=steps, critical_path_seconds=critical_path(steps), notes=tuple(notes))


def _pull_in_coupled(
    drafts: dict[str, _Draft],
    *,
    eligible: Sequence[Change],
    topology: Topology,
    notes: list[str],
) -> list[tuple[str, str]]:
    """Rule 3: a consumer changed after its provider goes first. Returns (before, after) pairs."""
    by_service: dict[str, list[Change]] = {}
    for change in eligible:
        if change.kind in _RELIANT:
            by_service.setdefault(change.service, []).append(change)
    pairs: list[tuple[str, str]] = []
    queue = list(drafts)
    while queue:
        provider = drafts[queue.pop(0)]
        if provider.change.kind not in _NEW_VERSION:
            continue
        for consumer in topology.consumers(provider.acts_on):
            for change in by_service.get(consumer, ()):
                if change.at <= provider.change.at:
                    continue
                early = change.kind in (ChangeKind.FEATURE_FLAG, ChangeKind.CONFIG)
                stage = Stage.CONTAIN if early else provider.stage
                reason = (
                    f"coupled: {consumer} changed ({change.id}) after {provider.acts_on} "
                    f"({provider.change.id}) and may rely on its new version, so it is rolled "
                    "back first"
                )
                if change.id not in drafts:
                    drafts[change.id] = _Draft(change=change, stage=stage, why=[reason])
                    queue.append(change.id)
                    notes.append(f"{change.id} on {consumer} pulled in: {reason}")
                else:
                    draft = drafts[change.id]
                    if _STAGES.index(draft.stage) > _STAGES.index(stage):
                        draft.stage = stage
                    draft.why.append(reason)
                pairs.append((change.id, provider.change.id))
    return pairs


def _align_migrations(drafts: dict[str, _Draft], *, topology: Topology) -> dict[str, list[str]]:
    """Rule 2: each migration waits for the application steps on services using its database.

    Returns ``{migration: [app steps]}``; :func:`_settle_stages` then moves any such application
    step planned for a later stage up to the migration's.
    """
    result: dict[str, list[str]] = {}
    for cid, draft in drafts.items():
        if draft.change.kind != ChangeKind.MIGRATION:
            continue
        database = draft.acts_on
        users = set(topology.consumers(database)) if database in topology else set()
        if draft.change.service != database:
            users.add(draft.change.service)
        apps = [
            other
            for other, d in drafts.items()
            if other != cid and d.change.service in users and d.change.kind in _APP_KINDS
        ]
        if apps:
            draft.why.append(
                f"reverted after the application steps that use {database} "
                f"({', '.join(sorted(drafts[a].change.service for a in apps))})"
            )
        result[cid] = apps
    return result


def _settle_stages(drafts: Mapping[str, _Draft], firsts: Sequence[tuple[str, str]]) -> None:
    """Move each step that must run before another up to that step's stage, if it is later.

    Stages only ever move earlier, so this reaches a fixed point.
    """
    changed = True
    while changed:
        changed = False
        for before, after in firsts:
            b, a = drafts[before], drafts[after]
            if _STAGES.index(b.stage) > _STAGES.index(a.stage):
                b.stage = a.stage
                b.why.append(f"moved to stage {a.stage.value} to run before {after}")
                changed = True


def _order_within_stages(
    order: nx.DiGraph, drafts: Mapping[str, _Draft], *, topology: Topology, notes: list[str]
) -> None:
    """Rules 3 and 4 inside each stage."""
    reach = reachability(topology, {d.acts_on for d in drafts.values()})
    for stage in _STAGES:
        members = sorted(
            (cid for cid, d in drafts.items() if d.stage == stage),
            key=lambda cid: (drafts[cid].acts_on, -drafts[cid].change.at.timestamp(), cid),
        )
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                sa, sb = drafts[a].acts_on, drafts[b].acts_on
                a_uses_b = sb in reach.get(sa, frozenset())
                b_uses_a = sa in reach.get(sb, frozenset())
                if sa == sb or (a_uses_b and b_uses_a):
                    _constrain(order, a, b)  # newer first, or by name on a cycle
                    if sa != sb:
                        notes.append(f"{sa} and {sb} depend on each other (cycle): ordered by name")
                elif a_uses_b:
                    _constrain(order, a, b)
                elif b_uses_a:
                    _constrain(order, b, a)
        for a in members:
            for b in members:
                early_a = drafts[a].action in _EARLY
                if early_a and drafts[b].action == Action.ROLLBACK_DEPLOY:
                    _constrain(order, a, b)


def _chain_stages(order: nx.DiGraph, drafts: Mapping[str, _Draft]) -> None:
    """Rule 5: every step of a stage after every step of the previous non-empty stage."""
    previous: list[str] = []
    for stage in _STAGES:
        members = [cid for cid, d in drafts.items() if d.stage == stage]
        if not members:
            continue
        inside = order.subgraph(members)
        sinks = [cid for cid in members if inside.out_degree(cid) == 0]
        sources = [cid for cid in members if inside.in_degree(cid) == 0]
        for before in previous:
            for after in sources:
                _constrain(order, before, after)
        previous = sinks


def _constrain(order: nx.DiGraph, before: str, after: str) -> None:
    """Add ``before -> after`` unless it would close a cycle (a stronger rule already decided)."""
    if before == after or order.has_edge(before, after):
        return
    if nx.has_path(order, after, before):
        return
    order.add_edge(before, after)


def _sort_key(draft: _Draft) -> tuple[int, int, str, str]:
    action_rank = list(Action).index(draft.action)
    return (_STAGES.index(draft.stage), action_rank, draft.change.service, draft.change.id)


def _id_number(step_id: str) -> int:
    return int(step_id[1:])


def _step(
    draft: _Draft,
    *,
    step_id: str,
    after: tuple[str, ...],
    topology: Topology,
    down: Distances,
    default_seconds: Mapping[Action, int],
) -> Step:
    change = draft.change
    service = topology.services[change.service]
    action = draft.action
    risk = _BASE_RISK[action]
    if service.tier == Tier.CRITICAL and risk == Risk.HIGH:
        risk = Risk.CRITICAL
    elif service.kind != ServiceKind.SERVICE and action == Action.ROLLBACK_DEPLOY:
        risk = Risk.HIGH  # a datastore's own rollback can lose writes
    critical = service.tier == Tier.CRITICAL or risk in (Risk.HIGH, Risk.CRITICAL)
    rollback = service.rollback or RollbackTarget()
    executor: str | None
    if action == Action.MANUAL:
        executor = None
    elif action == Action.DISABLE_FLAG:
        executor = rollback.flags or "feature_flags"
    else:
        executor = rollback.executor
    explained = sorted(a for a, hops in down.items() if change.service in hops)
    verify = [change.service, *(a for a in explained if a != change.service)]
    warning = None
    if not change.revertible:
        warning = (
            f"irreversible {change.kind.value} ({change.summary or change.id}): Backout will not "
            "run it; restore by hand (for a migration, from a backup), then mark the step done"
        )
    elif action == Action.MANUAL:
        warning = f"no automatic rollback for a {change.kind.value} change: revert it by hand"
    return Step(
        id=step_id,
        stage=draft.stage,
        action=action,
        service=change.service,
        change_id=change.id,
        target_version=change.from_version,
        after=after,
        risk=risk,
        approvals_required=2 if critical else 1,
        executor=executor,
        estimated_seconds=service.estimated_seconds.get(action, default_seconds[action]),
        verify={"services": tuple(verify)},
        why="; ".join(draft.why),
        flag=change.flag,
        warning=warning,
        bad_version=change.to_version,
        target=rollback.params(),
    )
