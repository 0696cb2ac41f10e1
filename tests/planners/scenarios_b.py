"""A second, independent incident generator: layered platforms with gateways, BFFs and shared infra.

Written from the issue's wording alone, to check that the planner does not overfit the first
generator. Each seed draws a topology of 15 to 60 nodes in layers: edge gateways call BFFs, BFFs
call tiers of domain services, domain services call deeper tiers, shared platform services (auth,
config, a flag service, an event bus, a session cache), their own databases and a few external
providers; some seeds add back-edges, so the graph has cycles.

One change is the culprit (mostly a deploy; sometimes a feature flag, a config change, or a
migration filed on a database or on the application that owns it, sometimes irreversible). It
happens 2 to 110 minutes before the first alert. One to five services that depend on the
culprit's service (possibly the service itself) alert; in about a fifth of the seeds a flapping
alert fires too, on a service that neither uses nor is used by the culprit's service (and, when the
graph allows it, is unrelated to every alerting service). Around it:

- decoys: changes more recent than the culprit on services that cannot explain the symptoms
  (neither an alerting service nor anything one depends on), mostly deploys, often on consumers;
- background: older changes anywhere; one on a service that explains the symptoms at least as
  well as the culprit (covers as many alerting services, at no greater mean distance) is at least
  30 minutes older than the culprit;
- late changes: made after the incident began (more than the 2 minutes of clock skew), also on
  the culprit's service and on alerting services;
- now and then an old, resolved alert, which must not start the incident.

:func:`generate` is deterministic in its seed. :attr:`ScenarioB.baseline_id` is the naive guess
(the most recent deploy before the first alert).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import networkx as nx

from planners.model import Alert, AlertStatus, Change, ChangeKind, Service, ServiceKind, Tier
from planners.topology import Fragment, Topology, build_topology

__all__ = [
    "CLOCK_SKEW",
    "COMPETITOR_GAP",
    "ScenarioB",
    "explains",
    "generate",
]

CLOCK_SKEW = timedelta(minutes=2)
"""Changes later than this after the first alert cannot be the cause (DESIGN.md)."""

COMPETITOR_GAP = timedelta(minutes=30)
"""How much older than the culprit a background change that explains as well must be."""

_EPOCH = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)

_GATEWAYS = ("edge-gw", "mobile-gw", "partner-gw")
_BFFS = ("web-bff", "ios-bff", "android-bff", "tv-bff")
_EXTERNALS = ("payments-provider", "sms-gateway", "maps-api")
_DOMAIN_WORDS = (
    "orders", "cart", "checkout", "catalog", "pricing", "inventory", "shipping", "ledger",
    "billing", "search", "reviews", "recommend", "profile", "loyalty", "coupons", "tax", "fraud",
    "notify", "media", "geo", "returns", "wishlist", "quotes", "payouts", "invoices",
    "subscriptions", "sessions", "ads", "currency", "warehouse", "carrier", "kyc", "consent",
    "bundles", "giftcards", "rewards", "audit", "exports", "imports", "webhooks",
)  # fmt: skip
_FLAG_WORDS = ("new-flow", "fast-path", "beta-ui", "async-write", "v2-api", "bulk-mode", "retry")
_ALERT_NAMES = (
    "HighErrorRate", "LatencyP99High", "Http5xxBurst", "SaturationHigh", "ApdexLow",
    "PodRestarts", "QueueLagHigh",
)  # fmt: skip
_NOISE_NAMES = ("DiskUsageFlapping", "CertExpirySoon", "CronJobMissed", "NodeNotReadyFlap")


@dataclass(frozen=True, kw_only=True)
class ScenarioB:
    """One generated incident, with the answer and what each change is for.

    Attributes:
        seed: the seed it came from.
        services: the topology's declarations.
        changes: every change, shuffled (ids do not reveal their order).
        alerts: every alert, firing and resolved, shuffled.
        now: the planner's clock.
        first_alert: when the first firing alert started (the incident start).
        culprit_id: the change that caused it.
        baseline_id: the most recent deploy before the first alert (the naive guess).
        alerting: the services whose alerts are real symptoms.
        noisy: the service of the unrelated flapping alert, if any.
        roles: ``{change_id: culprit | decoy | background | competitor | late}``; a
            ``competitor`` is a background change that explains the symptoms as well as the culprit.
        shape: a few words on how the scenario was drawn, for diagnoses.
    """

    seed: int
    services: tuple[Service, ...]
    changes: tuple[Change, ...]
    alerts: tuple[Alert, ...]
    now: datetime
    first_alert: datetime
    culprit_id: str
    baseline_id: str | None
    alerting: tuple[str, ...]
    noisy: str | None
    roles: dict[str, str]
    shape: dict[str, object] = field(default_factory=dict)

    def topology(self) -> Topology:
        """The topology, built the way every loader's output is."""
        topology, _ = build_topology([Fragment(origin="scenarios_b", services=list(self.services))])
        return topology

    def graph(self) -> nx.DiGraph:
        """``A -> B`` when A depends on B."""
        graph = nx.DiGraph()
        for service in self.services:
            graph.add_node(service.name)
            graph.add_edges_from((service.name, dep) for dep in service.depends_on)
        return graph

    @property
    def culprit(self) -> Change:
        """The culprit change."""
        return next(c for c in self.changes if c.id == self.culprit_id)

    def change(self, change_id: str) -> Change:
        """The change with this id."""
        return next(c for c in self.changes if c.id == change_id)


