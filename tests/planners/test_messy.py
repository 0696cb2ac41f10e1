"""Messy incidents on hand-made graphs (issue 8), one cause at a time.

Coupled changes out of order across stages; which alerts belong to the incident (unknown
services, chronic and flapping noise); honest abstention (a shared provider outage, consumers
earning nothing); two independent causes; security fixes never undone quietly.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from planners import (
    Alert,
    AlertStatus,
    Change,
    Plan,
    Risk,
    ServiceKind,
    Stage,
    Topology,
)
from tests.support import planning
from tests.support.planning import T0, alert, change, precedes, step_for, topo


def plan(topology: Topology, changes: list[Change], alerts: list[Alert], **kw: Any) -> Plan:
    return planning.plan(topology, changes, alerts, minutes=10, **kw)


KAFKA = {"web": ["orders"], "orders": ["kafka", "audit"], "audit": ["kafka"], "kafka": []}


class TestCoupledAcrossStages:
    def test_a_consumer_deployed_after_a_config_revert_goes_first_even_from_a_later_stage(self):
        """A kafka config revert is in contain; the later deploy of a kafka consumer moves up
        to contain and runs before it."""
        t = topo(KAFKA, kafka={"kind": "queue"})
        changes = [
            change("kcfg", "kafka", 30, kind="config"),
            change("orders-1", "orders", 20),
        ]
        p = plan(t, changes, [alert("audit")])
        assert p.suspects[0].change_id == "kcfg"
        orders = step_for(p, "orders-1")
        assert orders.stage == Stage.CONTAIN
        assert precedes(p, orders.id, step_for(p, "kcfg").id)
        assert "coupled" in orders.why

    @pytest.mark.parametrize("kind", ["deploy", "config", "feature_flag", "migration"])
    def test_a_direct_consumer_changed_after_is_pulled_in_whatever_its_kind(self, kind):
        """A consumer's later change of any kind is coupled, pulled in and rolled back first."""
        t = topo(KAFKA)
        extra = {"flag": "new-path"} if kind == "feature_flag" else {}
        changes = [change("k", "kafka", 40), change("a", "orders", 20, kind=kind, **extra)]
        p = plan(t, changes, [alert("audit")])
        assert p.suspects[0].change_id == "k"
        assert precedes(p, step_for(p, "a").id, step_for(p, "k").id)

    def test_a_chain_of_couplings_is_pulled_in_and_runs_consumer_first(self):
        """kafka changed, then audit, then orders: both are pulled in, orders before audit
        before kafka, though orders is two hops from kafka."""
        t = topo({"web": ["orders"], "orders": ["audit"], "audit": ["kafka"], "kafka": []})
        changes = [change("k", "kafka", 50), change("a", "audit", 30), change("o", "orders", 10)]
        p = plan(t, changes, [alert("kafka")])
        assert p.suspects[0].change_id == "k"
        o, a, k = (step_for(p, c).id for c in ("o", "a", "k"))
        assert precedes(p, o, a) and precedes(p, a, k)

    def test_a_transitive_consumer_changed_after_the_provider_runs_first_across_stages(self):
        """web (two hops above kafka) changed after kafka: its step runs before kafka's,
        whatever stage each was given."""
        t = topo(KAFKA)
        changes = [
            change("k", "kafka", 50, kind="config"),
            change("w", "web", 20),
        ]
        p = plan(t, changes, [alert("web"), alert("audit")])
        assert p.suspects[0].change_id == "k"
        w = step_for(p, "w")
        assert w.stage == Stage.CONTAIN
        assert precedes(p, w.id, step_for(p, "k").id)


class TestWhichAlertsBelong:
    SHOP: ClassVar[dict[str, list[str]]] = {"web": ["cart"], "cart": ["db"], "db": [], "ads": []}

    def test_alerts_on_unknown_services_never_move_the_start(self):
        """node-exporter and a look-alike name fired earlier: they are listed as unknown, the
        start is the known alert's, and the culprit is not excluded."""
        t = topo(self.SHOP)
        alerts = [
            alert("web"),
            alert("node-exporter", -40, name="NodeFilesystemAlmostFull"),
            alert("w\u0435b", -20),
        ]
        p = plan(t, [change("cart-1", "cart", 10)], alerts)
        assert p.incident.started_at == T0
        assert p.incident.services == ("web",)
        assert p.suspects[0].change_id == "cart-1"
        assert sum("unknown service" in n for n in p.notes) == 2

    def test_a_chronic_alert_is_noise_even_on_an_alerting_service(self):
        """A warning on web since three hours and a chronic alert on ads: both are noise with
        why; the start is the burst's."""
        t = topo(self.SHOP)
        alerts = [
            alert("web"),
            alert("web", -180, name="DiskWillFill", fingerprint="old-web"),
            alert("ads", -300, name="CertExpirySoon"),
        ]
        p = plan(t, [change("cart-1", "cart", 10)], alerts)
        assert p.incident.started_at == T0
        assert p.incident.services == ("web",)
        assert {n.fingerprint for n in p.noise} == {"old-web", "fp-ads--300"}
        assert all("chronic" in n.why for n in p.noise)
        assert p.suspects[0].change_id == "cart-1"

    def test_a_flapping_alert_is_noise(self):
        """An alert on ads that resolved and fired again, just before the burst, is noise."""
        t = topo(self.SHOP)
        alerts = [
            alert("web"),
            alert("ads", -50, name="PodCrashLooping", status=AlertStatus.RESOLVED),
            alert("ads", -10, name="PodCrashLooping"),
        ]
        p = plan(t, [change("cart-1", "cart", 5)], alerts)
        assert p.incident.started_at == T0
        assert [n.service for n in p.noise] == ["ads"]
        assert "flapping" in p.noise[0].why
        assert p.suspects[0].change_id == "cart-1"

    def test_plan_json_lists_the_noise_and_stays_readable_without_it(self):
        """``noise`` is in the JSON; a plan written before the field existed still loads."""
        t = topo(self.SHOP)
        p = plan(t, [change("cart-1", "cart", 5)], [alert("web"), alert("ads", -200)])
        data = p.to_json_dict()
        assert data["noise"][0]["service"] == "ads"
        for new in ("noise", "causes", "common_dependency"):
            data.pop(new)
        for step in data["steps"]:
            step.pop("security")
        old = Plan.model_validate(data)
        assert old.noise == () and old.causes == () and old.common_dependency is None


