"""The composition root: builds everything the bot runs on from the settings, once, at startup.

Settings say which executors exist (``executors: {name: {kind: …, …}}``, ``kind`` defaulting to
the name); the catalog says how each service's health is checked (``health:``); the policy who
may approve. :func:`build_services` wires the store, topology, policy, engine, Slack client and
use cases into :class:`Services`, which the handlers receive. A configuration that cannot be used
stops the start with a :class:`bot.runtime.settings.SettingsError` naming the setting and the
problem.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from starlette.applications import Starlette

import prompts
from bot.core.access import Access
from bot.core.engine import Engine, EngineConfig
from bot.core.health import HealthGate
from bot.core.llm_cache import CachingModel
from bot.core.policy import CachingGroupResolver, Policy
from bot.core.ports import Clock
from bot.core.recheck import ApprovalRecheck
from bot.core.runner import ThreadRunner
from bot.core.usecases import Decisions, Execution, Planning, Queries
from bot.core.usecases.answering import Answering
from bot.core.usecases.deadlines import Deadlines
from bot.core.usecases.explaining import Explaining
from bot.core.usecases.inputs import inputs_for
from bot.core.usecases.narrating import Narrating
from bot.core.usecases.watches import DeployWatches, WatchSchedule
from bot.runtime.doctor import startup_problem
from bot.runtime.health import CatalogHealthGate
from bot.runtime.jobs import JobRunner, worker_name
from bot.runtime.llm import OneDeadline, build_client
from bot.runtime.settings import Settings, SettingsError
from bot.slack.app import build_app
from bot.slack.channels import VERSION_PATTERN, compile_patterns
from bot.slack.channels.model_parse import MessageParser
from bot.slack.delivery import StepDeliveries
from bot.slack.handlers import UseCases, Watch
from bot.slack.limits import Limits
from bot.slack.metrics import Metrics
from bot.slack.notifier import SlackNotifier, make_web_client
from bot.slack.reminders import SlackReminders
from bot.slack.web import build_web
from bot.slack.webhooks import webhook_routes
from bot.store import Store
from integrations.base import Executor
from integrations.errors import ConfigError
from integrations.executors import builtin_executors
from integrations.health.once import CatalogReadings
from integrations.llm import OpenAIChatClient, PrometheusRecorder
from integrations.registry import Registry
from integrations.topology import load_topology
from planners.llm import StructuredModel
from planners.topology import Severity, Topology

__all__ = [
    "Services",
    "build_executors",
    "build_services",
    "slack_app",
    "web_app",
]

log = logging.getLogger(__name__)

GROUP_TTL = 60.0
"""Seconds a user group's members are trusted without asking Slack again; a change Slack reports
(``subteam_members_changed``) ends it at once."""
CHANNEL_TTL = 60.0
"""Seconds a channel's members are trusted without asking Slack again (who may read a plan:
:mod:`bot.core.access`); someone who leaves a channel may read its plans that much longer."""


def build_executors(
    settings: Settings, *, registry: Registry[Executor] | None = None
) -> dict[str, Executor]:
    """Every executor named in the settings, built from its configuration.

    Raises:
        SettingsError: an unknown kind or an unusable configuration (names which executor).
    """
    registry = registry or builtin_executors()
    built: dict[str, Executor] = {}
    for name, kind, options in settings.executor_configs():
        try:
            built[name] = registry.create(kind, options)
        except (LookupError, ConfigError) as exc:
            raise SettingsError(f"executors.{name}: {exc}") from exc
    return built


@dataclass(kw_only=True)
class Services:
    """Everything the bot runs on, built once at startup by :func:`build_services`."""

    store: Store
    topology: Topology
    use_cases: UseCases
    notifier: SlackNotifier
    deliveries: StepDeliveries
    runner: ThreadRunner
    listeners: ThreadRunner
    groups: CachingGroupResolver
    client: WebClient
    watch: Watch
    clock: Clock
    jobs: JobRunner
    readings: CatalogReadings
    explanations: ThreadRunner | None = None
    """The pool the model's explanations (then refinements and thread answers) wait on."""
    narratives: ThreadRunner | None = None
    """The pool the summaries' narratives wait on (never ahead of an explanation)."""
    llm: OpenAIChatClient | None = None
    """The configured model's client (None without a model)."""
    metrics: Metrics = field(default_factory=Metrics)

    def close(self) -> None:
        """Finish background work and release connections."""
        self.listeners.shutdown()
        self.runner.shutdown()
        self.deliveries.close()  # after the engine: its last moves are shown too
        self.readings.close()
        for pool in (self.explanations, self.narratives):  # a model call is not waited for
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        if self.llm is not None:
            self.llm.close()
        self.store.close()


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    health: HealthGate | None = None,
    executors: dict[str, Executor] | None = None,
) -> Services:
    """Build the store, topology, policy, executors, engine, Slack client and use cases.

    Args:
        settings: the configuration.
        clock: the current time (the demo runs on a script's clock).
        health: the health gate; by default the catalog's checks.
        executors: executors by name; by default built from the settings, after checking that
            every executor the catalog names is configured and every health check is usable.

    Raises:
        SettingsError: anything unusable in the configuration, named.
    """
    if settings.slack_bot_token is None:
        raise SettingsError("SLACK_BOT_TOKEN is not set (the bot token, xoxb-…)")
    clock = clock or (lambda: datetime.now(UTC))
    topology = _topology(settings)
    if executors is None and (problem := startup_problem(settings, topology)):
        raise SettingsError(f"cannot start: {problem} (run backout doctor)")
    try:
        patterns = compile_patterns(settings.channels.deploy_patterns or None)
    except ValueError as exc:
        raise SettingsError(f"channels.deploy_patterns: {exc}") from exc
    try:
        version_pattern = re.compile(settings.channels.version_pattern or VERSION_PATTERN.pattern)
    except re.error as exc:
        raise SettingsError(f"channels.version_pattern: {exc}") from exc
    client = make_web_client(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
    )
    identity = client.auth_test()
    store = Store.from_url(settings.database_url.get_secret_value(), upgrade=settings.auto_upgrade)
    groups = CachingGroupResolver(lambda group: _group_members(client, group), ttl=GROUP_TTL)
    policy = Policy(settings.policy, topology=topology, groups=groups, mode=settings.mode)
    members = CachingGroupResolver(lambda ch: _channel_members(client, ch), ttl=CHANNEL_TTL)
    access = Access.from_policy(settings.policy, topology=topology, groups=groups, channels=members)
    for warning in policy.warnings():
        log.warning("%s", warning)
    if settings.channels.alerts and not settings.channels.alert_senders:
        log.warning(
            "channels.alert_senders is empty: any bot posting in the alert channels can open "
            "incidents; list your alerting bots' ids (B…) or app ids (A…)"
        )
    executors = executors if executors is not None else build_executors(settings)
    metrics = Metrics()
    llm = _llm_client(settings, metrics)
    notifier = SlackNotifier(client=client, store=store, model=llm.config.model if llm else None)
    deliveries = StepDeliveries(notifier.show_step_changes)  # Slack off the engine's path
    catalog_health = CatalogHealthGate(topology, prometheus_url=settings.prometheus_url)
    engine = Engine(
        store=store,
        executors=executors,
        health=health or catalog_health,
        config=EngineConfig(**settings.engine.model_dump()),
        on_change=deliveries.step_changed,
        recheck=ApprovalRecheck(store=store, policy=policy),
        preflight=None if health else catalog_health.cannot_verify,
    )
    runner = ThreadRunner()
    explanations = ThreadRunner(workers=2, name="explain")  # a slow model holds only these
    narratives = ThreadRunner(workers=1, name="narrate")  # behind no explanation
    explaining = None
    cached = _cached_model(settings, store, llm, metrics) if llm is not None else None
    if llm is not None and cached is not None:
        explaining = Explaining(
            store=store,
            notifier=notifier,
            runner=explanations,
            model=lambda: cached(OneDeadline(llm)),
            model_name=llm.config.model,
        )
        notifier.narrating = Narrating(  # summaries' narratives, on their own pool
            store=store,
            notifier=notifier,
            runner=narratives,
            model=lambda: cached(OneDeadline(llm)),
            model_name=llm.config.model,
        )
    execution = Execution(
        store=store, engine=engine, executors=executors, notifier=notifier, runner=runner
    )
    reminders = SlackReminders(store=store)
    deadlines = Deadlines(
        store=store,
        policy=policy,
        rules=settings.policy,
        topology=topology,
        notifier=notifier,
        reminders=reminders,
        clock=clock,
        **settings.deadlines.model_dump(),
    )
    watches = settings.watches
    watch_channel = watches.channel or settings.webhooks.incident_channel
    watching = watches.enabled and watch_channel is not None
    if watches.enabled and watch_channel is None:
        log.warning("deploy watches are off: set watches.channel or webhooks.incident_channel")
    schedule = WatchSchedule(
        store=store,
        topology=topology,
        clock=clock,
        minutes=watches.minutes,
        interval_seconds=watches.interval_seconds,
        environments=tuple(settings.channels.environments),
    )
    use_cases = UseCases(
        planning=Planning(
            store=store,
            topology=topology,
            policy=policy,
            execution=execution,
            notifier=notifier,
            clock=clock,
            runner=runner,
            group_window_minutes=settings.incidents.group_window_minutes,
            update_interval_seconds=settings.incidents.update_interval_seconds,
            deadlines=deadlines,
            watches=schedule if watching else None,
            explaining=explaining,
        ),
        decisions=Decisions(store=store, policy=policy, execution=execution, notifier=notifier),
        execution=execution,
        queries=Queries(store=store, access=access),
    )
    answering = Answering(  # questions in plan threads; the graph answers without a model
        store=store,
        notifier=notifier,
        runner=explanations,
        inputs=lambda stored: inputs_for(
            stored, store=store, topology=topology, options=use_cases.planning.options
        ),
        clock=clock,
        redactor=prompts.Redactor(settings.llm.redact_patterns),
        model=explaining.model if explaining is not None else None,
    )
    use_cases = replace(use_cases, answering=answering)
    watch = Watch(
        alert_channels=frozenset(settings.channels.alerts),
        alert_senders=frozenset(settings.channels.alert_senders),
        deploy_channels=frozenset(settings.channels.deploys),
        deploy_patterns=patterns,
        version_pattern=version_pattern,
        environments=tuple(settings.channels.environments),
        service_labels=tuple(settings.channels.alert_service_labels),
        known_services=frozenset(topology.services),
        bot_user_id=str(identity.get("user_id", "")),
        bot_id=str(identity.get("bot_id", "")),
        alert_lookup=Watch.alertmanager_lookup(settings.alertmanager_url),
        parser=(
            MessageParser(cached(llm), redactor=prompts.Redactor(settings.llm.redact_patterns))
            if llm is not None and cached is not None and settings.llm.parse_messages
            else None
        ),
    )
    readings = CatalogReadings(topology, prometheus_url=settings.prometheus_url)
    handlers = deadlines.handlers()  # every kind a job may have, registered with its scheduler
    if watching and watch_channel is not None:
        handlers |= DeployWatches(
            store=store,
            incidents=use_cases.planning,
            read=readings,
            channel=watch_channel,
            clock=clock,
            notes=reminders,
        ).handlers()
    return Services(
        store=store,
        topology=topology,
        use_cases=use_cases,
        notifier=notifier,
        deliveries=deliveries,
        runner=runner,
        listeners=ThreadRunner(workers=10, name="listener"),
        groups=groups,
        client=client,
        watch=watch,
        clock=clock,
        jobs=JobRunner(store, handlers, worker=worker_name(), clock=store.clock),
        readings=readings,
        metrics=metrics,
        explanations=explanations,
        narratives=narratives,
        llm=llm,
    )