def explains(graph: nx.DiGraph, service: str, symptoms: Iterable[str]) -> tuple[int, float]:
    """How well a change on ``service`` explains alerts on ``symptoms``.

    Returns:
        (how many of the symptoms are ``service`` or depend on it, the mean hop count to it
        over those); ``(0, inf)`` when it explains none.
    """
    hops = [
        nx.shortest_path_length(graph, symptom, service)
        for symptom in symptoms
        if symptom == service or (service in graph and nx.has_path(graph, symptom, service))
    ]
    if not hops:
        return 0, math.inf
    return len(hops), sum(hops) / len(hops)


def _at_least_as_good(candidate: tuple[int, float], culprit: tuple[int, float]) -> bool:
    covered, mean = candidate
    return covered > 0 and (covered > culprit[0] or (covered == culprit[0] and mean <= culprit[1]))


# --- topology ---------------------------------------------------------------------------------


@dataclass(kw_only=True)
class _Net:
    """The graph under construction: kinds, tiers, roles and edges by name."""

    kind: dict[str, ServiceKind] = field(default_factory=dict)
    tier: dict[str, Tier] = field(default_factory=dict)
    role: dict[str, str] = field(default_factory=dict)
    deps: dict[str, list[str]] = field(default_factory=dict)
    owner: dict[str, str] = field(default_factory=dict)  # database -> domain service owning it

    def add(self, name: str, kind: ServiceKind, role: str, tier: Tier = Tier.STANDARD) -> None:
        self.kind[name] = kind
        self.tier[name] = tier
        self.role[name] = role
        self.deps[name] = []

    def link(self, source: str, target: str) -> None:
        if source != target and target not in self.deps[source]:
            self.deps[source].append(target)

    def named(self, role: str) -> list[str]:
        return [n for n, r in self.role.items() if r == role]

    def services(self) -> tuple[Service, ...]:
        return tuple(
            Service(
                name=name,
                tier=self.tier[name],
                kind=self.kind[name],
                depends_on=tuple(self.deps[name]),
                team=f"team-{self.role[name]}",
            )
            for name in self.kind
        )


