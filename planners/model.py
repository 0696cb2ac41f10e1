"""The normalised domain of Backout: what the planning core takes in and gives out.

Every value here is a frozen pydantic model (immutable, ``extra="forbid"``). Adapters in
``integrations/`` turn vendor payloads into :class:`Service`, :class:`Change` and :class:`Alert`;
the planner turns those into a :class:`Plan` whose JSON form is the ``backout.plan/v1`` contract
of DESIGN.md. Times are always timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

__all__ = [
    "Action",
    "Alert",
    "AlertStatus",
    "Change",
    "ChangeKind",
    "Evidence",
    "EvidenceKind",
    "Excluded",
    "HealthSpec",
    "HttpCheckSpec",
    "Incident",
    "Noise",
    "Plan",
    "PrometheusCheckSpec",
    "Risk",
    "RollbackTarget",
    "Service",
    "ServiceKind",
    "Stage",
    "Step",
    "Suspect",
    "Tier",
    "UtcDatetime",
]


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a timezone (e.g. 2026-11-27T10:14:00Z)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]
"""A datetime that must be timezone-aware; it is normalised to UTC."""


class Tier(StrEnum):
    """How much the business depends on a service."""

    CRITICAL = "critical"
    STANDARD = "standard"
    LOW = "low"


class ServiceKind(StrEnum):
    """What a node of the topology is."""

    SERVICE = "service"
    DATABASE = "database"
    CACHE = "cache"
    QUEUE = "queue"
    EXTERNAL = "external"


class ChangeKind(StrEnum):
    """What kind of change was made to a service."""

    DEPLOY = "deploy"
    CONFIG = "config"
    FEATURE_FLAG = "feature_flag"
    MIGRATION = "migration"
    INFRA = "infra"


class AlertStatus(StrEnum):
    """Whether an alert is still firing."""

    FIRING = "firing"
    RESOLVED = "resolved"


class Action(StrEnum):
    """What a plan step does."""

    DISABLE_FLAG = "disable_flag"
    REVERT_CONFIG = "revert_config"
    ROLLBACK_DEPLOY = "rollback_deploy"
    REVERT_MIGRATION = "revert_migration"
    MANUAL = "manual"


class Stage(StrEnum):
    """The graduated response: contain, then partial, then full."""

    CONTAIN = "contain"
    PARTIAL = "partial"
    FULL = "full"


class Risk(StrEnum):
    """How dangerous a step is; high and critical need two approvers."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_Seconds = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
"""A finite number of seconds, 0 or more (an int is accepted; a bool or a string is not)."""


