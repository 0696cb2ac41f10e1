"""The approval policy: who may approve a step, when a step is approved, what autopilot runs."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from pydantic import ValidationError

from bot.core.policy import CachingGroupResolver, Decision, Policy, PolicyConfig
from bot.lifecycle import Mode
from planners import Fragment, Service, Tier, Topology, build_topology
from planners.model import Action, Risk, Stage, Step

# -- helpers ------------------------------------------------------------------------------------


class FakeGroups:
    """A group resolver backed by a dict; an unknown group raises ``LookupError``."""

    def __init__(self, groups: dict[str, set[str]] | None = None) -> None:
        self.groups = {k: frozenset(v) for k, v in (groups or {}).items()}
        self.calls: list[str] = []

    def members(self, group_id: str) -> frozenset[str]:
        self.calls.append(group_id)
        try:
            return self.groups[group_id]
        except KeyError:
            raise LookupError(f"no user group {group_id}") from None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def topology() -> Topology:
    services = [
        Service(name="cartservice", team="shop", owners=("UOWNER1", "SOWNERS")),
        Service(name="payments", team="payments", tier=Tier.CRITICAL),
        Service(name="frontend", team="web", depends_on=("cartservice",)),
    ]
    topo, problems = build_topology([Fragment(origin="t", services=services)])
    assert problems == []
    return topo


def step(
    *,
    service: str = "cartservice",
    risk: Risk = Risk.MEDIUM,
    approvals: int = 1,
    stage: Stage = Stage.PARTIAL,
    action: Action = Action.ROLLBACK_DEPLOY,
    step_id: str = "s1",
) -> Step:
    return Step(
        id=step_id,
        stage=stage,
        action=action,
        service=service,
        change_id="chg-1",
        target_version="v1",
        after=(),
        risk=risk,
        approvals_required=approvals,
        executor="kubernetes",
        estimated_seconds=60,
        verify={"services": (service,)},
        why="test",
    )


def policy(
    *,
    mode: Mode = Mode.APPROVE,
    groups: FakeGroups | None = None,
    **config: Any,
) -> Policy:
    return Policy(
        PolicyConfig(**config),
        topology=topology(),
        groups=groups or FakeGroups(),
        mode=mode,
    )


# -- who may approve ----------------------------------------------------------------------------


def test_global_approver_may_approve_any_service():
    """A global approver may approve steps on every service."""
    p = policy(approvers=["UGLOBAL1"], owners_may_approve=False)
    for service in ("cartservice", "payments", "frontend"):
        decision = p.may_approve("UGLOBAL1", step(service=service))
        assert decision == Decision(allowed=True, reason="UGLOBAL1 is a global approver")


def test_service_approver_is_limited_to_that_service():
    """Someone listed for a service may approve its steps and no other service's."""
    p = policy(services={"payments": ["UPAY1"]})
    assert p.may_approve("UPAY1", step(service="payments")).allowed
    other = p.may_approve("UPAY1", step(service="frontend"))
    assert not other.allowed
    assert other.reason.startswith("UPAY1 may not approve steps on frontend")


def test_team_approver_matches_the_service_team():
    """Someone listed for a team may approve steps on the services of that team only."""
    p = policy(teams={"shop": ["USHOP1"]})
    allowed = p.may_approve("USHOP1", step(service="cartservice"))
    assert allowed == Decision(allowed=True, reason="USHOP1 is listed for team shop")
    assert not p.may_approve("USHOP1", step(service="frontend")).allowed


def test_owner_user_and_owner_group_may_approve():
    """A service's owners, users and groups alike, may approve its steps."""
    groups = FakeGroups({"SOWNERS": {"UMEMBER1"}})
    p = policy(groups=groups)
    assert p.may_approve("UOWNER1", step()).reason == "UOWNER1 is an owner of cartservice"
    member = p.may_approve("UMEMBER1", step())
    assert member == Decision(
        allowed=True, reason="UMEMBER1 is in SOWNERS, an owner of cartservice"
    )
    assert not p.may_approve("UOWNER1", step(service="frontend")).allowed


def test_owners_may_not_approve_when_turned_off():
    """With ``owners_may_approve`` off, owners get no special right."""
    p = policy(owners_may_approve=False, groups=FakeGroups({"SOWNERS": {"UMEMBER1"}}))
    assert not p.may_approve("UOWNER1", step()).allowed
    assert not p.may_approve("UMEMBER1", step()).allowed