def _build_net(rng: random.Random, size: int) -> tuple[_Net, dict[str, object]]:
    gateways = list(_GATEWAYS[: rng.randint(1, 3)])
    bffs = list(_BFFS[: rng.randint(1, 4)])
    extras = rng.sample(["config", "flags", "bus", "cache"], rng.randint(2, 4))
    externals = rng.sample(_EXTERNALS, rng.randint(0, 2))

    def fixed() -> int:
        extra_nodes = sum(2 if e == "config" else 1 for e in extras)
        return len(gateways) + len(bffs) + 2 + extra_nodes + len(externals)

    # Small graphs keep at least six domain nodes: drop optional pieces until they fit.
    while fixed() > size - 6:
        if len(externals) > 0:
            externals.pop()
        elif len(extras) > 1:
            extras.pop()
        elif len(bffs) > 1:
            bffs.pop()
        else:
            gateways.pop()

    net = _Net()
    for name in gateways:
        net.add(name, ServiceKind.SERVICE, "gateway", Tier.CRITICAL)
    for name in bffs:
        net.add(name, ServiceKind.SERVICE, "bff", rng.choice([Tier.CRITICAL, Tier.STANDARD]))
    net.add("auth", ServiceKind.SERVICE, "platform", Tier.CRITICAL)
    net.add("auth-db", ServiceKind.DATABASE, "store", Tier.CRITICAL)
    net.link("auth", "auth-db")
    net.owner["auth-db"] = "auth"
    if "config" in extras:
        net.add("config-svc", ServiceKind.SERVICE, "platform")
        net.add("config-store", ServiceKind.DATABASE, "store")
        net.link("config-svc", "config-store")
        net.owner["config-store"] = "config-svc"
    if "flags" in extras:
        net.add("flag-svc", ServiceKind.SERVICE, "platform")
        if "config" in extras and rng.random() < 0.5:
            net.link("flag-svc", "config-svc")
    if "bus" in extras:
        net.add("event-bus", ServiceKind.QUEUE, "platform", Tier.CRITICAL)
    if "cache" in extras:
        net.add("session-cache", ServiceKind.CACHE, "platform")
        if rng.random() < 0.7:
            net.link("auth", "session-cache")
    for name in externals:
        net.add(name, ServiceKind.EXTERNAL, "external")

    # Domain services, in 2 to 4 tiers, each owning its database about half the time.
    n_tiers = rng.randint(2, 4)
    words = rng.sample(_DOMAIN_WORDS, len(_DOMAIN_WORDS))
    tiers: list[list[str]] = [[] for _ in range(n_tiers)]
    index = 0
    while len(net.kind) < size:
        word = words[index % len(words)] + ("" if index < len(words) else str(index))
        name = f"{word}-svc"
        index += 1
        level = index - 1 if index <= n_tiers else rng.randrange(n_tiers)
        tiers[level].append(name)
        net.add(
            name,
            ServiceKind.SERVICE,
            "domain",
            rng.choice([Tier.CRITICAL, *[Tier.STANDARD] * 3, Tier.LOW]),
        )
        if len(net.kind) < size and rng.random() < 0.45:
            db = f"{word}-db"
            net.add(db, ServiceKind.DATABASE, "store")
            net.link(name, db)
            net.owner[db] = name

    platform_services = [n for n in ("auth", "config-svc", "flag-svc") if n in net.kind]
    databases = [n for n in net.kind if net.kind[n] == ServiceKind.DATABASE and n != "auth-db"]
    for gateway in gateways:
        for bff in bffs:
            if rng.random() < 0.7:
                net.link(gateway, bff)
        if not net.deps[gateway]:
            net.link(gateway, rng.choice(bffs))
        if rng.random() < 0.8:
            net.link(gateway, "auth")
    for bff in bffs:
        if not any(bff in net.deps[g] for g in gateways):
            net.link(rng.choice(gateways), bff)
        for target in rng.sample(tiers[0], min(len(tiers[0]), rng.randint(1, 4))):
            net.link(bff, target)
        if rng.random() < 0.5:
            net.link(bff, "auth")
        if "flag-svc" in net.kind and rng.random() < 0.4:
            net.link(bff, "flag-svc")
        if "session-cache" in net.kind and rng.random() < 0.3:
            net.link(bff, "session-cache")
    for level, names in enumerate(tiers):
        deeper = [n for t in tiers[level + 1 :] for n in t]
        for name in names:
            if deeper:
                nearest = tiers[level + 1]
                for _ in range(rng.choice([0, 1, 1, 2, 3])):
                    net.link(name, rng.choice(nearest if rng.random() < 0.6 else deeper))
            for platform, chance in (("auth", 0.25), ("config-svc", 0.3), ("flag-svc", 0.2)):
                if platform in net.kind and rng.random() < chance:
                    net.link(name, platform)
            if "event-bus" in net.kind and rng.random() < 0.3:
                net.link(name, "event-bus")
            if "session-cache" in net.kind and rng.random() < 0.15:
                net.link(name, "session-cache")
            if databases and rng.random() < 0.1:
                net.link(name, rng.choice(databases))  # a database shared with its owner
            if externals and level > 0 and rng.random() < 0.2:
                net.link(name, rng.choice(externals))
    # Everything below the BFFs has at least one consumer.
    for level, names in enumerate(tiers):
        shallower = bffs if level == 0 else [n for t in tiers[:level] for n in t]
        for name in names:
            if not any(name in net.deps[other] for other in net.kind):
                net.link(rng.choice(shallower), name)
    for name in [*databases, *externals, *platform_services, "event-bus", "session-cache"]:
        if name in net.kind and not any(name in net.deps[other] for other in net.kind):
            net.link(rng.choice([n for t in tiers for n in t]), name)

    cyclic = rng.random() < 0.3
    if cyclic:
        for _ in range(rng.randint(1, 2)):
            level = rng.randrange(1, n_tiers)
            net.link(rng.choice(tiers[level]), rng.choice(tiers[rng.randrange(level)]))
        if rng.random() < 0.3:
            users = [n for t in tiers for n in t if "auth" in net.deps[n]]
            if users:
                net.link("auth", rng.choice(users))
    shape: dict[str, object] = {"size": size, "tiers": n_tiers, "back_edges": cyclic}
    return net, shape


