"""Seeded incident scenarios, and an independent oracle of the planning rules, for planner tests.

:func:`generate` draws one realistic, adversarial incident from a seed: a layered microservice graph
(edge services, mid-tier services, backends, then databases, caches and queues; sometimes a cycle),
one culprit change upstream of every alerting service, and decoys built to fool a naive guess
(more recent deploys on consumers and unrelated services, flag flips, older background changes,
changes made after the incident began, a consumer deployed after the culprit). The decoys are
*fair*: every other change before the incident either explains none of the alerting services,
explains at most half of them, or explains them from no closer and at least 20 minutes earlier
than the culprit, so the culprit is always the best explanation an on-call engineer could give.
:func:`generate_large` draws the benchmark's big catalogs (10,000 services in well under a second).
:func:`build` and :func:`write_files` turn a scenario into a :class:`~planners.topology.Topology` or
into the CLI's input files (catalog YAML, changes JSON, an Alertmanager v4 webhook body).
:func:`plan_violations` checks a ``backout.plan/v1`` JSON plan against DESIGN.md's planning rules
with its own graph code, never the planner's, and :func:`most_recent_deploy` is the naive baseline.
"""

from __future__ import annotations

import json
import random
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import networkx as nx

from planners.model import Alert, AlertStatus, Change, ChangeKind, Service, ServiceKind, Tier
from planners.topology import Fragment, Severity, Topology, build_topology

__all__ = [
    "CLOCK_SKEW",
    "WINDOW",
    "Scenario",
    "build",
    "generate",
    "generate_large",
    "incident_start",
    "most_recent_deploy",
    "plan_violations",
    "write_files",
]