def slack_app(settings: Settings, services: Services) -> App:
    """The Bolt app on ``services``.

    Raises:
        SettingsError: no signing secret (every request must be verifiable).
    """
    return build_app(
        client=services.client,
        signing_secret=_signing_secret(settings),
        handled=services.store.handled,
        use_cases=services.use_cases,
        notifier=services.notifier,
        watch=services.watch,
        clock=services.clock,
        forget_group=services.groups.invalidate,
        listeners=services.listeners,
        limits=_limits(settings),
    )


def _cached_model(
    settings: Settings, store: Store, llm: OpenAIChatClient, metrics: Metrics
) -> Callable[[StructuredModel], CachingModel]:
    """Wraps a model in the database cache of its answers (keyed on the prompt, schema, model,
    endpoint host, temperature and redacted input; ``llm.cache_*ttl_seconds``), its hits and
    misses counted in ``/metrics``."""
    config = llm.config
    redactor = prompts.Redactor(settings.llm.redact_patterns)

    def cached(inner: StructuredModel) -> CachingModel:
        return CachingModel(
            inner,
            cache=store.llm_cache,
            model=config.model,
            host=config.host,
            temperature=config.temperature,
            ttl=timedelta(seconds=settings.llm.cache_ttl_seconds),
            failure_ttl=timedelta(seconds=settings.llm.cache_failure_ttl_seconds),
            redactor=redactor,
            recorder=metrics.llm_cache,
        )

    return cached