# --- changes ----------------------------------------------------------------------------------


@dataclass(kw_only=True)
class _Ids:
    rng: random.Random
    used: set[int] = field(default_factory=set)

    def next(self) -> str:
        while True:
            number = self.rng.randint(1000, 9999)
            if number not in self.used:
                self.used.add(number)
                return f"chg-{number}"


def _change(
    rng: random.Random,
    ids: _Ids,
    net: _Net,
    service: str,
    kind: ChangeKind,
    at: datetime,
    *,
    revertible: bool = True,
    database: str | None = None,
) -> Change:
    major, minor = rng.randint(1, 9), rng.randint(0, 40)
    flag = None
    if kind == ChangeKind.FEATURE_FLAG:
        flag = f"{service.removesuffix('-svc')}.{rng.choice(_FLAG_WORDS)}"
        versions = ("off", "on")
    elif kind == ChangeKind.CONFIG:
        versions = (f"cfg-{minor}", f"cfg-{minor + 1}")
    elif kind == ChangeKind.MIGRATION:
        versions = (f"{major:04d}{minor:02d}", f"{major:04d}{minor + 1:02d}")
    elif kind == ChangeKind.INFRA:
        versions = (f"node-pool-{minor}", f"node-pool-{minor + 1}")
    else:
        versions = (f"v{major}.{minor}.{rng.randint(0, 9)}", f"v{major}.{minor + 1}.0")
    return Change(
        id=ids.next(),
        service=service,
        kind=kind,
        at=at,
        from_version=versions[0],
        to_version=versions[1],
        revertible=revertible,
        flag=flag,
        database=database,
        actor=rng.choice(["ci-bot", "alice", "bob", "argo"]),
        summary=f"{kind.value} on {service}",
    )


def _kind_for(rng: random.Random, net: _Net, service: str) -> ChangeKind:
    """A plausible kind of change for a node."""
    kind = net.kind[service]
    if kind == ServiceKind.DATABASE:
        return rng.choice([ChangeKind.MIGRATION, ChangeKind.MIGRATION, ChangeKind.INFRA])
    if kind in (ServiceKind.CACHE, ServiceKind.QUEUE):
        return rng.choice([ChangeKind.CONFIG, ChangeKind.INFRA, ChangeKind.DEPLOY])
    return rng.choices(
        [ChangeKind.DEPLOY, ChangeKind.CONFIG, ChangeKind.FEATURE_FLAG], weights=[6, 2, 2]
    )[0]


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=round(rng.uniform(low, high) * 60))