def test_group_membership_comes_from_the_resolver():
    """A global approver group grants its members, named in the reason."""
    groups = FakeGroups({"SONCALL": {"UALICE", "UBOB"}})
    p = policy(approvers=["SONCALL"], groups=groups)
    decision = p.may_approve("UALICE", step(service="frontend"))
    assert decision == Decision(allowed=True, reason="UALICE is in SONCALL, a global approver")
    assert not p.may_approve("UCAROL", step(service="frontend")).allowed
    assert "SONCALL" in groups.calls


def test_direct_listing_needs_no_group_lookup():
    """A user listed by id is allowed without asking the resolver about any group."""
    groups = FakeGroups({"SONCALL": {"UALICE"}})
    p = policy(approvers=["SONCALL", "UBOB"], groups=groups)
    assert p.may_approve("UBOB", step()).allowed
    assert groups.calls == []


def test_unknown_group_denies_with_reason_and_never_raises():
    """An unresolvable group grants nothing; the reason names it."""
    p = policy(approvers=["SGONE1"])
    decision = p.may_approve("UALICE", step(service="frontend"))
    assert not decision.allowed
    assert "SGONE1 could not be resolved (no user group SGONE1)" in decision.reason


def test_unknown_group_does_not_hide_a_later_grant():
    """After an unresolvable group, the remaining groups are still checked."""
    groups = FakeGroups({"SSHOP1": {"UALICE"}})
    p = policy(approvers=["SGONE1"], teams={"shop": ["SSHOP1"]}, groups=groups)
    decision = p.may_approve("UALICE", step())
    assert decision.allowed
    assert decision.reason == "UALICE is in SSHOP1, listed for team shop"


def test_suggest_mode_denies_everyone():
    """In suggest (learning) mode nobody may approve, not even a global approver."""
    p = policy(mode=Mode.SUGGEST, approvers=["UGLOBAL1"])
    decision = p.may_approve("UGLOBAL1", step())
    assert not decision.allowed
    assert "suggest (learning) mode" in decision.reason
    assert not p.approved(step(), ["UGLOBAL1"], requester=None)
    assert "learning" in p.missing(step(), ["UGLOBAL1"], requester=None)


@pytest.mark.parametrize("user", ["bob", "", "SONCALL", "u123", "<@UGLOBAL1>", "UGLOBAL1 "])
def test_user_id_of_the_wrong_shape_is_refused(user):
    """Only ``U…``/``W…`` ids may approve; anything else is refused with a reason."""
    p = policy(approvers=["UGLOBAL1", "SONCALL"], groups=FakeGroups({"SONCALL": {"UGLOBAL1"}}))
    decision = p.may_approve(user, step())
    assert not decision.allowed
    assert "is not a Slack user id" in decision.reason


def test_enterprise_user_id_may_approve():
    """An Enterprise Grid ``W…`` user id is a user id like any other."""
    p = policy(approvers=["W012A3CDE"])
    assert p.may_approve("W012A3CDE", step()).allowed


def test_service_missing_from_topology_allows_only_global_and_service_lists():
    """A step on a service the topology lacks is refused to others, and the reason says why."""
    p = policy(approvers=["UGLOBAL1"], services={"ghost": ["UGHOST1"]})
    assert p.may_approve("UGHOST1", step(service="ghost")).allowed
    denied = p.may_approve("UOWNER1", step(service="ghost"))
    assert not denied.allowed
    assert "the service is not in the topology" in denied.reason


# -- approved -----------------------------------------------------------------------------------


def test_critical_step_needs_two_distinct_approvers():
    """With approvals_required 2, the same user twice counts once."""
    p = policy(approvers=["UALICE", "UBOB"])
    critical = step(service="payments", risk=Risk.MEDIUM, approvals=2)
    assert not p.approved(critical, ["UALICE", "UALICE"], requester=None)
    assert p.missing(critical, ["UALICE", "UALICE"], requester=None) == (
        "needs 1 more approver from UBOB"
    )
    assert p.approved(critical, ["UALICE", "UBOB"], requester=None)
    assert p.missing(critical, ["UALICE", "UBOB"], requester=None) == ""


def test_unauthorised_approvals_do_not_count():
    """An approval from someone outside the policy does not count, and missing says so."""
    p = policy(approvers=["UALICE"])
    critical = step(approvals=2)
    assert not p.approved(critical, ["UALICE", "UMALLORY"], requester=None)
    text = p.missing(critical, ["UALICE", "UMALLORY"], requester=None)
    assert text.startswith("needs 1 more approver from ")
    assert "UMALLORY's approval does not count: UMALLORY may not approve" in text


