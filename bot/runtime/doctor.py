"""``backout doctor``: check every configured executor and health check without changing anything.

Part of ``bot/runtime`` (the composition root): it builds what ``serve`` would build from the
settings and the catalog, then for each service's rollback target runs its executor's read-only
checks (``diagnose`` from ``integrations/executors/diagnosis.py``: a Kubernetes
``SelfSubjectAccessReview``, Argo CD's ``account/can-i``, ``helm status``; for the other
executors a read of the target's state), and takes one reading of each health check (a
Prometheus query, an HTTP probe). The result is a table of findings, each failure with how to fix
it. ``build_services`` (and so ``serve``) runs :func:`startup_problem` first, on the topology it
has just loaded, and refuses to start on a missing executor or an unusable health check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.runtime.settings import Settings
from integrations.base import Executor, Operation
from integrations.errors import ConfigError, IntegrationError
from integrations.executors import builtin_executors
from integrations.executors.diagnosis import Check, Diagnosable, check_call, fix_for
from integrations.health import checks_from_catalog
from integrations.registry import Registry
from integrations.topology import load_topology
from planners.model import Action, Service
from planners.topology import Severity, Topology

__all__ = ["Finding", "diagnose", "render", "startup_problem"]

_FLAG_PROBE = "backout-doctor-probe"
"""A flag name no one uses: reading it proves reachability and credentials (404 is fine)."""


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One row of the doctor's table."""

    executor: str
    target: str
    check: str
    ok: bool
    detail: str = ""
    fix: str = ""


def diagnose(
    settings: Settings,
    *,
    topology: Topology | None = None,
    registry: Registry[Executor] | None = None,
    deep: bool = True,
) -> list[Finding]:
    """Every finding, in catalog order. ``deep=False`` checks only that each executor builds
    and each health check can be built (what ``serve`` checks at start)."""
    findings: list[Finding] = []
    if topology is None:
        topology, problems = load_topology(settings.topology)
        for problem in problems:
            if problem.severity == Severity.ERROR:
                findings.append(_bad("topology", "catalog", "load", problem.describe(), "fix it"))
    executors = _build(settings, registry or builtin_executors(), findings)
    try:
        for service in topology.services.values():
            findings.extend(_rollback(service, settings, executors, deep=deep))
            findings.extend(_health(service, settings, deep=deep))
    finally:
        for executor in executors.values():
            close = getattr(executor, "close", None)
            if callable(close):
                close()
    return findings


def startup_problem(settings: Settings, topology: Topology | None = None) -> str | None:
    """One line naming the first missing executor or unusable health check, or None (before
    anything connects: the catalog is read, executors and health checks are only built)."""
    for finding in diagnose(settings, topology=topology, deep=False):
        if not finding.ok:
            return f"{finding.executor} ({finding.target}): {finding.detail}; {finding.fix}"
    return None


def render(findings: Sequence[Finding]) -> str:
    """The table: executor, target, check, result, how to fix."""
    rows = [("EXECUTOR", "TARGET", "CHECK", "RESULT", "HOW TO FIX")]
    for f in findings:
        result = ("ok" if f.ok else "FAIL") + (f": {f.detail}" if f.detail else "")
        rows.append((f.executor, f.target, f.check, result, f.fix))
    widths = [min(max(len(r[i]) for r in rows), 40) for i in range(4)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
        for r in rows
    ]
    problems = sum(1 for f in findings if not f.ok)
    summary = f"{len(findings)} checks, {problems} problem(s)"
    return "\n".join([*(line.rstrip() for line in lines), "", summary]) + "\n"


def _bad(executor: str, target: str, check: str, detail: str, fix: str) -> Finding:
    return Finding(executor=executor, target=target, check=check, ok=False, detail=detail, fix=fix)


def _build(
    settings: Settings, registry: Registry[Executor], findings: list[Finding]
) -> dict[str, Executor]:
    built: dict[str, Executor] = {}
    for name, kind, options in settings.executor_configs():
        try:
            built[name] = registry.create(kind, options)
        except LookupError as exc:
            findings.append(_bad(name, "-", "configuration", str(exc), "set a known 'kind'"))
        except ConfigError as exc:
            fix = f"fix executors.{name} in backout.yaml (README: Executors)"
            findings.append(_bad(name, "-", "configuration", str(exc), fix))
        else:
            findings.append(Finding(executor=name, target="-", check="configuration", ok=True))
    return built


def _rollback(
    service: Service, settings: Settings, executors: Mapping[str, Executor], *, deep: bool
) -> list[Finding]:
    rollback = service.rollback
    if rollback is None or rollback.executor is None:
        return []
    name, params = rollback.executor, rollback.params()
    params.pop("executor", None)
    params.pop("flags", None)
    executor = executors.get(name)
    if executor is None:
        if name in settings.executors:
            return []  # its configuration failed: reported once, above
        fix = f"add executors.{name} to backout.yaml, or change the catalog's rollback.executor"
        return [_bad(name, service.name, "configured", "no such executor", fix)]
    if not deep:
        return []
    operation = Operation(
        step_id="doctor", action=Action.ROLLBACK_DEPLOY, service=service.name, params=params
    )
    checks = _checks(executor, operation)
    return [
        Finding(
            executor=name, target=service.name, check=c.check, ok=c.ok, detail=c.detail, fix=c.fix
        )
        for c in checks
    ]


def _checks(executor: Executor, operation: Operation) -> list[Check]:
    if isinstance(executor, Diagnosable):
        return _guarded(lambda: executor.diagnose(operation))
    if executor.kind == "feature_flags":
        probe = Operation(
            step_id="doctor",
            action=Action.DISABLE_FLAG,
            service=operation.service,
            params=operation.params,
            flag=_FLAG_PROBE,
        )
        return [_flag_read(executor, probe)]
    return [check_call("read the target's state", lambda: _state(executor, operation))]


def _guarded(run: Callable[[], list[Check]]) -> list[Check]:
    try:
        return run()
    except IntegrationError as exc:
        return [Check(check="diagnose", ok=False, detail=str(exc), fix=fix_for(exc))]


def _state(executor: Executor, operation: Operation) -> str:
    state = executor.current_state(operation)
    return state.detail or (state.current or "read")


def _flag_read(executor: Executor, probe: Operation) -> Check:
    from integrations.errors import NotFoundError

    try:
        state = executor.current_state(probe)
    except NotFoundError:
        return Check(check="read a flag's state", ok=True, detail="reachable, credentials accepted")
    except IntegrationError as exc:
        return Check(check="read a flag's state", ok=False, detail=str(exc), fix=fix_for(exc))
    return Check(check="read a flag's state", ok=True, detail=state.detail or "read")


def _health(service: Service, settings: Settings, *, deep: bool) -> list[Finding]:
    if service.health is None:
        return []
    try:
        health = checks_from_catalog(service.health, prometheus_url=settings.prometheus_url)
    except (ConfigError, ValueError) as exc:
        fix = "fix the catalog's health entry, or set prometheus_url"
        return [_bad("health", service.name, "build health checks", str(exc), fix)]
    findings: list[Finding] = []
    try:
        if deep:
            for check in health.checks:
                findings.append(_reading(service.name, check))
    finally:
        health.close()
    return findings


def _reading(service: str, check: Any) -> Finding:
    what = f"{check.kind} reading"
    try:
        reading = check.read()
    except IntegrationError as exc:
        return _bad("health", service, what, str(exc), fix_for(exc))
    state = "healthy" if reading.healthy else "unhealthy now"
    return Finding(
        executor="health", target=service, check=what, ok=True, detail=f"{state}: {reading.detail}"
    )