class RollbackTarget(BaseModel):
    """Where a service is rolled back, and by which executor: its catalog ``rollback`` entry.

    ``executor`` names the executor (a key of the settings' ``executors:``) that runs the
    service's deploy, config and migration steps; ``flags`` the one that turns its feature flags
    off (``feature_flags`` unless given). The other fields locate the target for that executor:
    ``namespace`` with ``deployment`` or ``statefulset`` (Kubernetes), ``application``,
    ``app_namespace`` and ``project`` (Argo CD), ``release`` (Helm), ``environment`` (feature
    flags). Other keys are kept as they are: the feature-flag and webhook executors pass any
    parameter on.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    executor: StrictStr | None = None
    flags: StrictStr | None = None
    namespace: StrictStr | None = None
    deployment: StrictStr | None = None
    statefulset: StrictStr | None = None
    application: StrictStr | None = None
    app_namespace: StrictStr | None = None
    project: StrictStr | None = None
    release: StrictStr | None = None
    environment: StrictStr | None = None

    def params(self) -> dict[str, Any]:
        """What the executor is given (a step's ``target``): every key the entry set but
        ``executor``, in the entry's order of fields, then the other keys."""
        given = self.model_dump(exclude_unset=True)
        return {key: value for key, value in given.items() if key != "executor"}


class PrometheusCheckSpec(_Frozen):
    """A Prometheus health check: ``query`` must hold (return a sample), or every sample must
    compare with ``op`` and ``threshold``. The health adapters check the values' meaning."""

    query: StrictStr
    op: StrictStr | None = None
    threshold: Annotated[float, Field(strict=True)] | None = None
    empty_is: StrictStr | None = None
    name: StrictStr | None = None
    url: StrictStr | None = None
    timeout: _Seconds | None = None


class HttpCheckSpec(_Frozen):
    """An HTTP health check: ``url`` must answer 2xx, or one of the ``expect`` statuses."""

    url: StrictStr
    expect: tuple[StrictInt, ...] | None = None
    timeout: _Seconds | None = None


class HealthSpec(_Frozen):
    """How a service's health is verified after a rollback step: its catalog ``health`` entry.

    ``prometheus`` and ``http`` are checks (at least one): a check, a string (the query or the
    URL) or a list of them; the service is healthy when every check is, ``consecutive`` readings
    in a row, one every ``interval`` seconds, within ``timeout`` seconds. Settings left out take
    the verifier's defaults.
    """

    prometheus: tuple[PrometheusCheckSpec, ...] = ()
    http: tuple[HttpCheckSpec, ...] = ()
    consecutive: Annotated[int, Field(strict=True, ge=1)] | None = None
    interval: _Seconds | None = None
    timeout: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)] | None = None

    @field_validator("prometheus", mode="before")
    @classmethod
    def _queries(cls, value: object) -> object:
        return _checks(value, shorthand="query")

    @field_validator("http", mode="before")
    @classmethod
    def _urls(cls, value: object) -> object:
        return _checks(value, shorthand="url")

    @model_validator(mode="after")
    def _some_check(self) -> Self:
        if not self.prometheus and not self.http:
            raise ValueError(
                "names no check: give prometheus (an expression that must hold) or http "
                "(a URL that must answer 2xx)"
            )
        return self


def _checks(value: object, *, shorthand: str) -> object:
    """A check, its string shorthand, or a list of either, as a list of check mappings."""
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError("is an empty list")
        return [{shorthand: item} if isinstance(item, str) else item for item in value]
    if isinstance(value, str):
        return [{shorthand: value}]
    if isinstance(value, Mapping | BaseModel):
        return [value]
    raise ValueError("must be a string or a mapping, or a list of them")


class Service(_Frozen):
    """A node of the topology (DESIGN.md, "The domain").

    ``estimated_seconds`` overrides the default duration of an action on this service, for example
    ``{"rollback_deploy": 45}``.
    """

    name: str
    team: str | None = None
    owners: tuple[str, ...] = ()
    tier: Tier = Tier.STANDARD
    kind: ServiceKind = ServiceKind.SERVICE
    depends_on: tuple[str, ...] = ()
    rollback: RollbackTarget | None = None
    health: HealthSpec | None = None
    estimated_seconds: dict[Action, int] = Field(default_factory=dict)


class Change(_Frozen):
    """A change made to a service: a deploy, a config or flag change, a migration, infra.

    ``flag`` names the feature flag of a ``feature_flag`` change. ``database`` names the database
    service a ``migration`` alters when the change is filed under the application that owns it.
    ``security`` marks a change that carries a security fix; ``labels`` are the record's labels
    (a ``security`` label, or a CVE or GHSA id in them or in the summary, marks one too).
    ``failed`` marks a deploy its source reported as failed: its version may not be running, or
    only in part, so a plan naming it says to check what actually runs.
    """

    id: str
    service: str
    kind: ChangeKind = ChangeKind.DEPLOY
    at: UtcDatetime
    from_version: str | None = None
    to_version: str | None = None
    actor: str | None = None
    source: str | None = None
    revertible: bool = True
    summary: str = ""
    flag: str | None = None
    database: str | None = None
    security: bool = False
    labels: tuple[str, ...] = ()
    failed: bool = False


class Alert(_Frozen):
    """One alert, normalised from any supported source."""

    fingerprint: str
    service: str | None
    name: str
    severity: str = "unknown"
    status: AlertStatus = AlertStatus.FIRING
    started_at: UtcDatetime
    summary: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    source: str = "unknown"