WINDOW = timedelta(hours=2)
"""DESIGN.md's default window before the first alert."""
CLOCK_SKEW = timedelta(minutes=2)
"""DESIGN.md's clock skew after the first alert."""
_BASE = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_EDGE = ("frontend", "api-gateway", "mobile-bff", "web-bff", "partner-api", "admin-portal")
_MID = _words(
    "checkoutservice cartservice orderservice paymentservice shippingservice "
    "recommendationservice searchservice pricingservice inventoryservice userservice "
    "authservice notificationservice reviewservice promotionservice catalogservice "
    "wishlistservice fraudservice taxservice loyaltyservice returnsservice "
    "subscriptionservice quoteservice accountservice messagingservice"
)
_BACKEND = _words(
    "productcatalogservice currencyservice emailservice adservice geoservice "
    "ledgerservice tokenservice imageservice ratelimiter featurestore sessionservice "
    "profileservice addressservice invoiceservice smsgateway auditservice "
    "configservice identityservice exchangerates warehouseservice routingservice"
)
_STORES = (
    ("orders-db", ServiceKind.DATABASE),
    ("redis-cart", ServiceKind.CACHE),
    ("events-kafka", ServiceKind.QUEUE),
    ("users-db", ServiceKind.DATABASE),
    ("session-cache", ServiceKind.CACHE),
    ("catalog-db", ServiceKind.DATABASE),
    ("payments-db", ServiceKind.DATABASE),
    ("email-queue", ServiceKind.QUEUE),
    ("pricing-cache", ServiceKind.CACHE),
    ("inventory-db", ServiceKind.DATABASE),
    ("ledger-db", ServiceKind.DATABASE),
    ("orders-queue", ServiceKind.QUEUE),
    ("search-cache", ServiceKind.CACHE),
    ("reviews-db", ServiceKind.DATABASE),
)
_TEAMS = ("web", "checkout", "catalog", "payments", "platform", "identity", "growth", "data")
_ACTORS = ("alice", "bob", "carol", "dmitri", "erin", "farah", "gwen", "hiro", "ci-bot")
_SOURCES = {
    ChangeKind.DEPLOY: ("argocd", "github", "helm", "spinnaker"),
    ChangeKind.CONFIG: ("consul", "configmap", "argocd"),
    ChangeKind.FEATURE_FLAG: ("launchdarkly", "unleash"),
    ChangeKind.MIGRATION: ("flyway", "alembic", "liquibase"),
    ChangeKind.INFRA: ("terraform", "karpenter"),
}
_SUMMARIES = (
    "bump grpc to 1.62",
    "refactor retry policy",
    "add cache warm-up",
    "tune connection pool",
    "new pricing rules",
    "upgrade base image",
    "log request ids",
    "split read and write paths",
    "raise request timeout",
    "batch outbound calls",
)
_FLAGS = ("new-flow", "v2-api", "fast-path", "batching", "dark-launch", "async-writes")
_ALERT_NAMES = {
    ServiceKind.SERVICE: ("HighErrorRate", "HighLatencyP99", "GrpcErrors", "SLOBurnRateFast"),
    ServiceKind.DATABASE: ("PostgresLockWaitHigh", "PostgresTooManyConnections"),
    ServiceKind.CACHE: ("RedisLatencyHigh", "RedisEvictions"),
    ServiceKind.QUEUE: ("KafkaConsumerLag", "QueueDepthHigh"),
    ServiceKind.EXTERNAL: ("UpstreamErrors",),
}


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One incident: the catalog, every change, the alerts, when to plan, and the right answer.

    ``alerting`` are the services with a firing alert in the incident; ``traits`` tag what the
    scenario contains (``cycle``, ``coupled``, ``subset-decoy``...) for diagnosing misses.
    """

    topology_services: list[Service]
    changes: list[Change]
    alerts: list[Alert]
    now: datetime
    culprit_id: str
    alerting: list[str]
    description: str
    seed: int = 0
    traits: tuple[str, ...] = ()

    @property
    def culprit(self) -> Change:
        """The change that caused the incident."""
        return next(c for c in self.changes if c.id == self.culprit_id)

    @property
    def started_at(self) -> datetime:
        """When the incident started: the earliest firing alert."""
        start = incident_start(self.alerts)
        assert start is not None
        return start


# --------------------------------------------------------------------------- graphs


@dataclass(kw_only=True)
class _Graph:
    layers: list[list[str]]
    deps: dict[str, list[str]]
    kind: dict[str, ServiceKind]
    tier: dict[str, Tier]
    team: dict[str, str]
    cycles: list[tuple[str, str]] = field(default_factory=list)

    def consumers(self) -> dict[str, list[str]]:
        users: dict[str, list[str]] = {name: [] for name in self.deps}
        for name, targets in self.deps.items():
            for target in targets:
                users[target].append(name)
        return users

    def services(self) -> list[Service]:
        return [
            Service(
                name=name,
                team=self.team[name],
                tier=self.tier[name],
                kind=self.kind[name],
                depends_on=tuple(targets),
            )
            for name, targets in self.deps.items()
        ]


def _pick_names(pool: Sequence[str], count: int, taken: set[str], *, numbered: bool) -> list[str]:
    names: list[str] = []
    index = 0
    while len(names) < count:
        base = pool[index % len(pool)]
        lap = index // len(pool)
        name = f"{base}-{index}" if numbered else (base if lap == 0 else f"{base}-{lap + 1}")
        index += 1
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def _layer_sizes(rng: random.Random, size: int) -> list[int]:
    if size < 100:
        edge = max(1, min(len(_EDGE), round(size * rng.uniform(0.05, 0.12))))
        stores = max(3, round(size * rng.uniform(0.15, 0.25)))
        rest = size - edge - stores
        backend = max(1, round(rest * rng.uniform(0.35, 0.5)))
        mid = rest - backend
        mids = [mid // 2, mid - mid // 2] if mid >= 14 else [mid]
        return [edge, *mids, backend, stores]
    edge = max(2, size // 100)
    stores = size * 15 // 100
    rest = size - edge - stores
    shares = [0.14, 0.16, 0.18, 0.24]
    middle = [round(rest * s / sum(shares)) for s in shares]
    middle[-1] = rest - sum(middle[:-1])
    return [edge, *middle, stores]


def _layered_graph(rng: random.Random, size: int, *, numbered: bool) -> _Graph:
    """Edge, mid-tier, backends, data stores; one to four dependencies each, some skip a layer."""
    loadgenerator = not numbered and rng.random() < 0.2
    sizes = _layer_sizes(rng, size - loadgenerator)
    taken: set[str] = set()
    kinds: dict[str, ServiceKind] = {}
    layers: list[list[str]] = []
    for index, count in enumerate(sizes):
        if index == len(sizes) - 1:
            offset = 0 if numbered else rng.randrange(len(_STORES))
            pool = [_STORES[(offset + i) % len(_STORES)] for i in range(len(_STORES))]
            if numbered:
                names = [f"{pool[i % len(pool)][0]}-{i}" for i in range(count)]
                layer_kinds = [pool[i % len(pool)][1] for i in range(count)]
            else:
                # The first store is always a database, so a migration can always be the culprit.
                first_db = next(i for i, item in enumerate(pool) if item[1] == ServiceKind.DATABASE)
                pool[0], pool[first_db] = pool[first_db], pool[0]
                names = _pick_names([n for n, _ in pool], count, taken, numbered=False)
                kind_of = dict(pool)
                layer_kinds = [
                    kind_of[n.rsplit("-", 1)[0] if n not in kind_of else n] for n in names
                ]
            kinds.update(zip(names, layer_kinds, strict=True))
        else:
            pool_names: Sequence[str] = (
                _EDGE if index == 0 else _BACKEND if index == len(sizes) - 2 else _MID
            )
            if not numbered and index > 0:
                pool_names = tuple(rng.sample(pool_names, len(pool_names)))
            names = _pick_names(pool_names, count, taken, numbered=numbered)
            kinds.update(dict.fromkeys(names, ServiceKind.SERVICE))
        taken.update(names)
        layers.append(names)

    deps: dict[str, list[str]] = {name: [] for layer in layers for name in layer}
    last = len(layers) - 1
    for index, layer in enumerate(layers[:-1]):
        for name in layer:
            wanted = rng.choices((1, 2, 3, 4), weights=(3, 4, 2, 1))[0]
            targets = deps[name]
            for _ in range(wanted):
                lower = index + 1 if index + 1 == last or rng.random() < 0.7 else None
                if lower is None:
                    lower = rng.randint(index + 2, last)
                target = rng.choice(layers[lower])
                if target not in targets:
                    targets.append(target)
    # Nothing is left without a consumer: give it one in the layer above.
    has_consumer = {t for targets in deps.values() for t in targets}
    for index in range(1, len(layers)):
        above = layers[index - 1]
        for name in layers[index]:
            if name not in has_consumer:
                roomy = [u for u in rng.sample(above, min(len(above), 8)) if len(deps[u]) < 4]
                user = roomy[0] if roomy else rng.choice(above)
                deps[user].append(name)
                has_consumer.add(name)

    graph = _Graph(layers=layers, deps=deps, kind=kinds, tier={}, team={})
    if not numbered:
        _add_cycles(rng, graph, loadgenerator=loadgenerator)
    tier_weights = {0: (8, 2, 0), last: (35, 55, 10)}
    for index, layer in enumerate(graph.layers):
        weights = tier_weights.get(index, (20, 62, 18))
        for name in layer:
            graph.tier[name] = rng.choices((Tier.CRITICAL, Tier.STANDARD, Tier.LOW), weights)[0]
            graph.team[name] = rng.choice(_TEAMS)
    return graph


def _add_cycles(rng: random.Random, graph: _Graph, *, loadgenerator: bool) -> None:
    """A loadgenerator and the frontend that call each other; sometimes two mid services too."""
    edge_layer, mids = graph.layers[0], graph.layers[1]
    if loadgenerator:
        front = edge_layer[0]
        edge_layer.append("loadgenerator")
        graph.kind["loadgenerator"] = ServiceKind.SERVICE
        graph.deps["loadgenerator"] = [front]
        graph.deps[front].append("loadgenerator")
        graph.cycles.append((front, "loadgenerator"))
    if rng.random() < 0.15 and len(mids) >= 2:
        first, second = rng.sample(mids, 2)
        for a, b in ((first, second), (second, first)):
            if b not in graph.deps[a]:
                graph.deps[a].append(b)
        graph.cycles.append((first, second))


def _distances(start: str, adjacency: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Hops from ``start`` to everything it reaches along ``adjacency`` (``start`` itself: 0)."""
    seen = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in adjacency.get(node, ()):
            if nxt not in seen:
                seen[nxt] = seen[node] + 1
                queue.append(nxt)
    return seen


