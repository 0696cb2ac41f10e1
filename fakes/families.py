"""Messy-incident families on top of generator A (:mod:`fakes.scenarios`), and their accuracy.

Each family takes a clean scenario from :func:`fakes.scenarios.generate` and adds what real
incidents look like (issue 8), keeping the right answer known and fair:

* ``chronic``: one to three alerts that started 2 to 8 hours before the burst, on any service
  (sometimes a long-standing warning on an alerting service itself);
* ``flapping``: an alert on an unrelated service that resolved and fired again, its latest start
  1 to 25 minutes before the burst;
* ``exporter``: alerts from node-exporter and kube-state-metrics and on a look-alike name of an
  alerting service (a Cyrillic letter, a ``-canary`` suffix), started before the burst;
* ``two-clusters``: a second culprit (a deploy) on a service unrelated to the first one's
  alerting services, with its own alerting services; both must be rolled back;
* ``external``: no culprit. An external provider, with no recorded change, that three to five
  services (none calling another) call fails; some of them were deployed recently. The plan
  must abstain;
* ``coupled``: consumers of the culprit's service changed after it (any kind: deploy, config,
  flag, migration), and consumers of those after them, up to three hops;
* ``security``: the culprit carries a security fix (a CVE or GHSA id in its summary);
* ``base``: the clean scenario.

:func:`measure` plans every case with a planner function and counts, per family, the top
suspect being a culprit, correct abstentions and plans breaking a rule of the independent oracle
(:func:`fakes.scenarios.plan_violations`, given the true start).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import networkx as nx

from fakes.scenarios import WINDOW, Scenario, generate, plan_violations
from planners.model import Alert, AlertStatus, Change, ChangeKind, Service, ServiceKind

__all__ = ["FAMILIES", "Case", "Row", "generate_case", "measure", "table"]

FAMILIES = (
    "base",
    "chronic",
    "flapping",
    "exporter",
    "two-clusters",
    "external",
    "coupled",
    "security",
)


@dataclass(frozen=True, kw_only=True)
class Case:
    """One incident of a family: the scenario, its culprits (none: abstain) and true start."""

    family: str
    scenario: Scenario
    culprits: tuple[str, ...]
    start: datetime

    @property
    def abstain(self) -> bool:
        """Whether the right plan abstains (no recorded change explains the incident)."""
        return not self.culprits


def _graph(services: Sequence[Service]) -> nx.DiGraph:
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(s.name for s in services)
    graph.add_edges_from((s.name, t) for s in services for t in s.depends_on)
    return graph


def _alert(rng: random.Random, service: str, name: str, at: datetime, **kw: Any) -> Alert:
    return Alert(
        fingerprint=f"{rng.getrandbits(64):016x}",
        service=service,
        name=name,
        severity=kw.pop("severity", "critical"),
        started_at=at.replace(microsecond=0),
        summary=f"{service}: {name}",
        labels={"alertname": name, "service": service},
        source="alertmanager",
        **kw,
    )


def _explains(graph: nx.DiGraph, service: str, alerting: Sequence[str]) -> int:
    return sum(1 for a in alerting if a == service or nx.has_path(graph, a, service))


def generate_case(family: str, seed: int) -> Case:
    """The ``family`` case of ``seed`` (deterministic)."""
    base = generate(seed)
    rng = random.Random(f"{family}:{seed}")
    start = base.started_at
    graph = _graph(base.topology_services)
    case = Case(family=family, scenario=base, culprits=(base.culprit_id,), start=start)
    alerting = base.alerting
    related = set(alerting) | {base.culprit.service}
    for a in alerting:
        related |= nx.descendants(graph, a) | nx.ancestors(graph, a)
    unrelated = sorted(set(graph) - related) or sorted(set(graph) - set(alerting))
    if family == "chronic":
        extra = []
        for _ in range(rng.randint(1, 3)):
            service = rng.choice(sorted(graph) if rng.random() < 0.7 else alerting)
            at = start - timedelta(minutes=rng.randint(120, 480))
            extra.append(_alert(rng, service, "DiskWillFillIn4h", at, severity="warning"))
        case = _with(case, alerts=[*base.alerts, *extra])
    elif family == "flapping":
        service = rng.choice(unrelated)
        latest = start - timedelta(minutes=rng.randint(1, 25))
        extra = [
            _alert(rng, service, "PodCrashLooping", latest - timedelta(minutes=m), status=status)
            for m, status in ((40, AlertStatus.RESOLVED), (0, AlertStatus.FIRING))
        ]
        case = _with(case, alerts=[*base.alerts, *extra])
    elif family == "exporter":
        victim = rng.choice(alerting)
        lookalike = victim.replace("o", "\u043e", 1) if "o" in victim else victim + "-canary"
        extra = [
            _alert(rng, name, alert, start - timedelta(minutes=rng.randint(5, 60)))
            for name, alert in (
                ("node-exporter", "NodeFilesystemAlmostFull"),
                ("kube-state-metrics", "KubePodNotReady"),
                (lookalike, "HighErrorRate"),
            )
        ]
        case = _with(case, alerts=[*base.alerts, *extra])
    elif family == "two-clusters":
        case = _two_clusters(case, rng, graph)
    elif family == "external":
        case = _external(case, rng, graph)
    elif family == "coupled":
        case = _coupled(case, rng, graph)
    elif family == "security":
        fix = rng.choice(("CVE-2026-1234", "GHSA-j8r2-6x86-q33q", "CVE-2025-48734"))
        culprit = base.culprit
        patched = culprit.model_copy(update={"summary": f"{culprit.summary} (fixes {fix})"})
        changes = [patched if c.id == culprit.id else c for c in base.changes]
        case = _with(case, changes=changes)
    elif family != "base":
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    return case


def _with(case: Case, **fields: Any) -> Case:
    return replace(case, scenario=replace(case.scenario, **fields))


def _in_window(change: Change, start: datetime) -> bool:
    return start - WINDOW <= change.at <= start + timedelta(minutes=2)


def _two_clusters(case: Case, rng: random.Random, graph: nx.DiGraph) -> Case:
    base = case.scenario
    first = base.culprit.service
    taken = set(base.alerting) | {first} | nx.descendants(graph, first)
    for a in base.alerting:
        taken |= nx.descendants(graph, a)
    options = []
    for x in sorted(graph):
        if x in taken:
            continue
        users = [
            u
            for u in nx.ancestors(graph, x)
            if u not in taken and first not in nx.descendants(graph, u)
        ]
        options.append((x, sorted(users)))
    if not options:
        return case
    anchor, users = rng.choice(options)
    second_alerting = sorted({anchor, *rng.sample(users, min(len(users), rng.randint(0, 2)))})
    if any(_explains(graph, first, [s]) for s in second_alerting):
        return case
    culprit2 = Change(
        id="chg-second",
        service=anchor,
        kind=ChangeKind.DEPLOY,
        at=case.start - timedelta(minutes=rng.randint(5, 60)),
        from_version="v2.3.0",
        to_version="v2.4.0",
        actor="erin",
        source="argocd",
        summary="new serializer",
    )
    # Fair: nothing else in the window explains the second cluster.
    below = set(second_alerting).union(*(nx.descendants(graph, s) for s in second_alerting))
    kept = [c for c in base.changes if not (_in_window(c, case.start) and c.service in below)]
    alerts = [
        *base.alerts,
        *(
            _alert(rng, s, "HighErrorRate", case.start + timedelta(minutes=rng.randint(0, 8)))
            for s in second_alerting
        ),
    ]
    scenario = replace(
        base,
        changes=[*kept, culprit2],
        alerts=alerts,
        alerting=sorted({*base.alerting, *second_alerting}),
    )
    return replace(case, scenario=scenario, culprits=(base.culprit_id, culprit2.id))


def _external(case: Case, rng: random.Random, graph: nx.DiGraph) -> Case:
    base = case.scenario
    services = [s.name for s in base.topology_services if s.kind == ServiceKind.SERVICE]
    victims: list[str] = []
    wanted = rng.randint(3, 5)
    for name in rng.sample(services, len(services)):
        # Victims that do not call each other: a victim's deploy explains only itself.
        if all(
            not nx.has_path(graph, name, v) and not nx.has_path(graph, v, name) for v in victims
        ):
            victims.append(name)
        if len(victims) == wanted:
            break
    victims.sort()
    provider = "email-provider"
    catalog = [
        s.model_copy(update={"depends_on": (*s.depends_on, provider)}) if s.name in victims else s
        for s in base.topology_services
    ]
    catalog.append(Service(name=provider, kind=ServiceKind.EXTERNAL, team="platform"))
    graph = _graph(catalog)
    start = case.start
    # Fair: no change in the window explains more than one of the victims, bar deploys of the
    # victims themselves (the tempting decoys).
    kept = [
        c
        for c in base.changes
        if c.id != base.culprit_id
        and not (_in_window(c, start) and _explains(graph, c.service, victims) > 1)
    ]
    for index, victim in enumerate(rng.sample(victims, rng.randint(1, max(1, len(victims) - 1)))):
        kept.append(
            Change(
                id=f"chg-ext-{index}",
                service=victim,
                kind=ChangeKind.DEPLOY,
                at=start - timedelta(minutes=rng.randint(3, 90)),
                from_version="v1.0.0",
                to_version="v1.0.1",
                summary="routine release",
            )
        )
    alerts = [
        _alert(
            rng, v, "UpstreamErrors", start + timedelta(minutes=0 if i == 0 else rng.randint(0, 6))
        )
        for i, v in enumerate(victims)
    ]
    scenario = replace(
        base,
        topology_services=catalog,
        changes=kept,
        alerts=alerts,
        alerting=victims,
        culprit_id="",
    )
    return replace(case, scenario=scenario, culprits=())


def _coupled(case: Case, rng: random.Random, graph: nx.DiGraph) -> Case:
    base = case.scenario
    culprit = base.culprit
    provider = culprit.database or culprit.service
    alerting = base.alerting
    kinds = (ChangeKind.DEPLOY, ChangeKind.CONFIG, ChangeKind.FEATURE_FLAG, ChangeKind.MIGRATION)
    added: list[Change] = []
    frontier = [(provider, culprit.at)]
    for hop in range(rng.randint(1, 3)):
        nxt = []
        for service, at in frontier:
            users = [
                u
                for u in sorted(graph.predecessors(service))
                if 2 * _explains(graph, u, alerting) <= len(alerting) and u != culprit.service
            ]
            for user in rng.sample(users, min(len(users), rng.randint(1, 2))):
                latest = case.start - timedelta(seconds=30)
                if at >= latest - timedelta(seconds=60):
                    continue
                when = at + timedelta(seconds=rng.randint(30, int((latest - at).total_seconds())))
                kind = rng.choice(kinds)
                added.append(
                    Change(
                        id=f"chg-coupled-{hop}-{len(added)}",
                        service=user,
                        kind=kind,
                        at=when.replace(microsecond=0),
                        from_version="v1",
                        to_version="v2",
                        flag=f"{user}-new-path" if kind == ChangeKind.FEATURE_FLAG else None,
                        summary="adopt the provider's new API",
                    )
                )
                nxt.append((user, when))
        frontier = nxt
    return _with(case, changes=[*base.changes, *added])


@dataclass(frozen=True, kw_only=True)
class Row:
    """Accuracy on one family."""

    family: str
    cases: int
    top_right: int
    culprit_cases: int
    all_rolled_back: int
    abstained_right: int
    abstain_cases: int
    wrong_abstentions: int
    broken: int


def measure(
    plan: Callable[[Case], Mapping[str, Any]],
    seeds: Sequence[int],
    families: Sequence[str] = FAMILIES,
) -> list[Row]:
    """Plan every case of ``families`` for ``seeds`` with ``plan`` (a JSON plan per case)."""
    rows = []
    for family in families:
        counts = dict.fromkeys(
            ("top", "culprit", "all", "abst", "abst_cases", "wrong", "broken"), 0
        )
        for seed in seeds:
            case = generate_case(family, seed)
            result = plan(case)
            top = result["suspects"][0]["change_id"] if result["suspects"] else None
            steps = {s["change_id"] for s in result["steps"]}
            if case.abstain:
                counts["abst_cases"] += 1
                counts["abst"] += bool(result.get("abstained")) and not result["steps"]
            else:
                counts["culprit"] += 1
                counts["top"] += top in case.culprits
                counts["all"] += all(c in steps for c in case.culprits)
                counts["wrong"] += bool(result.get("abstained"))
            problems = plan_violations(
                result,
                services=case.scenario.topology_services,
                changes=case.scenario.changes,
                alerts=case.scenario.alerts,
                started_at=case.start,
            )
            counts["broken"] += bool(problems)
        rows.append(
            Row(
                family=family,
                cases=len(seeds),
                top_right=counts["top"],
                culprit_cases=counts["culprit"],
                all_rolled_back=counts["all"],
                abstained_right=counts["abst"],
                abstain_cases=counts["abst_cases"],
                wrong_abstentions=counts["wrong"],
                broken=counts["broken"],
            )
        )
    return rows


def table(rows: Sequence[Row]) -> str:
    """The rows as a markdown table, with a total line."""

    def rate(hits: int, total: int) -> str:
        return f"{hits / total:.2f} ({hits}/{total})" if total else "-"

    lines = [
        "| family | top suspect right | every culprit rolled back | correct abstention "
        "| wrong abstentions | plans breaking a rule |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.family} | {rate(r.top_right, r.culprit_cases)} "
            f"| {rate(r.all_rolled_back, r.culprit_cases)} "
            f"| {rate(r.abstained_right, r.abstain_cases)} | {r.wrong_abstentions} "
            f"| {r.broken} of {r.cases} |"
        )
    total = Row(
        family="**all**",
        cases=sum(r.cases for r in rows),
        top_right=sum(r.top_right for r in rows),
        culprit_cases=sum(r.culprit_cases for r in rows),
        all_rolled_back=sum(r.all_rolled_back for r in rows),
        abstained_right=sum(r.abstained_right for r in rows),
        abstain_cases=sum(r.abstain_cases for r in rows),
        wrong_abstentions=sum(r.wrong_abstentions for r in rows),
        broken=sum(r.broken for r in rows),
    )
    lines.append(
        f"| {total.family} | {rate(total.top_right, total.culprit_cases)} "
        f"| {rate(total.all_rolled_back, total.culprit_cases)} "
        f"| {rate(total.abstained_right, total.abstain_cases)} | {total.wrong_abstentions} "
        f"| {total.broken} of {total.cases} |"
    )
    return "\n".join(lines)
