"""Backout's configuration: environment variables over an optional ``backout.yaml``.

The only module that reads the environment. Everything else receives a :class:`Settings`.
Environment variables use the prefix ``BACKOUT_`` (``BACKOUT_DATABASE_URL``); nested values use
``__`` (``BACKOUT_ENGINE__MAX_PARALLEL=8``). The YAML file is ``backout.yaml`` in the working
directory, or the path in ``BACKOUT_CONFIG``. Every credential is a secret type (``SecretStr``,
or ``Secret`` for the database URL's password and each executor's options, which carry tokens,
passwords and signed URLs), so ``repr()``, logs and error messages of the settings never show
one; the code that needs a value unwraps it where it uses it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    Secret,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.core.policy import PolicyConfig
from bot.lifecycle import Mode

__all__ = [
    "ChannelSettings",
    "DeadlineSettings",
    "EngineSettings",
    "IncidentSettings",
    "LLMSettings",
    "LimitSettings",
    "Settings",
    "SettingsError",
    "WatchSettings",
    "WebhookSettings",
    "load_settings",
]


class SettingsError(ValueError):
    """The configuration cannot be used; the message names the file or variable and the field."""


class EngineSettings(BaseModel):
    """How the engine runs steps (see ``bot.core.engine.EngineConfig``)."""

    model_config = ConfigDict(extra="forbid")

    max_parallel: int = Field(default=4, ge=1, le=64)
    lease_seconds: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    backoff_seconds: float = Field(default=2.0, ge=0)


_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,20}")
"""A Slack conversation id: public (C…), private (G…) or direct (D…) channel."""


class ChannelSettings(BaseModel):
    """Which Slack channels Backout watches, and how it reads them.

    Attributes:
        alerts: channel ids where alerting bots post; firing alerts get a plan in the thread.
        deploys: channel ids where CI bots announce deploys; each becomes a recorded change.
        environments: deploy environments that count (production-like).
        deploy_patterns: regular expressions for deploy announcements, with named groups
            ``service`` (required), ``version``, ``env``, ``actor``; the built-in ones if empty.
        alert_service_labels: the labels naming an alert's service, first present wins.
        alert_senders: the bot ids (``B…``) or app ids (``A…``) whose messages in the alert
            channels may open incidents; any bot's when empty (a warning at start says so).
        version_pattern: what an announced version must look like (a regular expression the
            whole version must match) to become a rollback target; semver-like versions and
            commit shas if empty.
    """

    model_config = ConfigDict(extra="forbid")

    alerts: list[str] = Field(default_factory=list)
    deploys: list[str] = Field(default_factory=list)
    environments: list[str] = Field(default_factory=lambda: ["prod", "production", "live"])
    deploy_patterns: list[str] = Field(default_factory=list)
    version_pattern: str = ""
    alert_senders: list[str] = Field(default_factory=list)
    alert_service_labels: list[str] = Field(
        default_factory=lambda: [
            "service",
            "app",
            "app_kubernetes_io_name",
            "deployment",
            "job",
            "container",
        ]
    )

    @field_validator("alerts", "deploys")
    @classmethod
    def _channel_ids(cls, channels: list[str]) -> list[str]:
        """Slack events carry channel ids (``C0123ABCD``), never names: a name would silently
        match nothing, so it is refused at start, naming it."""
        for channel in channels:
            if not _CHANNEL_ID.fullmatch(channel):
                raise ValueError(
                    f"{channel!r} is not a Slack channel id; give the id (like C0123ABCD, shown "
                    "at the bottom of the channel's details in Slack), not its name"
                )
        return channels


class WebhookSettings(BaseModel):
    """Alert webhooks on the bot's HTTP server (section ``webhooks:``).

    Attributes:
        secret: the shared secret a sender must present (``Authorization: Bearer <secret>``,
            ``X-Backout-Token: <secret>`` or ``?token=<secret>``); env
            ``BACKOUT_WEBHOOKS__SECRET``. Without it the webhook routes answer 404.
        incident_channel: the channel id where plans of webhook-opened incidents are posted.
        max_body_bytes: bodies above this are refused with 413.
        pagerduty_secret: the PagerDuty v3 subscription's signing secret; ``/webhooks/pagerduty``
            checks ``X-PagerDuty-Signature`` with it (env ``BACKOUT_WEBHOOKS__PAGERDUTY_SECRET``).
        github_secret: the GitHub webhook's secret; ``/webhooks/github`` checks
            ``X-Hub-Signature-256`` with it (env ``BACKOUT_WEBHOOKS__GITHUB_SECRET``).
    """

    model_config = ConfigDict(extra="forbid")

    secret: SecretStr | None = None
    incident_channel: str | None = None
    pagerduty_secret: SecretStr | None = None
    github_secret: SecretStr | None = None
    max_body_bytes: int = Field(default=5_000_000, ge=1024, le=100_000_000)

    @field_validator("incident_channel")
    @classmethod
    def _channel_id(cls, channel: str | None) -> str | None:
        if channel is not None and not _CHANNEL_ID.fullmatch(channel):
            raise ValueError(
                f"{channel!r} is not a Slack channel id; give the id (like C0123ABCD), not its name"
            )
        return channel

    @property
    def enabled(self) -> bool:
        """Whether the webhook routes accept requests (a secret and a channel are set)."""
        return (
            self.secret is not None
            and bool(self.secret.get_secret_value())
            and bool(self.incident_channel)
        )


class IncidentSettings(BaseModel):
    """How alerts become incidents (section ``incidents:``).

    Attributes:
        group_window_minutes: a firing alert joins an open incident in the same channel when one
            cause could explain both (its service is one of the incident's, or some service is, or
            is depended on by, its service and every service of the incident: a shared provider,
            never a shared consumer), and the incident started at most this long before it.
        update_interval_seconds: the least time between two in-place updates of one incident's
            plan message while alerts keep arriving (Slack allows about one message a second per
            channel); later updates are coalesced into one.
    """

    model_config = ConfigDict(extra="forbid")

    group_window_minutes: float = Field(default=30, gt=0, le=24 * 60)
    update_interval_seconds: float = Field(default=10, ge=0, le=600)


class DeadlineSettings(BaseModel):
    """Reminders and expiry of plans waiting for approval (section ``deadlines:``).

    Attributes:
        remind_after_minutes: a posted plan nobody approved reminds its approvers in its thread
            after this long.
        remind_every_minutes: then again this often (0: once).
        expire_after_minutes: a plan nobody approved within this long becomes ``expired``.
    """

    model_config = ConfigDict(extra="forbid")

    remind_after_minutes: float = Field(default=15, gt=0)
    remind_every_minutes: float = Field(default=0, ge=0)
    expire_after_minutes: float = Field(default=120, gt=0)


class WatchSettings(BaseModel):
    """Health watches after production deploys (section ``watches:``).

    Attributes:
        enabled: watch each production deploy of a service with a catalog health check.
        minutes: how long a deploy is watched.
        interval_seconds: how often its check is read. 20 s by default, not 30: a breach just
            after a reading waits one interval plus one scheduler tick (5 s), and the plan must
            be posted within 30 s of the breach.
        channel: where a breach's incident is posted (default ``webhooks.incident_channel``).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    minutes: float = Field(default=30, gt=0, le=24 * 60)
    interval_seconds: float = Field(default=20, ge=5, le=3600)
    channel: str | None = None

    @field_validator("channel")
    @classmethod
    def _channel_id(cls, channel: str | None) -> str | None:
        if channel is not None and not _CHANNEL_ID.fullmatch(channel):
            raise ValueError(
                f"{channel!r} is not a Slack channel id; give the id (like C0123ABCD), not its name"
            )
        return channel


