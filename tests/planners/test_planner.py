"""The planning rules of DESIGN.md, one by one, on small hand-made graphs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from planners import (
    Action,
    Alert,
    AlertStatus,
    Change,
    ChangeKind,
    Plan,
    PlanningOptions,
    Risk,
    ServiceKind,
    Stage,
    Tier,
    Topology,
)
from tests.support import planning
from tests.support.planning import alert, change, precedes, step_for, topo


def plan(topology: Topology, changes: list[Change], alerts: list[Alert], **kw: Any) -> Plan:
    return planning.plan(topology, changes, alerts, minutes=5, **kw)


SHOP = {"web": ["api"], "mobile": ["api"], "api": ["cart", "db"], "cart": ["db"], "ads": []}


class TestSuspects:
    def test_shared_dependency_beats_a_more_recent_deploy_of_one_alerting_service(self):
        """The change every alerting service depends on outranks a newer one explaining one."""
        t = topo(SHOP)
        p = plan(
            t,
            [change("old", "api", 40), change("new", "web", 3)],
            [alert("web"), alert("mobile", 1)],
        )
        assert p.suspects[0].change_id == "old"
        assert any("mobile depends on it directly" in r for r in p.suspects[0].reasons)

    def test_change_after_incident_start_is_excluded_with_reason(self):
        """A change after the first alert (beyond 2 min of skew) is never a suspect."""
        t = topo(SHOP)
        p = plan(t, [change("late", "api", -3), change("skewed", "cart", -1)], [alert("api")])
        assert [s.change_id for s in p.suspects] == ["skewed"]
        excluded = {e.change_id: e.why for e in p.excluded}
        assert "after the incident started" in excluded["late"]

    def test_change_before_the_window_is_excluded(self):
        """The window (default 2 h) bounds how old a suspect may be; it is configurable."""
        t = topo(SHOP)
        changes = [change("ancient", "api", 180)]
        assert plan(t, changes, [alert("api")]).abstained
        widened = plan(
            t, changes, [alert("api")], options=PlanningOptions(window=timedelta(hours=4))
        )
        assert widened.suspects[0].change_id == "ancient"

    def test_unrelated_change_is_ruled_out(self):
        """A change with no dependency path to the alerting services is excluded; plan abstains."""
        p = plan(topo(SHOP), [change("ads-1", "ads", 5)], [alert("api")])
        assert p.abstained and not p.steps
        assert "no dependency path" in {e.change_id: e.why for e in p.excluded}["ads-1"]
        assert "No rollback proposed" in p.explanation

    def test_consumer_change_alone_does_not_make_a_plan(self):
        """A consumer of the alerting service scores low: the planner abstains, not guesses."""
        p = plan(topo(SHOP), [change("web-1", "web", 2)], [alert("cart")])
        assert p.abstained
        assert p.abstain_reasons and "well enough" in p.abstain_reasons[0]

    def test_history_raises_a_service_with_past_culprits(self):
        """Of two equal candidates, the one whose changes caused earlier incidents ranks first."""
        t = topo({"web": ["a", "b"]})
        changes = [change("a-1", "a", 10), change("b-1", "b", 10)]
        p = plan(t, changes, [alert("web")], history={"b": 3})
        assert p.suspects[0].change_id == "b-1"
        assert any("earlier incidents" in r for r in p.suspects[0].reasons)


class TestAbstainAndInputs:
    def test_resolved_alerts_never_start_an_incident(self):
        """Only firing alerts count; a payload of resolved alerts yields no plan."""
        p = plan(topo(SHOP), [change("c", "api", 5)], [alert("api", status=AlertStatus.RESOLVED)])
        assert p.abstained and "no firing alert" in p.abstain_reasons[0]

    @pytest.mark.parametrize("lookalike", ["\u0430pi", "api\u200b"])
    def test_lookalike_service_is_unknown_never_mapped(self, lookalike):
        """A Cyrillic letter or zero-width space makes another name, reported with a hint."""
        p = plan(topo(SHOP), [change("c", "api", 5)], [alert(lookalike)])
        assert p.abstained
        assert p.incident.services == ()
        assert any("unknown service" in n and "names must match exactly" in n for n in p.notes)

    def test_cycles_are_reported_and_planning_still_works(self):
        """A loadgenerator and frontend calling each other neither hangs nor blocks planning."""
        t = topo({"load": ["front"], "front": ["load", "api"], "api": []})
        p = plan(t, [change("f", "front", 5), change("l", "load", 8)], [alert("front")])
        assert not p.abstained
        assert any("cycle" in n for n in p.notes)
        assert precedes(p, step_for(p, "f").id, step_for(p, "l").id) or precedes(
            p, step_for(p, "l").id, step_for(p, "f").id
        )


class TestOrder:
    def test_consumers_roll_back_before_providers_in_one_stage(self):
        """If A depends on B (even transitively) and both are in a stage, A's step runs first."""
        t = topo(SHOP)
        changes = [
            change("api-1", "api", 5),
            change("cart-1", "cart", 30),
            change("db-1", "db", 35),
        ]
        p = plan(t, changes, [alert("web")])
        full = [s for s in p.steps if s.stage == Stage.FULL]
        assert {s.change_id for s in full} == {"cart-1", "db-1"}
        assert precedes(p, step_for(p, "cart-1").id, step_for(p, "db-1").id)

    def test_flags_and_config_come_first_in_contain(self):
        """Flag and config reverts are the contain stage and precede every deploy rollback that
        is not coupled to them (the cart config is newer than the api deploy: api does not rely
        on it)."""
        t = topo(SHOP)
        changes = [
            change("d", "api", 10),
            change("f", "api", 12, kind="feature_flag", flag="new-pricing"),
            change("c", "cart", 8, kind="config", from_version="pool=8"),
        ]
        p = plan(t, changes, [alert("api")])
        assert step_for(p, "f").stage == step_for(p, "c").stage == Stage.CONTAIN
        assert (
            step_for(p, "f").action == Action.DISABLE_FLAG
            and step_for(p, "f").flag == "new-pricing"
        )
        for early in ("f", "c"):
            assert precedes(p, step_for(p, early).id, step_for(p, "d").id)

    def test_migration_is_reverted_after_the_apps_that_use_the_database(self):
        """A migration waits for every application step on a service that uses its database."""
        t = topo(SHOP, db={"kind": ServiceKind.DATABASE})
        changes = [
            change("mig", "db", 30, kind="migration"),
            change("api-1", "api", 25),
            change("cart-1", "cart", 40),
        ]
        p = plan(t, changes, [alert("api")])
        mig = step_for(p, "mig")
        assert mig.action == Action.REVERT_MIGRATION
        for app in ("api-1", "cart-1"):
            assert precedes(p, step_for(p, app).id, mig.id)

    def test_migration_filed_under_its_app_names_its_database(self):
        """``database`` points a migration at the store it alters; the app still goes first."""
        t = topo(SHOP, db={"kind": ServiceKind.DATABASE})
        changes = [
            change("mig", "cart", 30, kind="migration", database="db"),
            change("api-1", "api", 20),
        ]
        p = plan(t, changes, [alert("api")])
        assert precedes(p, step_for(p, "api-1").id, step_for(p, "mig").id)

    def test_coupled_consumer_is_pulled_in_and_goes_first(self):
        """A consumer deployed after its provider is rolled back first, even if not a suspect."""
        t = topo(SHOP)
        changes = [change("cart-1", "cart", 30), change("api-1", "api", 10)]
        p = plan(t, changes, [alert("cart")])
        assert p.suspects[0].change_id == "cart-1"
        api = step_for(p, "api-1")
        assert api.stage == Stage.PARTIAL
        assert precedes(p, api.id, step_for(p, "cart-1").id)
        assert "coupled" in api.why
        assert any("pulled in" in n for n in p.notes)

    def test_independent_steps_may_run_in_parallel(self):
        """Steps with no path between them carry no ``after`` between them."""
        t = topo({"web": ["a", "b"], "a": [], "b": []})
        changes = [change("a-1", "a", 30), change("b-1", "b", 31)]
        p = plan(t, changes, [alert("web")])
        a, b = step_for(p, "a-1"), step_for(p, "b-1")
        assert a.stage == Stage.PARTIAL and b.stage == Stage.FULL  # stages still chain
        t2 = topo({"web": ["a", "b"], "a": [], "b": []})
        flags = [
            change("fa", "a", 30, kind="feature_flag", flag="x"),
            change("fb", "b", 30, kind="feature_flag", flag="y"),
        ]
        p2 = plan(t2, flags, [alert("web")])
        fa, fb = step_for(p2, "fa"), step_for(p2, "fb")
        assert not precedes(p2, fa.id, fb.id) and not precedes(p2, fb.id, fa.id)
        assert p2.critical_path_seconds == max(fa.estimated_seconds, fb.estimated_seconds)

    def test_stages_run_in_order(self):
        """Every partial step follows every contain step, every full step every partial one."""
        t = topo(SHOP)
        changes = [
            change("top", "api", 5),
            change("flag", "cart", 50, kind="feature_flag", flag="f"),
            change("other", "db", 10),
        ]
        p = plan(t, changes, [alert("api")])
        order = [Stage.CONTAIN, Stage.PARTIAL, Stage.FULL]
        for a in p.steps:
            for b in p.steps:
                if order.index(a.stage) < order.index(b.stage):
                    assert precedes(p, a.id, b.id)


