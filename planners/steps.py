"""From the chosen suspects to ordered plan steps (DESIGN.md, planning rules 2 to 6).

The chosen changes become drafts with an action and a stage (``contain`` for flags and config,
``partial`` for the top suspect and what is coupled to it, ``full`` for the rest). Ordering
constraints are then added as edges ``u -> v`` ("u before v") in priority order, each one only if
it keeps the order acyclic, so that a more specific rule wins over a general one:

1. coupled changes (rule 3): a direct consumer whose change (deploy, config, flag or migration)
   came after the change of a provider being rolled back is pulled in, and so on along chains of
   such couplings; and whenever one step's service depends on another's, directly or
   transitively, and its change came after the other's, it runs first whatever the stages (it
   moves up to the provider's stage, or to ``contain`` for a flag or config change);
2. migrations are reverted after every application step that uses their database (such steps
   move up to the migration's stage);
3. in one stage, flag and config reverts before deploy rollbacks (a deploy is in ``contain``
   only when coupled to a flag or config change there);
4. in one stage, consumers before providers (transitively; services on one cycle by name), then
   the newer of two changes to one service first;
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
from planners.security import reopens
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
_RELIANT = (ChangeKind.DEPLOY, ChangeKind.CONFIG, ChangeKind.FEATURE_FLAG, ChangeKind.MIGRATION)
"""Changes of a consumer that may rely on its provider's new behaviour (rule 3)."""


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
    causes: int = 1,
    second: Scored | None = None,
) -> StepPlan:
    """Turn the chosen suspects (best first) into ordered, staged steps.

    Args:
        chosen: the suspects to roll back; the first is the top suspect.
        eligible: every change that could be rolled back (in the window, before the incident);
            coupled changes are pulled in from here.
        topology: the service graph.
        down: hops from each alerting service to what it depends on (for ``verify``).
        default_seconds: duration of each action unless a service overrides it.
        causes: how many of ``chosen`` are independent causes (1 or 2), each in ``partial``.
        second: the second cause as re-scored against the services it explains.
    """
    drafts: dict[str, _Draft] = {}
    for rank, item in enumerate(chosen, start=1):
        early = item.change.kind in (ChangeKind.FEATURE_FLAG, ChangeKind.CONFIG)
        stage = Stage.CONTAIN if early else Stage.PARTIAL if rank <= causes else Stage.FULL
        label = "top suspect" if rank == 1 else f"suspect #{rank}"
        reasons = "; ".join(item.reasons)
        if rank == 2 and causes == 2 and second is not None:
            label = "second, independent cause"
            reasons = (
                f"explains {', '.join(second.explains)}, which the top suspect leaves "
                f"unexplained (score {second.score:.2f} against them); " + "; ".join(second.reasons)
            )
        drafts[item.change.id] = _Draft(
            change=item.change, stage=stage, why=[f"{label} (score {item.score:.2f}): {reasons}"]
        )
    notes: list[str] = []
    _pull_in_coupled(drafts, eligible=eligible, topology=topology, notes=notes)
    coupled = _coupled_pairs(drafts, topology=topology)
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
    flags = {
        d.change.service: (ids[cid], d.change.flag or d.change.id)
        for cid, d in drafts.items()
        if d.change.kind == ChangeKind.FEATURE_FLAG
    }
    steps = tuple(
        _step(
            drafts[cid],
            step_id=ids[cid],
            after=tuple(sorted((ids[p] for p in reduced.predecessors(cid)), key=_id_number)),
            topology=topology,
            down=down,
            default_seconds=default_seconds,
            flag_step=flags.get(drafts[cid].change.service),
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
) -> None:
    """Rule 3, pulling in: a direct consumer changed after a change being rolled back, and so on
    along the chain. Any kind of change couples (a config revert can break a consumer that relied
    on it as much as a deploy can)."""
    by_service: dict[str, list[Change]] = {}
    for change in eligible:
        if change.kind in _RELIANT:
            by_service.setdefault(change.service, []).append(change)
    queue = list(drafts)
    while queue:
        provider = drafts[queue.pop(0)]
        if provider.acts_on not in topology:
            continue
        for consumer in topology.consumers(provider.acts_on):
            for change in by_service.get(consumer, ()):
                if change.at <= provider.change.at or change.id in drafts:
                    continue
                early = change.kind in (ChangeKind.FEATURE_FLAG, ChangeKind.CONFIG)
                stage = Stage.CONTAIN if early else provider.stage
                reason = _coupled_reason(change, provider.change, consumer, provider.acts_on)
                drafts[change.id] = _Draft(change=change, stage=stage, why=[reason])
                queue.append(change.id)
                notes.append(f"{change.id} on {consumer} pulled in: {reason}")


def _coupled_reason(consumer: Change, provider: Change, user: str, used: str) -> str:
    return (
        f"coupled: {user} changed ({consumer.id}) after {used} ({provider.id}) and may rely on "
        "its new behaviour, so it is rolled back first"
    )


def _coupled_pairs(drafts: dict[str, _Draft], *, topology: Topology) -> list[tuple[str, str]]:
    """Rule 3, order: every (consumer step, provider step) pair whose consumer depends on the
    provider, directly or transitively (not through a cycle), and was changed after it."""
    reach = reachability(topology, {d.acts_on for d in drafts.values()})
    pairs: list[tuple[str, str]] = []
    for cid, draft in drafts.items():
        uses = reach.get(draft.acts_on, frozenset())
        for other, provider in drafts.items():
            b = provider.acts_on
            if other == cid or b == draft.acts_on or b not in uses:
                continue
            if draft.acts_on in reach.get(b, frozenset()):
                continue  # on one cycle: no consumer side
            if draft.change.at > provider.change.at:
                pairs.append((cid, other))
                reason = _coupled_reason(draft.change, provider.change, draft.change.service, b)
                if reason not in draft.why:
                    draft.why.append(reason)
    return sorted(pairs)


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
    """Rules 3 and 4 inside each stage (flag and config first, then consumers first)."""
    reach = reachability(topology, {d.acts_on for d in drafts.values()})
    for stage in _STAGES:
        members = sorted(
            (cid for cid, d in drafts.items() if d.stage == stage),
            key=lambda cid: (drafts[cid].acts_on, -drafts[cid].change.at.timestamp(), cid),
        )
        for a in members:
            for b in members:
                early_a = drafts[a].action in _EARLY
                if early_a and drafts[b].action == Action.ROLLBACK_DEPLOY:
                    _constrain(order, a, b)
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                sa, sb = drafts[a].acts_on, drafts[b].acts_on
                a_uses_b = sb in reach.get(sa, frozenset())
                b_uses_a = sa in reach.get(sb, frozenset())
                if sa == sb:
                    continue
                if a_uses_b and b_uses_a:
                    _constrain(order, a, b)  # by name on a cycle
                    notes.append(f"{sa} and {sb} depend on each other (cycle): ordered by name")
                elif a_uses_b:
                    _constrain(order, a, b)
                elif b_uses_a:
                    _constrain(order, b, a)
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if drafts[a].acts_on == drafts[b].acts_on:
                    _constrain(order, a, b)  # one service: the newer change first


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
    flag_step: tuple[str, str] | None = None,
) -> Step:
    change = draft.change
    service = topology.services[change.service]
    action = draft.action
    risk = _BASE_RISK[action]
    if service.tier == Tier.CRITICAL and risk == Risk.HIGH:
        risk = Risk.CRITICAL
    elif service.kind != ServiceKind.SERVICE and action == Action.ROLLBACK_DEPLOY:
        risk = Risk.HIGH  # a datastore's own rollback can lose writes
    security = reopens(change)
    if security and risk in (Risk.LOW, Risk.MEDIUM):
        risk = Risk.HIGH  # undoing a security fix needs people, never autopilot
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
    if security:
        alternative = (
            f"turning off flag {flag_step[1]} ({flag_step[0]}) may be enough"
            if flag_step is not None and change.kind != ChangeKind.FEATURE_FLAG
            else "prefer a forward fix or a flag that turns the new code path off"
        )
        reopened = f"rolling back re-opens {', '.join(security)}; {alternative}"
        warning = f"{reopened}. {warning}" if warning else reopened
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
        security=security,
    )