def generate(seed: int) -> ScenarioB:
    """The scenario of ``seed`` (same seed, same scenario)."""
    rng = random.Random(f"scenarios_b:{seed}")
    size = rng.randint(15, 60)
    net, shape = _build_net(rng, size)
    graph = nx.DiGraph()
    graph.add_nodes_from(net.kind)
    graph.add_edges_from((s, t) for s, deps in net.deps.items() for t in deps)
    ids = _Ids(rng=rng)
    roles: dict[str, str] = {}
    first_alert = _EPOCH + _minutes(rng, 0, 600)

    # The culprit: its kind, then where it lands. ``anchor`` is the service it is filed under.
    kind = rng.choices(
        [ChangeKind.DEPLOY, ChangeKind.FEATURE_FLAG, ChangeKind.CONFIG, ChangeKind.MIGRATION],
        weights=[55, 15, 15, 15],
    )[0]
    domain, bffs, platform = net.named("domain"), net.named("bff"), net.named("platform")
    apps = [n for n in platform if net.kind[n] == ServiceKind.SERVICE]
    database: str | None = None
    revertible = True
    if kind == ChangeKind.MIGRATION:
        db = rng.choice([n for n in net.kind if net.kind[n] == ServiceKind.DATABASE])
        revertible = rng.random() < 0.6
        users = sorted(graph.predecessors(db))
        if rng.random() < 0.5 and users:
            anchor, database = net.owner.get(db, rng.choice(users)), db
        else:
            anchor = db
    elif kind == ChangeKind.FEATURE_FLAG:
        anchor = rng.choice(domain * 3 + bffs)
    elif kind == ChangeKind.CONFIG:
        pool = domain * 3 + apps * 2 + [n for n in platform if n not in apps]
        anchor = rng.choice(pool)
    else:
        anchor = rng.choice(domain * 6 + apps * 2 + bffs)
    culprit_at = first_alert - _minutes(rng, 2, 110)
    culprit = _change(
        rng, ids, net, anchor, kind, culprit_at, revertible=revertible, database=database
    )
    roles[culprit.id] = "culprit"

    # Alerting services: the anchor's consumers, leaning towards the edge, maybe the anchor too.
    consumers = sorted(nx.ancestors(graph, anchor) - {anchor})
    wanted = rng.choices([1, 2, 3, 4, 5], weights=[25, 25, 20, 15, 15])[0]
    alerting: list[str] = []
    if not consumers or rng.random() < 0.35:
        alerting.append(anchor)
    pool = list(consumers)
    while pool and len(alerting) < wanted:
        weights = [3.0 if net.role[n] in ("gateway", "bff") else 1.5 for n in pool]
        pick = rng.choices(pool, weights=weights)[0]
        pool.remove(pick)
        alerting.append(pick)
    alerting.sort()

    # Where a symptom could come from; nothing newer than the culprit may land there.
    explaining = set(alerting).union(*(nx.descendants(graph, a) for a in alerting))
    noisy: str | None = None
    if rng.random() < 0.2:
        # Best on a service unrelated to every symptom; in dense graphs, one the alerting
        # services may use but that neither uses nor is used by the culprit's service.
        suspicious = set(alerting).union(*(nx.ancestors(graph, a) for a in alerting))
        suspicious |= {anchor} | nx.ancestors(graph, anchor) | nx.descendants(graph, anchor)
        quiet = sorted(n for n in net.kind if n not in suspicious | explaining)
        quiet = quiet or sorted(n for n in net.kind if n not in suspicious)
        if quiet:
            noisy = rng.choice(quiet)
            explaining |= {noisy} | nx.descendants(graph, noisy)
    symptoms = [*alerting, *([noisy] if noisy else [])]
    culprit_quality = explains(graph, anchor, symptoms)

    changes = [culprit]
    # Decoys: more recent than the culprit, where they cannot explain the symptoms.
    innocent = sorted(n for n in net.kind if n not in explaining and net.role[n] != "external")
    upstream = [n for n in innocent if any(nx.has_path(graph, n, a) for a in alerting)]
    gap = (first_alert - culprit_at).total_seconds() / 60
    n_deploys = rng.choice([0, 0, 0, 1, 2, 3, 4])
    n_other = rng.choice([0, 0, 1, 2])
    for index in range(n_deploys + n_other if innocent else 0):
        service = rng.choice(upstream if upstream and rng.random() < 0.5 else innocent)
        decoy_kind = ChangeKind.DEPLOY if index < n_deploys else _kind_for(rng, net, service)
        if index < n_deploys and net.kind[service] != ServiceKind.SERVICE:
            service = rng.choice(
                [n for n in innocent if net.kind[n] == ServiceKind.SERVICE] or [service]
            )
        at = culprit_at + _minutes(rng, min(0.5, gap / 4), gap - min(0.5, gap / 4))
        decoy = _change(rng, ids, net, service, decoy_kind, at)
        roles[decoy.id] = "decoy"
        changes.append(decoy)

    # Background: older than the culprit, anywhere; as good an explanation means 30 min older.
    for _ in range(rng.randint(3, 10)):
        service = rng.choice([n for n in net.kind if net.role[n] != "external"])
        bg_kind = _kind_for(rng, net, service)
        competitor = _at_least_as_good(explains(graph, service, symptoms), culprit_quality)
        low = COMPETITOR_GAP.total_seconds() / 60 if competitor else 0.5
        at = culprit_at - _minutes(rng, low, low + 150)
        bg = _change(
            rng,
            ids,
            net,
            service,
            bg_kind,
            at,
            revertible=bg_kind != ChangeKind.MIGRATION or rng.random() < 0.7,
        )
        roles[bg.id] = "competitor" if competitor else "background"
        changes.append(bg)

    # Late: after the incident began (beyond the clock skew), also where the symptoms are.
    for _ in range(rng.randint(1, 4)):
        service = rng.choice([anchor, anchor, *alerting, *net.kind])
        late_kind = _kind_for(rng, net, service)
        at = first_alert + CLOCK_SKEW + _minutes(rng, 0.5, 45)
        late = _change(rng, ids, net, service, late_kind, at)
        roles[late.id] = "late"
        changes.append(late)

    alerts = _alerts(rng, net, alerting, noisy, first_alert)
    last = max([*(c.at for c in changes), *(a.started_at for a in alerts)])
    before = [c for c in changes if c.kind == ChangeKind.DEPLOY and c.at < first_alert]
    baseline = max(before, key=lambda c: c.at).id if before else None
    rng.shuffle(changes)
    rng.shuffle(alerts)
    shape |= {
        "culprit_kind": kind.value,
        "filed_on_app": database is not None,
        "minutes_before_alert": round(gap, 1),
        "cycles": not nx.is_directed_acyclic_graph(graph),
    }
    return ScenarioB(
        seed=seed,
        services=net.services(),
        changes=tuple(changes),
        alerts=tuple(alerts),
        now=last + timedelta(minutes=1),
        first_alert=first_alert,
        culprit_id=culprit.id,
        baseline_id=baseline,
        alerting=tuple(alerting),
        noisy=noisy,
        roles=roles,
        shape=shape,
    )