class TestSafetyAndEstimates:
    def test_irreversible_change_becomes_a_manual_step_with_a_warning(self):
        """No automatic step for what cannot be undone: a manual step, a warning, two approvers."""
        t = topo(SHOP, db={"kind": ServiceKind.DATABASE})
        p = plan(t, [change("mig", "db", 10, kind="migration", revertible=False)], [alert("db")])
        step = step_for(p, "mig")
        assert step.action == Action.MANUAL and step.executor is None
        assert step.warning and "irreversible" in step.warning
        assert step.approvals_required == 2

    def test_critical_service_needs_two_approvers(self):
        """A step on a critical-tier service needs two distinct approvers; standard needs one."""
        t = topo(SHOP, api={"tier": Tier.CRITICAL})
        p = plan(t, [change("a", "api", 10), change("c", "cart", 11)], [alert("api")])
        assert step_for(p, "a").approvals_required == 2
        assert step_for(p, "c").approvals_required == 1
        assert step_for(p, "c").risk == Risk.MEDIUM

    def test_estimates_default_per_action_and_override_per_service(self):
        """``estimated_seconds`` comes from the catalog when given; critical path sums the chain."""
        t = topo(
            {"web": ["api"], "api": []},
            api={
                "estimated_seconds": {"rollback_deploy": 40},
                "rollback": {"executor": "kubernetes"},
            },
        )
        p = plan(t, [change("a", "api", 10), change("w", "web", 5)], [alert("web")])
        assert step_for(p, "a").estimated_seconds == 40
        assert step_for(p, "a").executor == "kubernetes"
        assert step_for(p, "w").estimated_seconds == 90
        assert p.critical_path_seconds == 130