@pytest.mark.parametrize("risk", [Risk.HIGH, Risk.CRITICAL])
def test_requester_alone_cannot_approve_a_high_risk_step(risk):
    """With approvals_required 1, the requester's own approval is not enough."""
    p = policy(approvers=["UREQ1", "UOTHER1"])
    high = step(risk=risk, approvals=1)
    assert not p.approved(high, ["UREQ1"], requester="UREQ1")
    assert p.approved(high, ["UOTHER1"], requester="UREQ1")
    assert p.approved(high, ["UREQ1", "UOTHER1"], requester="UREQ1")


def test_requester_needs_one_other_person_for_two_approvals():
    """With approvals_required 2, the requester plus one other person approve a high-risk step."""
    p = policy(approvers=["UREQ1", "UOTHER1", "UOTHER2"])
    high = step(risk=Risk.HIGH, approvals=2)
    assert not p.approved(high, ["UREQ1"], requester="UREQ1")
    assert p.approved(high, ["UREQ1", "UOTHER1"], requester="UREQ1")
    assert p.approved(high, ["UOTHER1", "UOTHER2"], requester="UREQ1")
    assert not p.approved(high, ["UOTHER1"], requester="UREQ1")


def test_requester_may_approve_a_medium_risk_step_alone():
    """The requester rule applies only to high and critical risk steps."""
    p = policy(approvers=["UREQ1"])
    assert p.approved(step(risk=Risk.MEDIUM, approvals=1), ["UREQ1"], requester="UREQ1")
    assert p.approved(step(risk=Risk.LOW, approvals=1), ["UREQ1"], requester="UREQ1")


def test_requester_counts_for_high_risk_when_configured():
    """``requester_counts_for_high_risk`` lets the requester approve a high-risk step alone."""
    p = policy(approvers=["UREQ1"], requester_counts_for_high_risk=True)
    assert p.approved(step(risk=Risk.HIGH, approvals=1), ["UREQ1"], requester="UREQ1")


def test_approval_from_someone_removed_from_the_policy_no_longer_counts():
    """Approvals are rechecked against the current policy and group membership."""
    groups = FakeGroups({"SONCALL": {"UALICE"}})
    before = policy(approvers=["SONCALL"], groups=groups)
    assert before.approved(step(), ["UALICE"], requester=None)
    after_config = policy(approvers=[], groups=groups)
    assert not after_config.approved(step(service="frontend"), ["UALICE"], requester=None)
    groups.groups["SONCALL"] = frozenset()
    assert not before.approved(step(service="frontend"), ["UALICE"], requester=None)


def test_zero_approvals_required_still_needs_one_approval():
    """A step never runs on approval with nobody having approved it."""
    p = policy(approvers=["UALICE"])
    assert not p.approved(step(approvals=0), [], requester=None)
    assert p.approved(step(approvals=0), ["UALICE"], requester=None)


# -- missing ------------------------------------------------------------------------------------


def test_missing_names_the_candidates_and_the_requester_rule():
    """The text names who may still approve and why the requester's approval is not enough."""
    groups = FakeGroups({"S123": {"U789"}})
    p = policy(teams={"payments": ["S123", "U456"]}, groups=groups)
    high = step(service="payments", risk=Risk.HIGH, approvals=1)
    assert p.missing(high, ["U789"], requester="U789") == (
        "needs 1 more approver from S123 or U456; U789 asked for this plan "
        "and cannot be the only approver of a high-risk step"
    )


def test_missing_counts_several_approvers_and_lists_in_order():
    """With nobody approved yet, the count and every candidate appear, most general first."""
    p = policy(approvers=["UGLOBAL1"], services={"cartservice": ["UCART1"]}, teams={"shop": []})
    text = p.missing(step(approvals=2), [], requester=None)
    assert text == "needs 2 more approvers from UGLOBAL1, UCART1, UOWNER1 or SOWNERS"


def test_missing_when_nobody_else_may_approve():
    """When no one else is authorised, the text says where to add approvers."""
    p = policy(services={"frontend": ["UREQ1"]})
    text = p.missing(step(service="frontend", risk=Risk.HIGH), ["UREQ1"], requester="UREQ1")
    assert text.startswith("needs 1 more approver, but nobody else may approve steps on frontend")
    assert "policy:" in text


# -- autopilot ----------------------------------------------------------------------------------