def _alerts(
    rng: random.Random, net: _Net, alerting: Sequence[str], noisy: str | None, first: datetime
) -> list[Alert]:
    alerts: list[Alert] = []
    order = list(alerting)
    rng.shuffle(order)
    for position, service in enumerate(order):
        for copy in range(rng.choice([1, 1, 2])):
            start = first if position == 0 and copy == 0 else first + _minutes(rng, 0.2, 10)
            alerts.append(_alert(rng, service, rng.choice(_ALERT_NAMES), start))
    if noisy is not None:
        alerts.append(_alert(rng, noisy, rng.choice(_NOISE_NAMES), first + _minutes(rng, 0.5, 15)))
    if rng.random() < 0.15:
        stale = rng.choice(list(net.kind))
        old = _alert(rng, stale, rng.choice(_ALERT_NAMES), first - _minutes(rng, 10, 90))
        alerts.append(old.model_copy(update={"status": AlertStatus.RESOLVED}))
    return alerts


def _alert(rng: random.Random, service: str, name: str, start: datetime) -> Alert:
    return Alert(
        fingerprint=f"{rng.getrandbits(48):012x}",
        service=service,
        name=name,
        severity=rng.choice(["critical", "warning"]),
        status=AlertStatus.FIRING,
        started_at=start,
        summary=f"{name} on {service}",
        labels={"service": service},
        source="alertmanager",
    )