def _llm_client(settings: Settings, metrics: Metrics) -> OpenAIChatClient | None:
    """The configured model's client, its calls counted in ``/metrics``; None without a model.

    Raises:
        SettingsError: the ``llm:`` settings cannot make a client.
    """
    try:
        return build_client(settings.llm, recorder=PrometheusRecorder(metrics.registry))
    except ConfigError as exc:
        raise SettingsError(f"llm: {exc}") from exc


def _limits(settings: Settings) -> Limits:
    limits = settings.limits
    return Limits(
        plans_per_user=limits.plans_per_user,
        plans_per_channel=limits.plans_per_channel,
        simulations_per_user=limits.simulations_per_user,
        period=limits.period_seconds,
        simulation_workers=limits.simulation_workers,
        simulation_queue=limits.simulation_queue,
        simulation_timeout=limits.simulation_timeout_seconds,
    )


def web_app(app: App, services: Services, *, settings: Settings) -> Starlette:
    """The bot's ASGI app (``/slack/events``, ``/healthz``, ``/readyz``, ``/metrics``, the
    ``/webhooks/…`` of :mod:`bot.slack.webhooks`) around the Bolt ``app``."""
    hooks = settings.webhooks
    routes = webhook_routes(
        planning=services.use_cases.planning,
        secret=hooks.secret.get_secret_value() if hooks.secret else None,
        channel=hooks.incident_channel,
        service_labels=settings.channels.alert_service_labels,
        environments=settings.channels.environments,
        pagerduty_secret=(
            hooks.pagerduty_secret.get_secret_value() if hooks.pagerduty_secret else None
        ),
        github_secret=hooks.github_secret.get_secret_value() if hooks.github_secret else None,
        max_body_bytes=hooks.max_body_bytes,
    )
    return build_web(
        app,
        store=services.store,
        metrics=services.metrics,
        services=len(services.topology.services),
        signing_secret=_signing_secret(settings),
        extra_routes=routes,
    )