class Incident(_Frozen):
    """The incident a plan answers: its alerting services and when it started."""

    id: str
    services: tuple[str, ...]
    started_at: UtcDatetime | None


class Noise(_Frozen):
    """A firing alert on a known service that the planner left out of the incident, and why
    (chronic: it started long before the burst; flapping: it comes and goes)."""

    fingerprint: str
    service: str
    name: str
    started_at: UtcDatetime
    why: str


class Suspect(_Frozen):
    """A change that may have caused the incident, with its score in [0, 1] and the evidence."""

    change_id: str
    service: str
    score: float
    reasons: tuple[str, ...]
    kind: ChangeKind
    at: UtcDatetime


class Excluded(_Frozen):
    """A change that was considered and ruled out, and why."""

    change_id: str
    why: str


class EvidenceKind(StrEnum):
    """What a piece of evidence is: a suspect's reason, a step, a step's warning, an exclusion,
    or a reason the planner abstained."""

    REASON = "reason"
    STEP = "step"
    WARNING = "warning"
    EXCLUSION = "exclusion"
    ABSTAIN = "abstain"


class Evidence(_Frozen):
    """One citable piece of a plan (``E1``, ``E2``…), numbered by :mod:`planners.evidence`.

    ``about`` is what it belongs to: a change id for a reason or an exclusion, a step id for a
    step or a warning, the incident id for an abstain reason. ``text`` is the plan's own words.
    """

    id: str
    kind: EvidenceKind
    about: str
    text: str


class Step(_Frozen):
    """One step of a rollback plan. ``after`` names the steps that must finish first.

    ``target`` is where the executor acts (the service's catalog ``rollback`` settings without
    ``executor``: namespace, deployment, application, release…); ``bad_version`` is the version the
    change introduced, so an executor can tell whether the target still runs it. ``security``
    names what rolling back re-opens (CVE or GHSA ids, or ``security fix``) when the change
    carries a security fix: such a step is ``high`` risk or more and never runs by itself.
    """

    id: str
    stage: Stage
    action: Action
    service: str
    change_id: str
    target_version: str | None
    after: tuple[str, ...]
    risk: Risk
    approvals_required: int
    executor: str | None
    estimated_seconds: int
    verify: dict[str, tuple[str, ...]]
    why: str
    flag: str | None = None
    warning: str | None = None
    bad_version: str | None = None
    target: dict[str, Any] = Field(default_factory=dict)
    security: tuple[str, ...] = ()


class Plan(_Frozen):
    """A rollback plan: ``backout.plan/v1``.

    ``abstained`` is true when no change explains the symptoms well enough; the plan then has no
    steps and ``abstain_reasons`` says why. ``notes`` carries what the planner noticed on the way
    (cycles in the topology, alerts naming unknown services, coupled changes pulled in).
    Fields added after the first release, each optional with a default so older readers and
    older plans keep working: ``causes`` (the change ids of independent causes when there are
    two), ``noise`` (firing alerts left out of the incident, with why), ``common_dependency``
    (when abstaining: an unchanged service every alerting service depends on, the likely cause),
    ``evidence`` (every suspect reason, step, warning, exclusion and abstain reason with a stable
    id, E1…; a plan read without it gets the same ids from :func:`planners.evidence.evidence_of`).
    """

    schema_: str = Field(default="backout.plan/v1", alias="schema")
    incident: Incident
    impacted: tuple[str, ...]
    suspects: tuple[Suspect, ...]
    excluded: tuple[Excluded, ...]
    steps: tuple[Step, ...]
    critical_path_seconds: int
    explanation: str
    drafted_by: str = "graph"
    abstained: bool = False
    abstain_reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    generated_at: UtcDatetime
    causes: tuple[str, ...] = ()
    noise: tuple[Noise, ...] = ()
    common_dependency: str | None = None
    evidence: tuple[Evidence, ...] = ()

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_json_dict(self) -> dict[str, Any]:
        """The plan as the ``backout.plan/v1`` JSON object (times as ``...Z`` strings)."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data