class LimitSettings(BaseModel):
    """How much slow work one person or channel may start (section ``limits:``), counted at the
    ack; approvals, aborts and alerts are never limited.

    Attributes:
        plans_per_user: plans one person may ask for per period.
        plans_per_channel: plans one channel may ask for per period.
        simulations_per_user: dry runs one person may ask for per period.
        period_seconds: the period the allowances are counted over.
        simulation_workers: dry runs that may run at once (their own pool).
        simulation_queue: dry runs that may wait for a worker; beyond that one is refused.
        simulation_timeout_seconds: a dry run stops previewing further steps after this.
    """

    model_config = ConfigDict(extra="forbid")

    plans_per_user: int = Field(default=5, ge=1)
    plans_per_channel: int = Field(default=20, ge=1)
    simulations_per_user: int = Field(default=5, ge=1)
    period_seconds: float = Field(default=60, gt=0)
    simulation_workers: int = Field(default=2, ge=1, le=32)
    simulation_queue: int = Field(default=8, ge=0)
    simulation_timeout_seconds: float = Field(default=30, gt=0)


class LLMSettings(BaseModel):
    """The language model (section ``llm:``; env ``BACKOUT_LLM__MODEL`` and so on). Without a
    ``model`` no model is used and plans carry the graph's own explanation.

    Attributes:
        model: the model name at the endpoint; setting it turns the model on.
        base_url: an OpenAI-compatible API root (``http://localhost:11434/v1`` for Ollama);
            OpenAI's when unset.
        api_key: the endpoint's key; env ``BACKOUT_LLM__API_KEY``, else ``OPENAI_API_KEY``.
        timeout_seconds: one request's limit; connect_timeout_seconds: connecting's.
        max_retries: further attempts after a temporary failure.
        max_tokens: the answer's token limit, sent on every call; token_limit_field names the
            request field (``max_completion_tokens`` for OpenAI's reasoning models).
        temperature: sent unless unset.
        deadline_seconds: the time one plan may spend on the model, all calls together.
        breaker_failures, breaker_cooldown_seconds: after that many failures in a row, the
            model is skipped for that long.
        input_price_per_million, output_price_per_million: prices for the cost metric.
        redact_patterns: regular expressions of secrets beyond the built-in ones.
        cache_ttl_seconds: how long a model's answer is reused for the same prompt, schema,
            model, endpoint, temperature and (redacted) input; cache_failure_ttl_seconds: how
            long a failure is (so a broken endpoint is not asked again at once).
        parse_messages: let the model read bot messages in the watched channels that no
            pattern reads (their text is redacted, capped and fenced; every answer is checked
            against the topology and the version pattern, or ignored). Off by default: it sends
            channel messages to the model.
    """

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    timeout_seconds: float = Field(default=20.0, gt=0)
    connect_timeout_seconds: float = Field(default=2.0, gt=0)
    max_retries: int = Field(default=1, ge=0, le=5)
    max_tokens: int = Field(default=1024, ge=1)
    token_limit_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"  # noqa: S105 (a field name)
    temperature: float | None = Field(default=0.0, ge=0, le=2)
    deadline_seconds: float = Field(default=30.0, gt=0)
    breaker_failures: int = Field(default=3, ge=1)
    breaker_cooldown_seconds: float = Field(default=300.0, ge=0)
    input_price_per_million: float | None = Field(default=None, ge=0)
    output_price_per_million: float | None = Field(default=None, ge=0)
    redact_patterns: list[str] = Field(default_factory=list)
    cache_ttl_seconds: float = Field(default=86_400.0, gt=0)
    cache_failure_ttl_seconds: float = Field(default=60.0, gt=0)
    parse_messages: bool = False

    @property
    def enabled(self) -> bool:
        """Whether a model is configured."""
        return bool(self.model)

    @field_validator("redact_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return patterns

    @field_validator("base_url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"https?://[^/\s]+", url):
            raise ValueError(f"expected an http(s) URL, not {url!r}")
        return url

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for ``integrations.llm.LLMConfig`` (the key unwrapped).

        Raises:
            ValueError: no model is configured.
        """
        if not self.model:
            raise ValueError("no model is configured (llm.model)")
        return {
            "model": self.model,
            "base_url": self.base_url,
            "api_key": self.api_key.get_secret_value() if self.api_key else None,
            "timeout": self.timeout_seconds,
            "connect_timeout": self.connect_timeout_seconds,
            "max_retries": self.max_retries,
            "max_tokens": self.max_tokens,
            "token_limit_field": self.token_limit_field,
            "temperature": self.temperature,
            "deadline": self.deadline_seconds,
            "breaker_failures": self.breaker_failures,
            "breaker_cooldown": self.breaker_cooldown_seconds,
            "input_price_per_million": self.input_price_per_million,
            "output_price_per_million": self.output_price_per_million,
            "redact_patterns": tuple(self.redact_patterns),
        }


class Settings(BaseSettings):
    """Everything Backout can be told.

    Attributes:
        database_url: SQLAlchemy URL; SQLite by default, ``postgresql+psycopg://…`` for replicas
            (a secret: it may carry a password).
        auto_upgrade: run database migrations on start.
        executors: executor name → its configuration, kept secret (``kind`` defaults to the
            name), e.g.
            ``{"kubernetes": {"kubeconfig": "~/.kube/config"}}``.
        prometheus_url: where health checks written as bare PromQL run.
        alertmanager_url: Alertmanager's root URL; when an alert message in Slack does not carry
            the labels (its default template shows only what a group shares), the group's alerts
            are looked up through its API (``/api/v2/alerts``).
        incidents: how alerts are grouped into incidents.
        limits: how many plans and dry runs one person or channel may start.
        deadlines: reminders and expiry of plans waiting for approval.
        watches: health watches after production deploys.
        engine: engine tuning.
        slack_bot_token: the bot token (``xoxb-…``), env ``SLACK_BOT_TOKEN``.
        slack_signing_secret: verifies Slack's requests, env ``SLACK_SIGNING_SECRET``.
        slack_app_token: the app-level token (``xapp-…``) for Socket Mode, env ``SLACK_APP_TOKEN``.
        slack_api_url: where the Slack Web API is (tests, the demo, proxies), env ``SLACK_API_URL``.
        mode: ``suggest`` (nothing runs), ``approve`` (default) or ``autopilot`` (contain runs).
        topology: topology sources the bot plans with (files or folders).
        channels: watched channels.
        webhooks: alert webhooks (``/webhooks/alertmanager``).
        policy: who may approve what.
        llm: the language model, if any.
        openai_api_key: env ``OPENAI_API_KEY``; the model's key when ``llm.api_key`` is unset.
        metrics_port: when set, ``/metrics`` is served only on this (internal) port, not publicly.
    """

    model_config = SettingsConfigDict(
        env_prefix="BACKOUT_", env_nested_delimiter="__", extra="forbid", populate_by_name=True
    )

    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("slack_bot_token", "SLACK_BOT_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("slack_signing_secret", "SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("slack_app_token", "SLACK_APP_TOKEN")
    )
    slack_api_url: str | None = Field(
        default=None, validation_alias=AliasChoices("slack_api_url", "SLACK_API_URL")
    )
    mode: Mode = Mode.APPROVE
    topology: list[str] = Field(default_factory=list)
    channels: ChannelSettings = Field(default_factory=ChannelSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    database_url: SecretStr = SecretStr("sqlite:///backout.db")
    auto_upgrade: bool = True
    executors: dict[str, Secret[dict[str, Any]]] = Field(default_factory=dict)
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    deadlines: DeadlineSettings = Field(default_factory=DeadlineSettings)
    watches: WatchSettings = Field(default_factory=WatchSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("openai_api_key", "OPENAI_API_KEY")
    )
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    def executor_configs(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(name, kind, options)`` of each configured executor; ``kind`` defaults to the name."""
        configs = [(name, secret.get_secret_value()) for name, secret in self.executors.items()]
        return [
            (name, str(config.get("kind", name)), {k: v for k, v in config.items() if k != "kind"})
            for name, config in configs
        ]

    @model_validator(mode="after")
    def _llm_key_from_openai_env(self) -> Settings:
        if self.llm.api_key is None and self.openai_api_key is not None:
            self.llm = self.llm.model_copy(update={"api_key": self.openai_api_key})
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file arrives through init_settings (load_settings reads it), so env wins over it.
        return env_settings, init_settings


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``backout.yaml`` (or ``$BACKOUT_CONFIG``) and the environment.

    Raises:
        SettingsError: unreadable or invalid file, or an invalid value; names where and what.
    """
    env = os.environ if environ is None else environ
    path = Path(env.get("BACKOUT_CONFIG", "backout.yaml"))
    data: dict[str, Any] = {}
    if path.exists() or "BACKOUT_CONFIG" in env:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"{path}: cannot read: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise SettingsError(f"{path}: expected a mapping at the top level")
        data = loaded or {}
    try:
        return Settings(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SettingsError(f"{path} or environment: {where}: {first['msg']}") from exc