def _signing_secret(settings: Settings) -> str:
    if settings.slack_signing_secret is None:
        raise SettingsError("SLACK_SIGNING_SECRET is not set (Slack app > Basic Information)")
    return settings.slack_signing_secret.get_secret_value()


def _topology(settings: Settings) -> Topology:
    if not settings.topology:
        raise SettingsError("topology: name at least one topology source (file or folder)")
    topology, problems = load_topology(settings.topology)
    errors = [p for p in problems if p.severity == Severity.ERROR]
    if errors:
        raise SettingsError(f"topology: {errors[0].describe()} ({len(errors)} error(s))")
    for problem in problems:
        log.warning("topology: %s", problem)
    return topology


def _group_members(client: WebClient, group: str) -> frozenset[str]:
    try:
        response = client.usergroups_users_list(usergroup=group)
    except SlackApiError as exc:
        raise LookupError(f"user group {group}: {exc.response.get('error')}") from exc
    users: list[str] = response.get("users", [])
    return frozenset(str(user) for user in users)


def _channel_members(client: WebClient, channel: str) -> frozenset[str]:
    """Every member of ``channel`` (``conversations.members``, page by page)."""
    members: set[str] = set()
    cursor = ""
    try:
        while True:
            response = client.conversations_members(
                channel=channel, limit=1000, cursor=cursor or None
            )
            members.update(str(user) for user in response.get("members") or ())
            cursor = str((response.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return frozenset(members)
    except SlackApiError as exc:
        raise LookupError(f"channel {channel}: {exc.response.get('error')}") from exc