def test_autopilot_runs_only_the_contain_stage():
    """In autopilot a contain step runs without approval; a partial step does not."""
    p = policy(mode=Mode.AUTOPILOT)
    contain = step(stage=Stage.CONTAIN, action=Action.DISABLE_FLAG, risk=Risk.LOW)
    assert p.autopilot_may_run(contain)
    partial = step(stage=Stage.PARTIAL)
    assert not p.autopilot_may_run(partial)
    assert "only the contain stage" in p.autopilot_decision(partial).reason


@pytest.mark.parametrize("mode", [Mode.APPROVE, Mode.SUGGEST])
def test_autopilot_runs_nothing_in_other_modes(mode):
    """Outside autopilot, even a contain step waits for approval."""
    p = policy(mode=mode)
    contain = step(stage=Stage.CONTAIN, action=Action.DISABLE_FLAG, risk=Risk.LOW)
    decision = p.autopilot_decision(contain)
    assert not decision.allowed
    assert f"{mode.value} mode" in decision.reason


def test_autopilot_never_runs_a_manual_or_high_risk_contain_step():
    """A manual or high-risk contain step still needs people."""
    p = policy(mode=Mode.AUTOPILOT)
    manual = step(stage=Stage.CONTAIN, action=Action.MANUAL, risk=Risk.HIGH)
    assert not p.autopilot_may_run(manual)
    assert "manual" in p.autopilot_decision(manual).reason
    risky = step(stage=Stage.CONTAIN, action=Action.REVERT_CONFIG, risk=Risk.HIGH)
    assert "high-risk" in p.autopilot_decision(risky).reason


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "loc", "bad"),
    [
        ({"approvers": ["U123", "S123", "bob"]}, ("approvers", 2), "bob"),
        (
            {"services": {"cartservice": ["alice@example.com"]}},
            ("services", "cartservice", 0),
            "alice@example.com",
        ),
        ({"teams": {"shop": ["U123", "#shop"]}}, ("teams", "shop", 1), "#shop"),
    ],
)
def test_config_errors_name_the_field(config, loc, bad):
    """A malformed id fails validation at its exact place, with a plain message."""
    with pytest.raises(ValidationError) as caught:
        PolicyConfig(**config)
    (error,) = caught.value.errors()
    assert error["loc"] == loc
    assert error["msg"] == f"{bad!r} is not a Slack user (U…/W…) or user group (S…) id"


def test_config_rejects_unknown_keys():
    """A misspelt key is an error, not silently ignored."""
    with pytest.raises(ValidationError, match="approver"):
        PolicyConfig.model_validate({"approver": ["U123"]})


def test_config_defaults():
    """By default owners may approve and the requester does not count for high risk."""
    config = PolicyConfig()
    assert config.owners_may_approve
    assert not config.requester_counts_for_high_risk
    assert config.approvers == []


def test_warnings_name_unknown_services_and_teams():
    """Services and teams the topology does not know are reported."""
    p = policy(services={"cartsvc": ["U123"], "payments": ["U123"]}, teams={"shopp": ["U123"]})
    assert p.warnings() == [
        "policy.services: 'cartsvc' is not a service in the topology",
        "policy.teams: 'shopp' is not the team of any service in the topology",
    ]


# -- caching resolver ---------------------------------------------------------------------------


def test_resolver_caches_until_the_ttl_expires():
    """Members are fetched once per group per TTL."""
    clock = FakeClock()
    calls: list[str] = []

    def fetch(group_id: str) -> frozenset[str]:
        calls.append(group_id)
        return frozenset({f"U{len(calls)}00"})

    resolver = CachingGroupResolver(fetch, ttl=60, clock=clock)
    assert resolver.members("SONE1") == {"U100"}
    clock.now += 59
    assert resolver.members("SONE1") == {"U100"}
    assert resolver.members("STWO2") == {"U200"}
    clock.now += 1
    assert resolver.members("SONE1") == {"U300"}
    assert calls == ["SONE1", "STWO2", "SONE1"]


def test_resolver_invalidate_forgets_a_group():
    """After invalidate, the next lookup fetches again."""
    calls: list[str] = []

    def fetch(group_id: str) -> frozenset[str]:
        calls.append(group_id)
        return frozenset()

    resolver = CachingGroupResolver(fetch, clock=FakeClock())
    resolver.members("SONE1")
    resolver.invalidate("SONE1")
    resolver.members("SONE1")
    resolver.invalidate()
    resolver.members("SONE1")
    assert calls == ["SONE1"] * 3