class TestAbstention:
    MAIL: ClassVar[dict[str, list[str]]] = {
        "signup": ["email"],
        "orders": ["email"],
        "billing": ["email"],
        "reports": ["email"],
        "email": [],
    }

    def test_a_shared_provider_outage_abstains_and_names_the_provider(self):
        """Four services that call the email provider alert; two were deployed recently. No
        change explains most of them: no rollback, and the provider is named."""
        t = topo(self.MAIL, email={"kind": "external"})
        changes = [change("s1", "signup", 12), change("b1", "billing", 30)]
        alerts = [alert(s, i) for i, s in enumerate(("signup", "orders", "billing", "reports"))]
        p = plan(t, changes, alerts)
        assert p.abstained and p.steps == ()
        assert p.common_dependency == "email"
        assert any("rolling back is not the fix" in r for r in p.abstain_reasons)
        assert t.services["email"].kind == ServiceKind.EXTERNAL

    def test_a_consumer_change_earns_nothing(self):
        """web calls cart; web's deploy scores 0 for cart's alert and is never rolled back."""
        t = topo({"web": ["cart"], "cart": []})
        p = plan(t, [change("web-1", "web", 5)], [alert("cart")])
        assert p.abstained and p.steps == ()
        assert any("consumer rarely breaks" in e.why for e in p.excluded)


class TestTwoCauses:
    def test_a_second_independent_cause_gets_its_own_steps(self):
        """cart's deploy explains web and mobile; search's config explains the search alert,
        which cart leaves unexplained: both are rolled back, and the plan says there are two."""
        t = topo(
            {"web": ["cart"], "mobile": ["cart"], "cart": [], "search": ["index"], "index": []}
        )
        changes = [change("cart-1", "cart", 10), change("idx-1", "index", 30, kind="config")]
        alerts = [alert("web"), alert("mobile", 1), alert("search", 2)]
        p = plan(t, changes, alerts)
        assert p.causes == ("cart-1", "idx-1")
        assert {s.change_id for s in p.steps} == {"cart-1", "idx-1"}
        assert step_for(p, "cart-1").stage == Stage.PARTIAL
        assert "second, independent cause" in step_for(p, "idx-1").why
        assert "Two independent causes" in p.explanation


class TestSecurity:
    @pytest.mark.parametrize(
        ("fields", "reopened"),
        [
            ({"summary": "bump openssl (fixes CVE-2026-1234)"}, "CVE-2026-1234"),
            ({"summary": "patch GHSA-j8r2-6x86-q33q"}, "GHSA-J8R2-6X86-Q33Q"),
            ({"security": True}, "security fix"),
            ({"labels": ["security"]}, "security fix"),
        ],
    )
    def test_rolling_back_a_security_fix_is_high_risk_and_says_what_reopens(self, fields, reopened):
        """The step is high risk with two approvers and warns what re-opens."""
        t = topo({"web": ["cart"], "cart": []})
        p = plan(t, [change("cart-1", "cart", 10, **fields)], [alert("web")])
        step = step_for(p, "cart-1")
        assert step.risk in (Risk.HIGH, Risk.CRITICAL) and step.approvals_required == 2
        assert step.security == (reopened,)
        assert f"re-opens {reopened}" in (step.warning or "")
        assert "forward fix" in (step.warning or "")

    def test_a_flag_on_the_same_service_is_offered_as_the_alternative(self):
        """When the plan also turns off a flag on that service, the warning points to it."""
        t = topo({"web": ["cart"], "cart": []})
        changes = [
            change("cart-1", "cart", 10, summary="fixes CVE-2026-1234"),
            change("flag-1", "cart", 9, kind="feature_flag", flag="new-cart"),
        ]
        p = plan(t, changes, [alert("web")])
        assert "turning off flag new-cart" in (step_for(p, "cart-1").warning or "")

    def test_a_config_security_fix_stays_high_risk(self):
        """Even a config revert (low risk otherwise) is high risk when it re-opens a CVE."""
        t = topo({"web": ["cart"], "cart": []})
        c = change("cfg", "cart", 10, kind="config", summary="disable TLS 1.0 (CVE-2026-9999)")
        step = step_for(plan(t, [c], [alert("web")]), "cfg")
        assert step.stage == Stage.CONTAIN and step.risk == Risk.HIGH
