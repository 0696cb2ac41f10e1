"""Who may approve which rollback step, and when a step has enough approvals to run.

This is the authorisation core of the ``bot`` layer (DESIGN.md, "Planning rules" 6 and "Modes"):
the approve-button handler and the engine ask a :class:`Policy` before anything runs, and audit
every :class:`Decision` it returns, so each denial carries a reason a human can act on. The policy
is pure: it holds the ``policy:`` section of the settings (:class:`PolicyConfig`), the topology
(each service's ``team`` and ``owners``) and the running :class:`Mode`, and it learns who is in a
Slack user group only through an injected :class:`GroupResolver` (the composition root wraps
``usergroups.users.list`` in a :class:`CachingGroupResolver`). User ids reach it from signed
Slack payloads only; it never parses message text.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Annotated, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from bot.core import security_approval
from bot.lifecycle import Mode
from planners.model import Action, Risk, Service, Stage, Step
from planners.topology import Topology

__all__ = [
    "CachingGroupResolver",
    "Decision",
    "GroupResolver",
    "Policy",
    "PolicyConfig",
    "SlackId",
    "is_group_id",
    "is_user_id",
]

log = logging.getLogger(__name__)

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")
_HIGH_RISK = frozenset({Risk.HIGH, Risk.CRITICAL})


def is_user_id(value: str) -> bool:
    """Whether ``value`` has the shape of a Slack user id (``U…``, or ``W…`` on Enterprise Grid)."""
    return _USER_ID.fullmatch(value) is not None


def is_group_id(value: str) -> bool:
    """Whether ``value`` has the shape of a Slack user-group id (``S…``)."""
    return _GROUP_ID.fullmatch(value) is not None


def _slack_id(value: str) -> str:
    if not (is_user_id(value) or is_group_id(value)):
        raise PydanticCustomError(
            "slack_id",
            "{value} is not a Slack user (U…/W…) or user group (S…) id",
            {"value": repr(value)},
        )
    return value


SlackId = Annotated[str, AfterValidator(_slack_id)]
"""A Slack user id (``U…``/``W…``) or user-group id (``S…``); anything else fails validation."""


class PolicyConfig(BaseModel):
    """The ``policy:`` section of the settings: who may approve what.

    Every id is a Slack user id (``U…``/``W…``) or user-group id (``S…``); a group grants its
    members. A validation error names the field, e.g. ``approvers.2`` (``policy.approvers.2`` when
    embedded in the settings).

    Attributes:
        approvers: may approve any step.
        services: service name → who may approve that service's steps.
        teams: team name → who may approve steps on the services whose catalog ``team`` it is.
        owners_may_approve: a service's catalog ``owners`` may approve its steps.
        requester_counts_for_high_risk: whoever asked for the plan may be the only approver of a
            ``high`` or ``critical`` risk step (off by default: someone else must approve too).
        security_approvers: a step undoing a security fix needs one approver from these (like
            the two-person rule), who may approve such steps (:mod:`bot.core.security_approval`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    approvers: list[SlackId] = Field(default_factory=list)
    services: dict[str, list[SlackId]] = Field(default_factory=dict)
    teams: dict[str, list[SlackId]] = Field(default_factory=dict)
    owners_may_approve: bool = True
    requester_counts_for_high_risk: bool = False
    security_approvers: list[SlackId] = Field(default_factory=list)


class GroupResolver(Protocol):
    """Who is in a Slack user group."""

    def members(self, group_id: str) -> frozenset[str]:
        """The user ids in ``group_id``.

        Raises:
            LookupError: the group is unknown or cannot be read now; the policy then treats it
                as having no members, and says so in its reasons.
        """
        ...


class CachingGroupResolver:
    """A thread-safe :class:`GroupResolver` that caches each group's members for ``ttl`` seconds.

    Concurrent lookups of the same group share one ``fetch``; lookups of different groups do not
    wait for each other. A failed fetch (``LookupError`` or anything else) is not cached and
    propagates, so a stale member list is never served past its TTL.

    Args:
        fetch: reads a group's members (the bot wraps ``usergroups.users.list``); should raise
            ``LookupError`` for an unknown group.
        ttl: seconds a fetched member list stays fresh.
        clock: monotonic seconds; injected by tests.
    """

    def __init__(
        self,
        fetch: Callable[[str], frozenset[str]],
        *,
        ttl: float = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0:
            raise ValueError(f"ttl must be zero or more seconds, not {ttl}")
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def members(self, group_id: str) -> frozenset[str]:
        """The user ids in ``group_id``, from the cache while fresh.

        Raises:
            LookupError: from ``fetch``, for an unknown group.
        """
        with self._lock:
            cached = self._fresh(group_id)
            if cached is not None:
                return cached
            fetching = self._fetching.setdefault(group_id, threading.Lock())
        with fetching:
            with self._lock:
                cached = self._fresh(group_id)
                if cached is not None:
                    return cached
            started = self._clock()
            members = frozenset(self._fetch(group_id))
            with self._lock:
                self._cache[group_id] = (started, members)
            return members

    def invalidate(self, group_id: str | None = None) -> None:
        """Forget one group's members (after a ``subteam_members_changed`` event), or all."""
        with self._lock:
            if group_id is None:
                self._cache.clear()
            else:
                self._cache.pop(group_id, None)

    def _fresh(self, group_id: str) -> frozenset[str] | None:
        entry = self._cache.get(group_id)
        if entry is None:
            return None
        fetched_at, members = entry
        if self._clock() - fetched_at >= self._ttl:
            return None
        return members


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The answer to "may this happen?", with the reason the bot shows and audits."""

    allowed: bool
    reason: str


@dataclass(frozen=True, kw_only=True)
class _Grant:
    """One configured id that may approve a step, and why (``a global approver``)."""

    id: str
    why: str


@dataclass(frozen=True, kw_only=True)
class _Tally:
    """How a step's approvals count against what it needs."""

    required: int
    counted: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]
    requester_alone: str | None
    need: int
    security_missing: bool = False


class Policy:
    """Decides who may approve a step, whether a step is approved, and what autopilot may run.

    Args:
        config: the ``policy:`` settings.
        topology: the service graph; a service's ``team`` and ``owners`` come from it.
        groups: resolves user-group members.
        mode: the mode Backout runs in.
    """

    def __init__(
        self,
        config: PolicyConfig,
        *,
        topology: Topology,
        groups: GroupResolver,
        mode: Mode,
    ) -> None:
        self._config = config
        self._topology = topology
        self._groups = groups
        self._mode = Mode(mode)

    @property
    def mode(self) -> Mode:
        """The mode Backout runs in."""
        return self._mode

    def warnings(self) -> list[str]:
        """Configuration that grants nothing: services or teams the topology does not know."""
        teams = {s.team for s in self._topology.services.values() if s.team}
        found = [
            f"policy.services: {name!r} is not a service in the topology"
            for name in sorted(self._config.services)
            if name not in self._topology
        ]
        found += [
            f"policy.teams: {name!r} is not the team of any service in the topology"
            for name in sorted(self._config.teams)
            if name not in teams
        ]
        return found

    # -- who may approve -----------------------------------------------------------------------

    def may_approve(self, user_id: str, step: Step) -> Decision:
        """Whether ``user_id`` may approve ``step``.

        Allowed for a global approver, someone listed for the step's service or its team, or
        (with ``owners_may_approve``) one of the service's owners; each of these may be a user
        group. Nobody may approve in ``suggest`` mode. An unknown group grants nothing: the
        reason says so, and no exception escapes.

        Args:
            user_id: the clicking user, from a signed Slack payload.
            step: the step to approve.

        Returns:
            The decision and its reason.
        """
        if self._mode == Mode.SUGGEST:
            return Decision(allowed=False, reason=_SUGGEST_REASON)
        if not is_user_id(user_id):
            return Decision(
                allowed=False,
                reason=f"{user_id!r} is not a Slack user id (U…/W…); approvals are refused",
            )
        grants = self._grants(step.service)
        secure = self._config.security_approvers if step.security else []
        grants += [_Grant(id=i, why="a security approver") for i in secure]
        for grant in grants:
            if grant.id == user_id:
                return Decision(allowed=True, reason=f"{user_id} is {grant.why}")
        unresolved: list[str] = []
        seen: dict[str, frozenset[str]] = {}
        for grant in grants:
            if not is_group_id(grant.id):
                continue
            if grant.id not in seen:
                seen[grant.id] = self._members(grant.id, unresolved)
            if user_id in seen[grant.id]:
                return Decision(
                    allowed=True,
                    reason=f"{user_id} is in {grant.id}, {grant.why}",
                )
        return Decision(allowed=False, reason=self._refusal(user_id, step, unresolved))

    def approved(
        self, step: Step, approvers: Collection[str], *, requester: str | None = None
    ) -> bool:
        """Whether ``step`` has enough distinct, currently authorised approvers to run.

        Each approver is checked again now, so an approval from someone since removed from the
        policy no longer counts. At least one approval is always needed. For a ``high`` or
        ``critical`` risk step the requester may not be the only approver, unless
        ``requester_counts_for_high_risk``: with ``approvals_required`` 1 someone else must
        approve; with 2, the requester and one other person suffice.

        Args:
            step: the step.
            approvers: the users who clicked Approve on it (duplicates count once).
            requester: the user who asked for the plan, if a person did.
        """
        if self._mode == Mode.SUGGEST:
            return False
        return self._tally(step, approvers, requester=requester).need == 0

    def missing(
        self, step: Step, approvers: Collection[str], *, requester: str | None = None
    ) -> str:
        """What ``step`` still needs before it may run, in words; empty when it is approved.

        Example: ``needs 1 more approver from @oncall-payments (S123) or U456; U789 asked for
        this plan and cannot be the only approver of a high-risk step``.

        Args:
            step: the step.
            approvers: the users who clicked Approve on it.
            requester: the user who asked for the plan, if a person did.
        """
        if self._mode == Mode.SUGGEST:
            return _SUGGEST_REASON
        tally = self._tally(step, approvers, requester=requester)
        if tally.need == 0:
            return ""
        plural = "" if tally.need == 1 else "s"
        counted = set(tally.counted)
        candidates = [
            grant_id
            for grant_id in dict.fromkeys(g.id for g in self._grants(step.service))
            if grant_id not in counted
        ]
        if candidates:
            parts = [f"needs {tally.need} more approver{plural} from {_either(candidates)}"]
        else:
            parts = [
                f"needs {tally.need} more approver{plural}, but nobody else may approve steps "
                f"on {step.service} (add approvers under policy: in the settings)"
            ]
        if tally.security_missing:
            parts.append(security_approval.reason(step, _either(self._config.security_approvers)))
        if tally.requester_alone is not None:
            parts.append(
                f"{tally.requester_alone} asked for this plan and cannot be the only approver "
                f"of a {step.risk.value}-risk step"
            )
        parts += [f"{user}'s approval does not count: {why}" for user, why in tally.refused]
        return "; ".join(parts)

    # -- autopilot -----------------------------------------------------------------------------

    def autopilot_decision(self, step: Step) -> Decision:
        """Whether ``step`` may run without approval, and why (or why not).

        Only in ``autopilot`` mode, only ``contain``-stage steps, never a ``manual``, security-fix
        or ``high``/``critical`` risk one (those need people: DESIGN.md, rule 6).
        """
        if self._mode != Mode.AUTOPILOT:
            return Decision(
                allowed=False,
                reason=f"Backout runs in {self._mode.value} mode: every step needs approval",
            )
        if step.stage != Stage.CONTAIN:
            return Decision(
                allowed=False,
                reason=f"autopilot runs only the contain stage; step {step.id} is in the "
                f"{step.stage.value} stage and needs approval",
            )
        if step.action == Action.MANUAL:
            return Decision(
                allowed=False,
                reason=f"step {step.id} is manual: a person must carry it out",
            )
        if step.security:
            return Decision(allowed=False, reason=security_approval.autopilot_refusal(step))
        if step.risk in _HIGH_RISK:
            return Decision(
                allowed=False,
                reason=f"step {step.id} is {step.risk.value}-risk and needs approval "
                "even in autopilot",
            )
        return Decision(
            allowed=True,
            reason=f"autopilot runs contain-stage step {step.id} without approval",
        )

    def autopilot_may_run(self, step: Step) -> bool:
        """Whether ``step`` runs without approval (see :meth:`autopilot_decision`)."""
        return self.autopilot_decision(step).allowed

    # -- internals -----------------------------------------------------------------------------

    def _service(self, name: str) -> Service | None:
        return self._topology.services.get(name)

    def _grants(self, service_name: str) -> list[_Grant]:
        """Every configured id that may approve steps on ``service_name``, most general first."""
        config = self._config
        grants = [_Grant(id=i, why="a global approver") for i in config.approvers]
        grants += [
            _Grant(id=i, why=f"listed for service {service_name}")
            for i in config.services.get(service_name, ())
        ]
        service = self._service(service_name)
        if service is not None and service.team:
            grants += [
                _Grant(id=i, why=f"listed for team {service.team}")
                for i in config.teams.get(service.team, ())
            ]
        if service is not None and config.owners_may_approve:
            # Catalog owners are meant to be Slack ids; anything else cannot match a user.
            grants += [
                _Grant(id=i, why=f"an owner of {service_name}")
                for i in service.owners
                if is_user_id(i) or is_group_id(i)
            ]
        return grants

    def _resolve(self, group_id: str) -> frozenset[str]:
        return self._members(group_id, [])

    def _members(self, group_id: str, unresolved: list[str]) -> frozenset[str]:
        try:
            return self._groups.members(group_id)
        except LookupError as exc:
            log.warning(
                "policy group %s could not be resolved: %s",
                group_id,
                exc,
                extra={"group_id": group_id},
            )
            unresolved.append(f"{group_id} could not be resolved ({exc})")
            return frozenset()

    def _refusal(self, user_id: str, step: Step, unresolved: list[str]) -> str:
        service = self._service(step.service)
        checked = ["not a global approver", f"not listed for service {step.service}"]
        if service is None:
            checked.append("and the service is not in the topology")
        else:
            if service.team:
                checked.append(f"nor for team {service.team}")
            if self._config.owners_may_approve:
                checked.append("not among its owners")
        reason = f"{user_id} may not approve steps on {step.service}: " + ", ".join(checked)
        if unresolved:
            reason += "; " + "; ".join(unresolved)
        return reason

    def _tally(self, step: Step, approvers: Collection[str], *, requester: str | None) -> _Tally:
        required = max(1, step.approvals_required)
        counted: list[str] = []
        refused: list[tuple[str, str]] = []
        for user in dict.fromkeys(approvers):
            decision = self.may_approve(user, step)
            if decision.allowed:
                counted.append(user)
            else:
                refused.append((user, decision.reason))
        need = max(0, required - len(counted))
        requester_alone = None
        guarded = step.risk in _HIGH_RISK and not self._config.requester_counts_for_high_risk
        if guarded and requester is not None and counted == [requester]:
            requester_alone = requester
            need = max(need, 1)
        sec = self._config.security_approvers
        security_missing = security_approval.missing(step, counted, sec, self._resolve)
        need = max(need, int(security_missing))
        return _Tally(
            required=required,
            counted=tuple(counted),
            refused=tuple(refused),
            requester_alone=requester_alone,
            need=need,
            security_missing=security_missing,
        )


_SUGGEST_REASON = (
    "Backout runs in suggest (learning) mode: plans are posted, but nothing can be approved "
    "or executed"
)


def _either(names: list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]