def test_resolver_does_not_cache_failures():
    """An unknown group raises LookupError each time; a later success is cached."""
    answers: list[frozenset[str] | None] = [None, frozenset({"U111"})]
    calls: list[str] = []

    def fetch(group_id: str) -> frozenset[str]:
        calls.append(group_id)
        answer = answers.pop(0)
        if answer is None:
            raise LookupError(group_id)
        return answer

    resolver = CachingGroupResolver(fetch, clock=FakeClock())
    with pytest.raises(LookupError):
        resolver.members("SNEW1")
    assert resolver.members("SNEW1") == {"U111"}
    assert resolver.members("SNEW1") == {"U111"}
    assert len(calls) == 2


def test_resolver_fetches_once_per_ttl_across_threads():
    """Eight threads asking at once share one fetch, and again after the TTL expires."""
    clock = FakeClock()
    calls: list[str] = []
    calls_lock = threading.Lock()

    def fetch(group_id: str) -> frozenset[str]:
        with calls_lock:
            calls.append(group_id)
        time.sleep(0.05)  # long enough for every thread to arrive while the fetch runs
        return frozenset({"UALICE"})

    resolver = CachingGroupResolver(fetch, ttl=300, clock=clock)

    def burst() -> list[frozenset[str]]:
        results: list[frozenset[str]] = []
        barrier = threading.Barrier(8)

        def work() -> None:
            barrier.wait()
            members = resolver.members("SONCALL")
            with calls_lock:
                results.append(members)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        return results

    first = burst()
    assert first == [frozenset({"UALICE"})] * 8
    assert calls == ["SONCALL"]
    clock.now += 300
    second = burst()
    assert len(second) == 8
    assert calls == ["SONCALL", "SONCALL"]


def test_resolver_rejects_a_negative_ttl():
    """A negative TTL is a configuration mistake."""
    with pytest.raises(ValueError, match="ttl"):
        CachingGroupResolver(lambda group_id: frozenset(), ttl=-1)


def test_policy_works_with_the_caching_resolver():
    """The policy resolves groups through the caching resolver, fetching each group once."""
    calls: list[str] = []

    def fetch(group_id: str) -> frozenset[str]:
        calls.append(group_id)
        if group_id != "SONCALL":
            raise LookupError(f"no user group {group_id}")
        return frozenset({"UALICE", "UBOB"})

    p = Policy(
        PolicyConfig(approvers=["SONCALL"]),
        topology=topology(),
        groups=CachingGroupResolver(fetch, clock=FakeClock()),
        mode=Mode.APPROVE,
    )
    assert p.approved(step(approvals=2), ["UALICE", "UBOB"], requester=None)
    assert p.may_approve("UBOB", step(service="frontend")).allowed
    assert calls == ["SONCALL"]


# -- security fixes -----------------------------------------------------------------------------


def security_step(**kw: Any) -> Step:
    return step(**kw).model_copy(update={"security": ("CVE-2026-1234",)})


def test_autopilot_never_runs_a_step_that_reopens_a_security_fix():
    """A contain step that undoes a security fix waits for people, whatever its risk."""
    p = policy(mode=Mode.AUTOPILOT)
    fix = security_step(stage=Stage.CONTAIN, action=Action.REVERT_CONFIG, risk=Risk.LOW)
    decision = p.autopilot_decision(fix)
    assert not decision.allowed
    assert "re-opens CVE-2026-1234" in decision.reason


def test_security_approvers_are_required_like_the_two_person_rule():
    """With ``security_approvers`` set, two ordinary approvals are not enough for a step that
    re-opens a CVE; one from the security group completes it. Other steps are unaffected."""
    groups = FakeGroups({"SSECURITY": {"USEC1"}})
    p = policy(approvers=["UA1", "UA2"], security_approvers=["SSECURITY"], groups=groups)
    fix = security_step(risk=Risk.HIGH, approvals=2)
    assert not p.approved(fix, ["UA1", "UA2"])
    assert "policy.security_approvers" in p.missing(fix, ["UA1", "UA2"])
    assert "re-opens CVE-2026-1234" in p.missing(fix, ["UA1", "UA2"])
    assert p.may_approve("USEC1", fix).allowed
    assert p.approved(fix, ["UA1", "USEC1"])
    assert p.approved(step(risk=Risk.HIGH, approvals=2), ["UA1", "UA2"])
    assert not p.may_approve("USEC1", step()).allowed


def test_without_security_approvers_a_security_step_follows_the_usual_count():
    """No ``security_approvers``: the step's own approval count decides."""
    p = policy(approvers=["UA1", "UA2"])
    assert p.approved(security_step(risk=Risk.HIGH, approvals=2), ["UA1", "UA2"])
    assert PolicyConfig().security_approvers == []