# --------------------------------------------------------------------------- changes


@dataclass(kw_only=True)
class _Draft:
    service: str
    kind: ChangeKind
    at: datetime
    role: str
    revertible: bool = True
    database: str | None = None


def _seconds(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def _between(rng: random.Random, low: datetime, high: datetime) -> datetime:
    span = max(0, int((high - low).total_seconds()))
    return low + timedelta(seconds=rng.randint(0, span))


def _version(rng: random.Random) -> tuple[str, str]:
    major, minor, patch = rng.randint(1, 3), rng.randint(0, 30), rng.randint(0, 9)
    if rng.random() < 0.6:
        return f"v{major}.{minor}.{patch}", f"v{major}.{minor}.{patch + 1}"
    return f"v{major}.{minor}.{patch}", f"v{major}.{minor + 1}.0"


def _finish(
    rng: random.Random, drafts: list[_Draft], *, culprit: _Draft
) -> tuple[list[Change], str]:
    """Shuffle, number and flesh out the drafts; returns the changes and the culprit's id."""
    rng.shuffle(drafts)
    width = max(3, len(str(len(drafts))))
    changes: list[Change] = []
    culprit_id = ""
    for number, draft in enumerate(drafts, start=1):
        change_id = f"chg-{number:0{width}d}"
        if draft is culprit:
            culprit_id = change_id
        flag = database = None
        summary = rng.choice(_SUMMARIES)
        if draft.kind == ChangeKind.FEATURE_FLAG:
            flag = f"{draft.service.split('-')[0]}-{rng.choice(_FLAGS)}"
            before, after = ("off", "on") if rng.random() < 0.8 else ("on", "off")
            summary = f"turned {flag} {after}"
        elif draft.kind == ChangeKind.CONFIG:
            rev = rng.randint(10, 400)
            before, after = f"cfg-{rev}", f"cfg-{rev + 1}"
        elif draft.kind == ChangeKind.MIGRATION:
            rev = rng.randint(10, 300)
            before, after = f"{rev:04d}", f"{rev + 1:04d}"
            database = draft.database
            summary = rng.choice(
                ("add index on orders", "drop legacy column", "split address table")
            )
        elif draft.kind == ChangeKind.INFRA:
            before, after = "nodepool-a", "nodepool-b"
        else:
            before, after = _version(rng)
        changes.append(
            Change(
                id=change_id,
                service=draft.service,
                kind=draft.kind,
                at=_seconds(draft.at),
                from_version=before,
                to_version=after,
                actor=rng.choice(_ACTORS),
                source=rng.choice(_SOURCES[draft.kind]),
                revertible=draft.revertible,
                summary=summary,
                flag=flag,
                database=database,
            )
        )
    return changes, culprit_id


def _alerts_for(
    rng: random.Random,
    graph: _Graph,
    alerting: Sequence[str],
    *,
    first: datetime,
) -> list[Alert]:
    """One or two firing alerts per alerting service; one of them starts exactly at ``first``."""
    alerts: list[Alert] = []
    opener = rng.choice(list(alerting))
    for service in alerting:
        kind = graph.kind.get(service, ServiceKind.SERVICE)
        names = rng.sample(_ALERT_NAMES[kind], min(len(_ALERT_NAMES[kind]), rng.choice((1, 1, 2))))
        for position, name in enumerate(names):
            if service == opener and position == 0:
                started = first
            else:
                started = first + timedelta(seconds=rng.randint(0, 8 * 60))
            alerts.append(_alert(rng, service, name, started, team=graph.team.get(service, "web")))
    return alerts


def _alert(
    rng: random.Random,
    service: str,
    name: str,
    started: datetime,
    *,
    team: str,
    status: AlertStatus = AlertStatus.FIRING,
) -> Alert:
    severity = rng.choice(("critical", "warning", "page"))
    key = "service" if rng.random() < 0.8 else "app"
    return Alert(
        fingerprint=f"{rng.getrandbits(64):016x}",
        service=service,
        name=name,
        severity=severity,
        status=status,
        started_at=_seconds(started),
        summary=f"{service}: {name}",
        labels={
            "alertname": name,
            key: service,
            "severity": severity,
            "namespace": "prod",
            "team": team,
        },
        source="alertmanager",
    )


def generate(seed: int) -> Scenario:
    """Draw one incident scenario (15 to 60 services) from ``seed``; the same seed, the same one."""
    rng = random.Random(seed)
    size = rng.randint(15, 60)
    graph = _layered_graph(rng, size, numbered=False)
    users = graph.consumers()
    traits: list[str] = ["cycle"] if graph.cycles else []
    first = _BASE + timedelta(minutes=rng.randint(6 * 60, 20 * 60), seconds=rng.randint(0, 59))

    # The culprit: mostly a deploy; sometimes a flag, a config change or a migration.
    roll = rng.random()
    kind = (
        ChangeKind.DEPLOY
        if roll < 0.6
        else ChangeKind.FEATURE_FLAG
        if roll < 0.7
        else ChangeKind.CONFIG
        if roll < 0.8
        else ChangeKind.MIGRATION
    )
    database: str | None = None
    if kind == ChangeKind.MIGRATION:
        databases = [n for n in graph.layers[-1] if graph.kind[n] == ServiceKind.DATABASE]
        database = rng.choice(databases)
        apps = [u for u in users[database] if graph.kind[u] == ServiceKind.SERVICE]
        if apps and rng.random() < 0.4:
            anchor = rng.choice(apps)
            traits.append("migration-under-app")
        else:
            anchor, database = database, None
    else:
        inner = [n for layer in graph.layers[1:-1] for n in layer]
        anchor = rng.choice(inner)
    revertible = not (kind == ChangeKind.MIGRATION and rng.random() < 0.35)
    traits.insert(0, kind.value if revertible else f"{kind.value}-irreversible")
    culprit_at = first - timedelta(minutes=rng.randint(3, 99), seconds=rng.randint(0, 59))
    culprit = _Draft(
        service=anchor,
        kind=kind,
        at=culprit_at,
        role="culprit",
        revertible=revertible,
        database=database,
    )

    # The alerting services: some of the culprit's transitive consumers, maybe the culprit itself.
    up = _distances(anchor, users)
    above = sorted(n for n in up if n != anchor)
    count = rng.choices((1, 2, 3, 4, 5), weights=(25, 30, 25, 12, 8))[0]
    include_self = not above or rng.random() < 0.3
    alerting = [anchor] if include_self else []
    alerting += rng.sample(above, min(len(above), count - len(alerting)))
    alerting.sort()
    down = {a: _distances(a, graph.deps) for a in alerting}

    def cover(name: str) -> int:
        return sum(1 for a in alerting if name in down[a])

    names = list(graph.deps)
    blind = [n for n in names if cover(n) == 0]
    consumers_of_alerting = [n for n in blind if any(a in graph.deps[n] for a in alerting)]
    half = [n for n in names if 0 < cover(n) <= len(alerting) // 2]
    as_far = [
        n
        for n in names
        if cover(n) == len(alerting) and all(down[a][n] >= down[a][anchor] for a in alerting)
    ]
    drafts = [culprit]
    before_start = first - timedelta(seconds=20)
    after_culprit = culprit_at + timedelta(seconds=30)

    def blind_service(prefer_consumers: bool) -> str | None:
        if prefer_consumers and consumers_of_alerting:
            return rng.choice(consumers_of_alerting)
        return rng.choice(blind) if blind else None

    # Decoy deploys more recent than the culprit, on services that cannot explain the symptoms.
    if blind and rng.random() < 0.85:
        traits.append("recent-decoys")
        for _ in range(rng.randint(1, 4)):
            service = blind_service(rng.random() < 0.5)
            assert service is not None
            at = _between(rng, after_culprit, before_start)
            drafts.append(_Draft(service=service, kind=ChangeKind.DEPLOY, at=at, role="decoy"))
    # Decoy flag flips and config changes, in the window, on the same kind of services.
    for decoy_kind, most in ((ChangeKind.FEATURE_FLAG, 2), (ChangeKind.CONFIG, 1)):
        for _ in range(rng.randint(0, most)):
            service = blind_service(rng.random() < 0.3)
            if service is not None:
                at = _between(rng, first - timedelta(minutes=110), before_start)
                drafts.append(_Draft(service=service, kind=decoy_kind, at=at, role="decoy"))
    # Background: in the window on unrelated services, and anywhere long before the window.
    for _ in range(rng.randint(2, 8)):
        service = blind_service(False)
        if service is not None:
            bg_kind = rng.choice((ChangeKind.DEPLOY, ChangeKind.DEPLOY, ChangeKind.INFRA))
            at = _between(rng, first - timedelta(minutes=115), first - timedelta(minutes=1))
            drafts.append(_Draft(service=service, kind=bg_kind, at=at, role="background"))
    for _ in range(rng.randint(3, 10)):
        service = rng.choice(names)
        old_kind = (
            ChangeKind.DEPLOY if graph.kind[service] == ServiceKind.SERVICE else ChangeKind.INFRA
        )
        at = first - WINDOW - timedelta(minutes=rng.randint(5, 8 * 60))
        drafts.append(_Draft(service=service, kind=old_kind, at=at, role="old"))
    # An older change that explains the symptoms too, but from no closer and much earlier.
    latest_older = culprit_at - timedelta(minutes=20)
    earliest = first - WINDOW + timedelta(minutes=1)
    if as_far and latest_older > earliest and rng.random() < 0.35:
        traits.append("older-related")
        service = rng.choice(as_far)
        old_kind = (
            ChangeKind.DEPLOY if graph.kind[service] == ServiceKind.SERVICE else ChangeKind.INFRA
        )
        at = _between(rng, earliest, latest_older)
        drafts.append(_Draft(service=service, kind=old_kind, at=at, role="older-related"))
    # A more recent deploy that explains at most half of the alerting services.
    if half and rng.random() < 0.3:
        traits.append("subset-decoy")
        pool = [n for n in half if n in alerting] or half
        at = _between(rng, after_culprit, before_start)
        drafts.append(
            _Draft(service=rng.choice(pool), kind=ChangeKind.DEPLOY, at=at, role="subset-decoy")
        )
    # A coupled change: a consumer of the culprit's service deployed after the culprit.
    provider = database or anchor
    coupled = [
        u
        for u in users[provider]
        if u != anchor and graph.kind[u] == ServiceKind.SERVICE and cover(u) <= len(alerting) // 2
    ]
    coupled_chance = 0.4 if kind in (ChangeKind.DEPLOY, ChangeKind.MIGRATION) else 0.15
    if coupled and rng.random() < coupled_chance:
        traits.append("coupled")
        blind_coupled = [u for u in coupled if cover(u) == 0]
        service = rng.choice(blind_coupled if blind_coupled and rng.random() < 0.7 else coupled)
        at = _between(rng, after_culprit, before_start)
        drafts.append(_Draft(service=service, kind=ChangeKind.DEPLOY, at=at, role="coupled"))

    # The alerts, and when we plan.
    alerts = _alerts_for(rng, graph, alerting, first=first)
    last_alert = max(a.started_at for a in alerts)
    now = _seconds(
        max(last_alert, first + timedelta(minutes=4)) + timedelta(minutes=rng.randint(2, 15))
    )
    if blind and rng.random() < 0.15:
        traits.append("resolved-alert")
        service = rng.choice(blind)
        started = first - timedelta(minutes=rng.randint(20, 60))
        alerts.append(
            _alert(
                rng,
                service,
                "HighErrorRate",
                started,
                team=graph.team[service],
                status=AlertStatus.RESOLVED,
            )
        )
    if rng.random() < 0.1:
        traits.append("unknown-alert")
        started = first + timedelta(minutes=rng.randint(1, 5))
        alerts.append(_alert(rng, "legacy-batch", "JobFailed", started, team="data"))

    # Changes after the incident began: hotfixes on the alerting services are the most tempting.
    if rng.random() < 0.8:
        traits.append("post-incident")
        for _ in range(rng.randint(1, 3)):
            roll = rng.random()
            service = (
                rng.choice(alerting) if roll < 0.5 else anchor if roll < 0.7 else rng.choice(names)
            )
            late_kind = rng.choice((ChangeKind.DEPLOY, ChangeKind.DEPLOY, ChangeKind.CONFIG))
            if graph.kind[service] != ServiceKind.SERVICE:
                late_kind = ChangeKind.CONFIG
            at = _between(
                rng, first + CLOCK_SKEW + timedelta(seconds=15), now - timedelta(seconds=10)
            )
            drafts.append(_Draft(service=service, kind=late_kind, at=at, role="post-incident"))
    # A change inside the clock skew on an unrelated service: eligible, but explains nothing.
    if blind and rng.random() < 0.2:
        traits.append("within-skew")
        at = first + timedelta(seconds=rng.randint(10, 100))
        drafts.append(_Draft(service=rng.choice(blind), kind=ChangeKind.DEPLOY, at=at, role="skew"))

    changes, culprit_id = _finish(rng, drafts, culprit=culprit)
    services = graph.services()
    culprit_change = next(c for c in changes if c.id == culprit_id)
    minutes = int((first - culprit_change.at).total_seconds() // 60)
    cycles = ", ".join(f"{a}<->{b}" for a, b in graph.cycles) or "none"
    description = (
        f"seed {seed}: {len(services)} services (cycles: {cycles}); culprit {culprit_id} "
        f"{culprit_change.kind.value} on {anchor}"
        f"{f' (database {database})' if database else ''}"
        f"{'' if revertible else ' irreversible'} {minutes} min before the first alert; "
        f"alerting {', '.join(alerting)}; {len(changes)} changes; traits {', '.join(traits)}"
    )
    return Scenario(
        topology_services=services,
        changes=changes,
        alerts=alerts,
        now=now,
        culprit_id=culprit_id,
        alerting=alerting,
        description=description,
        seed=seed,
        traits=tuple(traits),
    )


def generate_large(size: int, *, seed: int = 0, changes: int = 500, alerting: int = 5) -> Scenario:
    """Draw a benchmark scenario: ``size`` services, ``changes`` changes, ``alerting`` services.

    The culprit is a deploy upstream of every alerting service. The other changes are spread over
    the eight hours before the incident and a little after it, a few dozen of them on services
    the alerting ones depend on (some beneath the culprit's service); those that would explain the
    symptoms as well as the culprit are moved earlier (before the culprit, or before the window),
    so the culprit stays the best explanation, as in :func:`generate`.
    """
    rng = random.Random(seed)
    graph = _layered_graph(rng, size, numbered=True)
    users = graph.consumers()
    first = _BASE + timedelta(hours=10)
    anchor, up = "", {}
    candidates = [n for layer in graph.layers[2:-1] for n in layer]
    for name in rng.sample(candidates, len(candidates)):
        up = _distances(name, users)
        if len(up) > alerting:
            anchor = name
            break
    assert anchor, "no service has enough consumers"
    alerting_services = sorted(rng.sample(sorted(n for n in up if n != anchor), alerting))
    down = {a: _distances(a, graph.deps) for a in alerting_services}
    related = sorted({n for reach in down.values() for n in reach})
    beneath = sorted(n for n in _distances(anchor, graph.deps) if n != anchor)
    culprit_at = first - timedelta(minutes=rng.randint(5, 60))
    culprit = _Draft(service=anchor, kind=ChangeKind.DEPLOY, at=culprit_at, role="culprit")
    drafts = [culprit]
    names = list(graph.deps)
    now = first + timedelta(minutes=20)
    kinds = (ChangeKind.DEPLOY, ChangeKind.CONFIG, ChangeKind.FEATURE_FLAG, ChangeKind.INFRA)
    earliest, latest = first - WINDOW + timedelta(minutes=1), culprit_at - timedelta(minutes=20)

    def fair(service: str, at: datetime) -> datetime:
        """When a change on ``service`` may happen without explaining more than the culprit."""
        if not first - WINDOW <= at <= first + CLOCK_SKEW:
            return at
        covered = [a for a in alerting_services if service in down[a]]
        if len(covered) <= alerting // 2:
            return at
        farther = len(covered) == alerting and all(
            down[a][service] >= down[a][anchor] for a in alerting_services
        )
        if farther and at > latest:
            return _between(rng, earliest, latest)
        if farther:
            return at
        return first - WINDOW - timedelta(minutes=rng.randint(1, 300))

    for index in range(changes - 1):
        pool = beneath if index % 25 == 0 and beneath else related if index % 15 == 0 else names
        service = rng.choice(pool)
        kind = rng.choices(kinds, weights=(60, 15, 15, 10))[0]
        if graph.kind[service] != ServiceKind.SERVICE:
            kind = (
                ChangeKind.MIGRATION
                if graph.kind[service] == ServiceKind.DATABASE
                else ChangeKind.INFRA
            )
        at = fair(service, first + timedelta(seconds=rng.randint(-8 * 3600, 15 * 60)))
        drafts.append(_Draft(service=service, kind=kind, at=at, role="background"))
    change_list, culprit_id = _finish(rng, drafts, culprit=culprit)
    alerts = [
        _alert(
            rng,
            service,
            "HighErrorRate",
            first + timedelta(seconds=0 if i == 0 else rng.randint(0, 300)),
            team=graph.team[service],
        )
        for i, service in enumerate(alerting_services)
    ]
    return Scenario(
        topology_services=graph.services(),
        changes=change_list,
        alerts=alerts,
        now=now,
        culprit_id=culprit_id,
        alerting=alerting_services,
        description=(
            f"large seed {seed}: {size} services, {len(change_list)} changes, culprit "
            f"{culprit_id} deploy on {anchor}, alerting {', '.join(alerting_services)}"
        ),
        seed=seed,
        traits=("deploy", "large"),
    )


# --------------------------------------------------------------------------- outputs


def build(scenario: Scenario) -> Topology:
    """The scenario's topology, built the way every topology source is merged.

    Raises:
        ValueError: when the catalog has an error (a generator bug).
    """
    fragment = Fragment(origin="scenario", services=list(scenario.topology_services))
    topology, problems = build_topology([fragment])
    errors = [str(p) for p in problems if p.severity == Severity.ERROR]
    if errors:
        raise ValueError("; ".join(errors))
    return topology


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_files(scenario: Scenario, folder: Path) -> dict[str, Path]:
    """Write the CLI's inputs into ``folder``.

    Returns:
        ``{"topology": catalog YAML, "changes": changes JSON, "alerts": Alertmanager v4 JSON}``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "topology": folder / "catalog.yaml",
        "changes": folder / "changes.json",
        "alerts": folder / "alerts.json",
    }
    lines = [
        f"# Backout catalog generated by fakes/scenarios.py ({scenario.description})",
        "services:",
    ]
    for svc in scenario.topology_services:
        lines += [
            f"  - name: {json.dumps(svc.name)}",
            f"    team: {json.dumps(svc.team)}",
            f"    tier: {svc.tier.value}",
            f"    kind: {svc.kind.value}",
            f"    depends_on: [{', '.join(json.dumps(d) for d in svc.depends_on)}]",
        ]
    paths["topology"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    paths["changes"].write_text(
        json.dumps([_change_json(c) for c in scenario.changes], indent=1) + "\n", encoding="utf-8"
    )
    paths["alerts"].write_text(
        json.dumps(_alertmanager_body(scenario.alerts), indent=1) + "\n", encoding="utf-8"
    )
    return paths


def _change_json(change: Change) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": change.id,
        "service": change.service,
        "kind": change.kind.value,
        "at": _iso(change.at),
        "from_version": change.from_version,
        "to_version": change.to_version,
        "actor": change.actor,
        "source": change.source,
        "revertible": change.revertible,
        "summary": change.summary,
    }
    if change.flag is not None:
        data["flag"] = change.flag
    if change.database is not None:
        data["database"] = change.database
    return data


def _alertmanager_body(alerts: Sequence[Alert]) -> dict[str, Any]:
    """An Alertmanager ``webhook_config`` body, ``"version": "4"``, one group."""
    items = []
    for alert in alerts:
        resolved = alert.status == AlertStatus.RESOLVED
        ends = (
            _iso(alert.started_at + timedelta(minutes=10)) if resolved else "0001-01-01T00:00:00Z"
        )
        items.append(
            {
                "status": alert.status.value,
                "labels": dict(alert.labels),
                "annotations": {
                    "summary": alert.summary,
                    "description": f"{alert.name} on {alert.service} (generated scenario)",
                },
                "startsAt": _iso(alert.started_at),
                "endsAt": ends,
                "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=up",
                "fingerprint": alert.fingerprint,
            }
        )
    firing = any(a.status == AlertStatus.FIRING for a in alerts)
    common = {"namespace": "prod"}
    return {
        "receiver": "backout-webhook",
        "status": "firing" if firing else "resolved",
        "alerts": items,
        "groupLabels": {"namespace": "prod"},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "version": "4",
        "groupKey": '{}:{namespace="prod"}',
        "truncatedAlerts": 0,
    }


# --------------------------------------------------------------------------- oracle and baseline


def incident_start(alerts: Iterable[Alert]) -> datetime | None:
    """The earliest ``started_at`` of the firing alerts (``None`` when nothing fires)."""
    return min((a.started_at for a in alerts if a.status == AlertStatus.FIRING), default=None)


def most_recent_deploy(changes: Iterable[Change], alerts: Iterable[Alert]) -> str | None:
    """The naive baseline: the id of the most recent deploy before the incident started."""
    start = incident_start(alerts)
    deploys = [
        c for c in changes if c.kind == ChangeKind.DEPLOY and (start is None or c.at < start)
    ]
    return max(deploys, key=lambda c: c.at).id if deploys else None


_STAGES = {"contain": 0, "partial": 1, "full": 2}
_CONTAINED = (ChangeKind.FEATURE_FLAG, ChangeKind.CONFIG)
_EARLY_ACTIONS = ("disable_flag", "revert_config")
_RELIANT = (ChangeKind.DEPLOY, ChangeKind.CONFIG, ChangeKind.FEATURE_FLAG, ChangeKind.MIGRATION)


_SECURITY_ID = re.compile(r"(?i)\b(CVE-\d{4}-\d+|GHSA-\w{4}-\w{4}-\w{4})\b")


def _security_fix(change: Change) -> bool:
    labels = getattr(change, "labels", ())
    marked = bool(getattr(change, "security", False)) or any(
        str(label).lower().startswith("security") for label in labels
    )
    return marked or bool(_SECURITY_ID.search(" ".join((change.summary, *map(str, labels)))))


_APP_CHANGES = (ChangeKind.DEPLOY, ChangeKind.CONFIG)
"""The changes whose steps a migration of a database they use waits for (rule (g))."""


def plan_violations(
    plan: Mapping[str, Any],
    *,
    services: Sequence[Service],
    changes: Sequence[Change],
    alerts: Sequence[Alert],
    window: timedelta = WINDOW,
    skew: timedelta = CLOCK_SKEW,
    started_at: datetime | None = None,
) -> list[str]:
    """Every planning rule the ``backout.plan/v1`` JSON ``plan`` breaks (empty when it is valid).

    The dependency graph is rebuilt here from the services' ``depends_on`` with networkx; nothing
    of the planner is reused. The rules (letters as in the test brief):

    * (a) within a stage, consumers before providers, unless they share a cycle (a migration
      filed under its app acts on its database);
    * (b) contain, then partial, then full;
    * (c) ``after`` names existing steps and has no cycle;
    * (d) no change after the incident start plus the clock skew (DESIGN.md: "beyond 2
      minutes"), nor one from before the window, is a suspect or a step;
    * (e) irreversible changes only get manual steps;
    * (f) a critical service, or a high or critical risk, needs two approvers;
    * (g) a migration is reverted after the deploy rollbacks of every service using its database;
    * (h) flag and config reverts run before deploy rollbacks;
    * (i) ``critical_path_seconds`` is the longest chain of ``estimated_seconds``;
    * (j) the top suspect's steps are never in the full stage (DESIGN.md: partial holds "the
      top suspect and what is coupled to it"), and a flag's or config's are in contain;
    * (k) coupled order (rule 3): when one step's service depends on another's, directly or
      transitively (not through a cycle), and its change came after the other's, it runs first,
      whatever the stages;
    * (l) coupled pull-in (rule 3): a change (deploy, config, flag, migration) in the window on a
      direct consumer of a rolled-back change's service, made after that change, is a step too;
    * (m) a step undoing a security fix (``security``, a ``security`` label, a CVE or GHSA id in
      the summary or labels) is high risk or more and warns that rolling back re-opens it.

    Rules can pull against each other (a coupled deploy in contain must precede a config revert
    that (h) puts first...). A stronger rule may reverse a weaker one's pair, in this order:
    (k), (g) and (b) first, then (h), then (a); a pair is reported only when the stronger rules,
    with the pairs of its own rule that the plan keeps, do not imply the reverse. As the planner
    orders them, (g) also binds an irreversible migration's manual step and the config reverts
    of its database's users, and services on one cycle are ordered by name.

    ``started_at`` is the incident's true start when the caller knows it (a generated scenario
    with noise alerts); without it the start is the earliest firing alert, and a plan may report a
    later one only if it is the start of one of the firing alerts (noise left out).
    """
    problems: list[str] = []
    names = {s.name for s in services}
    deps: nx.DiGraph = nx.DiGraph()
    deps.add_nodes_from(names)
    deps.add_edges_from(
        (s.name, t) for s in services for t in s.depends_on if t in names and t != s.name
    )
    component = {
        node: index
        for index, members in enumerate(nx.strongly_connected_components(deps))
        for node in members
    }
    tiers = {s.name: s.tier for s in services}
    by_id = {c.id: c for c in changes}
    start = started_at
    reported = plan["incident"]["started_at"]
    if start is None:
        start = incident_start(alerts)
        starts = {a.started_at for a in alerts if a.status == AlertStatus.FIRING}
        if reported is not None and datetime.fromisoformat(reported) in starts:
            start = datetime.fromisoformat(reported)
        elif reported is None and not plan["steps"] and not plan["suspects"]:
            start = None  # every firing alert was noise or unknown: nothing to check against

    if plan.get("schema") != "backout.plan/v1":
        problems.append(f"schema is {plan.get('schema')!r}, not 'backout.plan/v1'")
    if start is not None and (reported is None or datetime.fromisoformat(reported) != start):
        problems.append(f"incident started_at {reported} is not the incident's start {start}")
    scores = [s["score"] for s in plan["suspects"]]
    if scores != sorted(scores, reverse=True):
        problems.append(f"suspects are not sorted best first: {scores}")
    steps: list[dict[str, Any]] = list(plan["steps"])
    if plan.get("abstained") and steps:
        problems.append("an abstained plan has steps")

    # (d) only changes from the window, up to the start plus the clock skew.
    for role, items in (("suspect", plan["suspects"]), ("step", steps)):
        for item in items:
            change = by_id.get(item["change_id"])
            if change is None:
                problems.append(f"{role} names unknown change {item['change_id']!r}")
            elif start is not None and change.at > start + skew:
                problems.append(
                    f"(d) {role} {item['change_id']} at {_iso(change.at)} is after the incident "
                    f"start {_iso(start)} plus the clock skew"
                )
            elif start is not None and change.at < start - window:
                problems.append(f"(d) {role} {item['change_id']} is older than the window")

    # (c) the after relation.
    ids = [s["id"] for s in steps]
    if len(set(ids)) != len(ids):
        problems.append(f"(c) duplicate step ids: {ids}")
    order: nx.DiGraph = nx.DiGraph()
    order.add_nodes_from(ids)
    for step in steps:
        for earlier in step["after"]:
            if earlier not in order:
                problems.append(f"(c) step {step['id']} waits for unknown step {earlier!r}")
            else:
                order.add_edge(earlier, step["id"])
    if not nx.is_directed_acyclic_graph(order):
        problems.append(f"(c) the after relation has a cycle: {nx.find_cycle(order)}")
        return problems
    before = {i: nx.ancestors(order, i) for i in ids}

    def precedes(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
        return bool(first["id"] in before[second["id"]])

    def target(step: Mapping[str, Any]) -> str:
        """What a step acts on: a migration filed under its app acts on the database."""
        change = by_id.get(step["change_id"])
        if change is not None and change.kind == ChangeKind.MIGRATION and change.database:
            return change.database
        return str(step["service"])

    def label(step: Mapping[str, Any]) -> str:
        acts_on = target(step)
        where = (
            step["service"] if acts_on == step["service"] else f"{step['service']}, on {acts_on}"
        )
        return f"{step['id']} ({step['stage']} {step['action']} {where})"

    providers: dict[str, set[str]] = {}
    for step in steps:
        if step["service"] not in names:
            problems.append(f"step {step['id']} names unknown service {step['service']!r}")
        elif target(step) in names and target(step) not in providers:
            providers[target(step)] = nx.descendants(deps, target(step))
        if step["stage"] not in _STAGES:
            problems.append(f"step {step['id']} has unknown stage {step['stage']!r}")

    def coupled(x: Mapping[str, Any], y: Mapping[str, Any]) -> bool:
        """Whether ``x`` is on a consumer of ``y``'s service, changed after it (rule 3)."""
        a, b = target(x), target(y)
        cx, cy = by_id.get(x["change_id"]), by_id.get(y["change_id"])
        return (
            cx is not None
            and cy is not None
            and a != b
            and b in providers.get(a, set())
            and component.get(a) != component.get(b)
            and cx.at > cy.at
        )

    def uses_db(app: Mapping[str, Any], migration: Mapping[str, Any]) -> bool:
        """Whether ``migration`` (reverted, or by hand when irreversible) waits for ``app``: a
        deploy or config change of a service using its database (or of the app it is filed
        under)."""
        change, used = by_id.get(migration["change_id"]), by_id.get(app["change_id"])
        if change is None or used is None or app is migration:
            return False
        if change.kind != ChangeKind.MIGRATION or used.kind not in _APP_CHANGES:
            return False
        db = change.database or change.service
        filed_under = db != change.service and app["service"] == change.service
        return filed_under or (db in deps and deps.has_edge(app["service"], db))

    def early_first(x: Mapping[str, Any], y: Mapping[str, Any]) -> bool:
        return x["action"] in _EARLY_ACTIONS and y["action"] == "rollback_deploy"

    # Rules can pull against each other; a stronger one may reverse a weaker one's pair, never
    # the other way: (k) coupled, (g) migrations and (b) stages, then (h), then (a).
    strong: nx.DiGraph = nx.DiGraph()
    strong.add_nodes_from(ids)
    for x in steps:
        for y in steps:
            if x is y:
                continue
            later_stage = _STAGES.get(x["stage"], 0) < _STAGES.get(y["stage"], 0)
            if coupled(x, y) or uses_db(x, y) or (later_stage and not coupled(y, x)):
                strong.add_edge(x["id"], y["id"])

    def on_one_cycle(x: Mapping[str, Any], y: Mapping[str, Any]) -> bool:
        a, b = target(x), target(y)
        return a != b and component.get(a) == component.get(b)

    def consumer_first(x: Mapping[str, Any], y: Mapping[str, Any]) -> bool:
        a, b = target(x), target(y)
        return (
            x["stage"] == y["stage"]
            and a != b
            and b in providers.get(a, set())
            and component.get(a) != component.get(b)
        )

    # A weaker pair may be reversed only when the stronger rules, with the pairs of its own rule
    # that the plan keeps, imply the reverse.
    medium = strong.copy()
    medium.add_edges_from(
        (x["id"], y["id"]) for x in steps for y in steps if early_first(x, y) and precedes(x, y)
    )
    weak = medium.copy()
    weak.add_edges_from(
        (x["id"], y["id"]) for x in steps for y in steps if consumer_first(x, y) and precedes(x, y)
    )
    # Services on one cycle are ordered by name (the planner's note says so): a pair the plan
    # keeps that way is as binding as a consumer-first pair.
    weak.add_edges_from(
        (x["id"], y["id"])
        for x in steps
        for y in steps
        if on_one_cycle(x, y) and x["stage"] == y["stage"] and precedes(x, y)
    )

    def forced(graph: nx.DiGraph, first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
        """Whether stronger rules put ``second`` before ``first``."""
        return bool(nx.has_path(graph, second["id"], first["id"]))

    for x in steps:
        for y in steps:
            if x is y:
                continue
            b = target(y)
            # (k) a coupled consumer runs first, whatever the stages.
            if coupled(x, y) and not precedes(x, y):
                problems.append(f"(k) coupled {label(x)} does not run before {label(y)}")
            # (a) consumers before providers within a stage.
            if consumer_first(x, y) and not precedes(x, y) and not forced(weak, x, y):
                problems.append(f"(a) {label(x)} depends on {b} but does not run before {label(y)}")
            # (b) contain, then partial, then full.
            if (
                _STAGES.get(x["stage"], 0) < _STAGES.get(y["stage"], 0)
                and not precedes(x, y)
                and not coupled(y, x)
            ):
                problems.append(f"(b) {label(x)} does not run before the later stage's {label(y)}")
            # (h) flag and config reverts before deploy rollbacks.
            if early_first(x, y) and not precedes(x, y) and not forced(medium, x, y):
                problems.append(f"(h) {label(x)} does not run before {label(y)}")

    for step in steps:
        change = by_id.get(step["change_id"])
        # (e) irreversible changes: manual steps only.
        if change is not None and not change.revertible and step["action"] != "manual":
            problems.append(f"(e) irreversible {change.id} gets automatic step {label(step)}")
        # (f) two approvers on critical services and risky steps.
        risky = step["risk"] in ("high", "critical") or tiers.get(step["service"]) == Tier.CRITICAL
        if risky and step["approvals_required"] < 2:
            problems.append(
                f"(f) {label(step)} (risk {step['risk']}, tier {tiers.get(step['service'])}) "
                f"needs two approvers, has {step['approvals_required']}"
            )
        # (m) a security fix is never undone quietly.
        quiet = step["risk"] not in ("high", "critical") or "re-opens" not in (
            step.get("warning") or ""
        )
        if change is not None and _security_fix(change) and quiet:
            problems.append(f"(m) {label(step)} undoes security fix {change.id} quietly")
        # (g) a migration is reverted after the rollbacks of the apps using its database.
        if step["action"] == "revert_migration" and change is not None:
            db = change.database or change.service
            using = set(deps.predecessors(db)) if db in deps else set()
            for other in steps:
                if (
                    other["action"] == "rollback_deploy"
                    and other["service"] in using
                    and not precedes(other, step)
                ):
                    problems.append(f"(g) {label(step)} on {db} runs before {label(other)}")

    # (l) coupled consumers are pulled in.
    stepped = {s["change_id"] for s in steps}
    for step in steps:
        provider = by_id.get(step["change_id"])
        if provider is None or target(step) not in deps or start is None:
            continue
        for user in deps.predecessors(target(step)):
            for change in changes:
                if (
                    change.service == user
                    and change.kind in _RELIANT
                    and provider.at < change.at <= start + skew
                    and change.at >= start - window
                    and change.id not in stepped
                ):
                    problems.append(
                        f"(l) {change.id} on {user} changed after {label(step)} but is not "
                        "rolled back"
                    )

    # (j) the top suspect is rolled back in the partial stage (contain, for a flag or config).
    if steps and plan["suspects"] and not plan.get("abstained"):
        top = by_id.get(plan["suspects"][0]["change_id"])
        if top is not None:
            early = {"contain"} if top.kind in _CONTAINED else {"contain", "partial"}
            for step in steps:
                if step["change_id"] == top.id and step["stage"] not in early:
                    problems.append(f"(j) the top suspect {top.id} gets {label(step)}")

    # (i) the critical path.
    finish: dict[str, int] = {}
    by_step = {s["id"]: s for s in steps}
    for step_id in nx.topological_sort(order):
        waits = [finish[p] for p in order.predecessors(step_id)]
        finish[step_id] = int(by_step[step_id]["estimated_seconds"]) + max(waits, default=0)
    longest = max(finish.values(), default=0)
    if plan["critical_path_seconds"] != longest:
        problems.append(
            f"(i) critical_path_seconds is {plan['critical_path_seconds']}, "
            f"the longest chain is {longest}"
        )
    return problems