class TestOutput:
    def test_json_has_the_v1_contract_fields(self):
        """The JSON form carries every field DESIGN.md promises for backout.plan/v1."""
        p = plan(topo(SHOP), [change("c", "api", 5, from_version="v1")], [alert("web")])
        data = p.to_json_dict()
        assert data["schema"] == "backout.plan/v1"
        assert set(data) >= {
            "schema",
            "incident",
            "impacted",
            "suspects",
            "excluded",
            "steps",
            "critical_path_seconds",
            "explanation",
            "drafted_by",
        }
        assert data["incident"]["started_at"] == "2026-11-27T10:00:00Z"
        step = data["steps"][0]
        assert set(step) >= {
            "id",
            "stage",
            "action",
            "service",
            "change_id",
            "target_version",
            "after",
            "risk",
            "approvals_required",
            "executor",
            "estimated_seconds",
            "verify",
            "why",
        }
        assert step["target_version"] == "v1"
        assert data["drafted_by"] == "graph"

    def test_impacted_follows_the_path_from_alert_to_suspect(self):
        """Impacted holds the alerting services, the suspect and the services between them."""
        p = plan(topo(SHOP), [change("c", "db", 5)], [alert("web")])
        assert set(p.impacted) == {"web", "api", "db"}
        assert p.impacted[0] == "web"

    def test_same_input_gives_the_same_plan(self):
        """Planning is deterministic."""
        t = topo(SHOP)
        changes = [change("a", "api", 5), change("b", "cart", 7), change("c", "db", 9)]
        alerts = [alert("web"), alert("mobile")]
        assert plan(t, changes, alerts) == plan(t, list(reversed(changes)), alerts)


def test_change_kinds_map_to_actions():
    """Each change kind gets its action; infra has no automatic action."""
    t = topo({"x": []})
    expected = {
        ChangeKind.DEPLOY: Action.ROLLBACK_DEPLOY,
        ChangeKind.CONFIG: Action.REVERT_CONFIG,
        ChangeKind.FEATURE_FLAG: Action.DISABLE_FLAG,
        ChangeKind.MIGRATION: Action.REVERT_MIGRATION,
        ChangeKind.INFRA: Action.MANUAL,
    }
    for kind, action in expected.items():
        p = plan(t, [change("c", "x", 5, kind=kind)], [alert("x")])
        assert p.steps[0].action == action
