"""The pure planning core of Backout: no network, no database, no Slack, no clock.

It takes a topology, recent changes and alerts and returns a rollback plan
(``backout.plan/v1``). Everything else in Backout calls in here; nothing in here calls out.
"""

from __future__ import annotations

from planners.errors import PlanningError, UnknownServiceError
from planners.model import (
    Action,
    Alert,
    AlertStatus,
    Change,
    ChangeKind,
    Excluded,
    Incident,
    Plan,
    Risk,
    Service,
    ServiceKind,
    Stage,
    Step,
    Suspect,
    Tier,
)
from planners.planner import PlanningOptions, plan_rollback, suggest_services
from planners.topology import Edge, Fragment, Problem, Severity, Topology, build_topology

__all__ = [
    "Action",
    "Alert",
    "AlertStatus",
    "Change",
    "ChangeKind",
    "Edge",
    "Excluded",
    "Fragment",
    "Incident",
    "Plan",
    "PlanningError",
    "PlanningOptions",
    "Problem",
    "Risk",
    "Service",
    "ServiceKind",
    "Severity",
    "Stage",
    "Step",
    "Suspect",
    "Tier",
    "Topology",
    "UnknownServiceError",
    "build_topology",
    "plan_rollback",
    "suggest_services",
]
