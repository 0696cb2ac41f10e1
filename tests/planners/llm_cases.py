"""A plan with suspects, steps in two stages, a coupled pair and exclusions, for the guard's and
the model glue's tests (``test_validate``, ``tests/integrations/llm/test_explain_plan``)."""

from __future__ import annotations

from datetime import timedelta

from planners import Plan
from planners.refine import PlanningInputs
from tests.support.planning import T0, alert, change, topo

TOPOLOGY = topo(
    {"frontend": ["checkoutservice"], "checkoutservice": ["cartservice", "paymentservice"]}
)
CHANGES = [
    change("C1", "checkoutservice", 8, from_version="v1.4.1", to_version="v1.4.2"),
    change("C2", "frontend", 20, kind="feature_flag", flag="new-cart"),
    change("C3", "cartservice", 30, from_version="v2.0.0", to_version="v2.1.0"),
    change("C4", "paymentservice", -30),
    change("C5", "paymentservice", 100, kind="config"),
]
ALERTS = [alert("checkoutservice"), alert("frontend", 1)]
INPUTS = PlanningInputs(
    topology=TOPOLOGY, changes=CHANGES, alerts=ALERTS, now=T0 + timedelta(minutes=5)
)


def base_plan() -> Plan:
    from planners import plan_rollback

    i = INPUTS
    return plan_rollback(i.topology, changes=i.changes, alerts=i.alerts, now=i.now)
