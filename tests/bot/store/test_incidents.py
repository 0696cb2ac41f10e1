"""Incidents: changes and incidents stored once, alerts grouped, feedback turned into history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.store import IncidentAlert, Incidents, PlanNotFoundError, Store
from planners.model import Alert, AlertStatus, Change, ChangeKind, Plan
from tests.support.store import AT, Clock, make_plan, race

PLUS_TWO = timezone(timedelta(hours=2))


def change(change_id: str, *, service: str = "cartservice", minutes: int = 0) -> Change:
    """A deploy of ``service`` made ``minutes`` after :data:`AT`."""
    return Change(
        id=change_id,
        service=service,
        kind=ChangeKind.DEPLOY,
        at=AT + timedelta(minutes=minutes),
        from_version="v1.0.0",
        to_version="v1.1.0",
        actor="alice",
        source="argo",
        summary="«ünïcode» bump",
    )


def alert(
    fingerprint: str,
    *,
    name: str = "HighErrorRate",
    service: str | None = "frontend",
    status: AlertStatus = AlertStatus.FIRING,
    source: str = "alertmanager",
) -> Alert:
    """An alert that started at :data:`AT`."""
    return Alert(
        fingerprint=fingerprint,
        service=service,
        name=name,
        status=status,
        started_at=AT,
        source=source,
        labels={"severity": "page"},
    )


def plan_blaming(service: str, *, incident: str = "inc-1", steps: int = 1) -> Plan:
    """A plan whose top suspect is a change to ``service``."""
    plan = make_plan(steps, incident=incident)
    top = plan.suspects[0].model_copy(update={"service": service})
    return plan.model_copy(update={"suspects": (top,)})


def open_default(
    incidents: Incidents,
    incident_id: str = "inc-1",
    *,
    services: Sequence[str] = ("frontend",),
    channel: str = "C1",
    alerts: Sequence[Alert] | None = None,
) -> bool:
    """Open ``incident_id`` in ``channel``, by default with one firing frontend alert."""
    return incidents.open_incident(
        incident_id,
        services=services,
        started_at=AT,
        channel=channel,
        thread_ts="1.1",
        alerts=[alert("fp-1")] if alerts is None else alerts,
    )


# -- changes ------------------------------------------------------------------------------------


def test_a_change_is_recorded_once_and_reads_back_exactly(store):
    """The first record stores the change whole; a second with the same id keeps the first."""
    incidents = store.incidents
    original = change("chg-1").model_copy(
        update={"labels": ("sha:c41d9e2", "CVE-2026-1234"), "security": True}
    )
    assert incidents.record_change(original) is True
    assert incidents.record_change(change("chg-1", service="other")) is False
    assert incidents.changes_of("cartservice") == [original]
    assert incidents.changes_of("other") == []


def test_racing_records_of_one_change_store_it_once(store):
    """Eight threads recording one change at once: one True, one stored change."""
    incidents = store.incidents
    results = race(8, lambda _: incidents.record_change(change("chg-race")))
    assert sorted(results) == [False] * 7 + [True]
    assert [c.id for c in incidents.changes_of("cartservice")] == ["chg-race"]


def test_changes_between_includes_both_ends_in_time_order(store):
    """Changes at the bounds are in, those outside are out, oldest first, in any time zone."""
    incidents = store.incidents
    for change_id, minutes in (("c-late", 30), ("c-early", -1), ("c-start", 0), ("c-mid", 10)):
        incidents.record_change(change(change_id, minutes=minutes))
    start = AT.astimezone(PLUS_TWO)
    end = (AT + timedelta(minutes=10)).astimezone(PLUS_TWO)
    found = incidents.changes_between(start, end)
    assert [c.id for c in found] == ["c-start", "c-mid"]
    assert [c.at for c in found] == [AT, AT + timedelta(minutes=10)]
    assert all(c.at.tzinfo is UTC for c in found)
    assert incidents.changes_between(end, start) == []


def test_changes_between_refuses_naive_times(store):
    """A naive bound raises: the store never guesses a time zone."""
    incidents = store.incidents
    naive = datetime(2026, 11, 27, 10, 0)  # noqa: DTZ001  (naive on purpose)
    with pytest.raises(ValueError, match="naive"):
        incidents.changes_between(naive, AT)
    with pytest.raises(ValueError, match="naive"):
        incidents.changes_between(AT, naive)


def test_changes_of_a_service_are_newest_first_up_to_the_limit(store):
    """Only the service's changes come back, newest first, at most ``limit``."""
    incidents = store.incidents
    for n in range(5):
        incidents.record_change(change(f"chg-{n}", minutes=n))
    incidents.record_change(change("chg-other", service="paymentservice", minutes=9))
    assert [c.id for c in incidents.changes_of("cartservice", limit=3)] == [
        "chg-4",
        "chg-3",
        "chg-2",
    ]
    assert [c.id for c in incidents.changes_of("paymentservice")] == ["chg-other"]


# -- incidents ----------------------------------------------------------------------------------


def test_an_opened_incident_reads_back_with_its_alerts(store):
    """Opening stores the incident as open, with its alerts in the order given."""
    clock = Clock(AT + timedelta(minutes=2))
    incidents = Incidents(store.engine, clock=clock)
    assert open_default(incidents, alerts=[alert("fp-1"), alert("fp-2", service=None)]) is True
    row = incidents.incident("inc-1")
    assert row is not None
    assert (row.id, row.services, row.started_at, row.channel, row.thread_ts) == (
        "inc-1",
        ("frontend",),
        AT,
        "C1",
        "1.1",
    )
    assert (row.status, row.created_at) == ("open", clock.now)
    assert row.alerts == (
        IncidentAlert("alertmanager", "fp-1", "frontend", "HighErrorRate", "firing", AT),
        IncidentAlert("alertmanager", "fp-2", None, "HighErrorRate", "firing", AT),
    )
    assert incidents.incident("inc-unknown") is None


def test_opening_again_adds_only_new_alerts(store):
    """A second open returns False, keeps the incident's data, and adds only unseen alerts."""
    incidents = store.incidents
    assert open_default(incidents) is True
    again = open_default(
        incidents,
        services=["other"],
        channel="C9",
        alerts=[
            alert("fp-1", status=AlertStatus.RESOLVED),
            alert("fp-2"),
            alert("fp-2", name="Duplicate"),
            alert("fp-1", source="datadog"),
        ],
    )
    assert again is False
    row = incidents.incident("inc-1")
    assert row is not None
    assert (row.services, row.channel) == (("frontend",), "C1")
    assert [(a.source, a.fingerprint, a.name, a.status) for a in row.alerts] == [
        ("alertmanager", "fp-1", "HighErrorRate", "firing"),
        ("alertmanager", "fp-2", "HighErrorRate", "firing"),
        ("datadog", "fp-1", "HighErrorRate", "firing"),
    ]


def test_racing_opens_of_one_incident_create_it_once(store):
    """Eight replicas opening one incident at once: one creates it; each alert is stored once."""
    incidents = store.incidents
    results = race(
        8, lambda i: open_default(incidents, alerts=[alert("fp-shared"), alert(f"fp-{i}")])
    )
    assert sorted(results) == [False] * 7 + [True]
    row = incidents.incident("inc-1")
    assert row is not None
    assert sorted(a.fingerprint for a in row.alerts) == sorted(
        ["fp-shared", *(f"fp-{i}" for i in range(8))]
    )


def test_a_string_of_services_is_refused(store):
    """Passing one service name as ``services`` raises rather than store its letters."""
    incidents = store.incidents
    with pytest.raises(TypeError):
        open_default(incidents, services="frontend")
    assert incidents.incident("inc-1") is None


def test_find_open_incident_matches_channel_alert_name_and_service(store):
    """Only an open incident in the channel with a firing alert of that name and service matches."""
    incidents = store.incidents
    open_default(
        incidents,
        alerts=[
            alert("fp-1"),
            alert("fp-2", name="Latency", status=AlertStatus.RESOLVED),
            alert("fp-3", name="NoService", service=None),
        ],
    )
    found = incidents.find_open_incident(channel="C1", name="HighErrorRate", service="frontend")
    assert found is not None
    assert found.id == "inc-1"
    assert (
        incidents.find_open_incident(channel="C2", name="HighErrorRate", service="frontend") is None
    )
    assert incidents.find_open_incident(channel="C1", name="HighErrorRate", service="cart") is None
    assert incidents.find_open_incident(channel="C1", name="Latency", service="frontend") is None
    assert incidents.find_open_incident(channel="C1", name="HighErrorRate", service=None) is None
    no_service = incidents.find_open_incident(channel="C1", name="NoService", service=None)
    assert no_service is not None
    assert no_service.id == "inc-1"


def test_find_open_incident_takes_the_newest_open_one(store):
    """Of two open incidents with the same alert, the newer wins; once resolved, the older."""
    clock = Clock(AT)
    incidents = Incidents(store.engine, clock=clock)
    open_default(incidents, "inc-old")
    clock.advance(60)
    open_default(incidents, "inc-new")
    found = incidents.find_open_incident(channel="C1", name="HighErrorRate", service="frontend")
    assert found is not None
    assert found.id == "inc-new"
    assert incidents.resolve_incident("inc-new") is True
    found = incidents.find_open_incident(channel="C1", name="HighErrorRate", service="frontend")
    assert found is not None
    assert found.id == "inc-old"


def test_resolving_is_a_compare_and_set(store):
    """The first resolve wins, a second and one of an unknown incident change nothing."""
    incidents = store.incidents
    open_default(incidents)
    assert incidents.resolve_incident("inc-1") is True
    assert incidents.resolve_incident("inc-1") is False
    assert incidents.resolve_incident("inc-unknown") is False
    row = incidents.incident("inc-1")
    assert row is not None
    assert row.status == "resolved"
    assert (
        incidents.find_open_incident(channel="C1", name="HighErrorRate", service="frontend") is None
    )


def test_racing_resolves_have_one_winner(store):
    """Eight threads resolving one incident at once: exactly one resolves it."""
    incidents = store.incidents
    open_default(incidents)
    results = race(8, lambda _: incidents.resolve_incident("inc-1"))
    assert sorted(results) == [False] * 7 + [True]


# -- feedback -----------------------------------------------------------------------------------


def test_a_user_has_one_verdict_per_plan(store):
    """A first verdict and a change of mind are recorded; repeating a verdict changes nothing."""
    incidents = store.incidents
    plan_id = store.plans.save(make_plan())
    assert incidents.record_feedback(plan_id, user="U1", right=True) is True
    assert incidents.record_feedback(plan_id, user="U1", right=True) is False
    assert incidents.record_feedback(plan_id, user="U2", right=False) is True
    assert incidents.feedback(plan_id) == {"U1": True, "U2": False}
    assert incidents.record_feedback(plan_id, user="U1", right=False) is True
    assert incidents.feedback(plan_id) == {"U1": False, "U2": False}


def test_racing_double_clicks_record_one_verdict(store):
    """Eight simultaneous identical clicks by one user: one records it, the rest find it there."""
    incidents = store.incidents
    plan_id = store.plans.save(make_plan())
    results = race(8, lambda _: incidents.record_feedback(plan_id, user="U1", right=True))
    assert sorted(results) == [False] * 7 + [True]
    assert incidents.feedback(plan_id) == {"U1": True}


def test_feedback_on_an_unknown_plan_is_refused(store):
    """A verdict on a plan that is not stored raises."""
    incidents = store.incidents
    with pytest.raises(PlanNotFoundError):
        incidents.record_feedback("pl-00000000", user="U1", right=True)
    assert incidents.feedback("pl-00000000") == {}


def test_culprit_history_counts_confirmed_top_suspects(store):
    """A top suspect counts for its service when right outnumbers wrong; ties do not count."""
    incidents = store.incidents
    confirmed = store.plans.save(plan_blaming("cartservice", incident="inc-1"))
    also = store.plans.save(plan_blaming("cartservice", incident="inc-2"))
    payments = store.plans.save(plan_blaming("paymentservice", incident="inc-3"))
    tied = store.plans.save(plan_blaming("adservice", incident="inc-4"))
    rejected = store.plans.save(plan_blaming("emailservice", incident="inc-5"))
    store.plans.save(plan_blaming("quietservice", incident="inc-6"))  # nobody voted
    for plan_id, votes in (
        (confirmed, {"U1": True, "U2": True, "U3": False}),
        (also, {"U1": True}),
        (payments, {"U1": True}),
        (tied, {"U1": True, "U2": False}),
        (rejected, {"U1": False}),
    ):
        for user, right in votes.items():
            incidents.record_feedback(plan_id, user=user, right=right)
    assert incidents.culprit_history() == {"cartservice": 2, "paymentservice": 1}
    incidents.record_feedback(payments, user="U1", right=False)
    assert incidents.culprit_history() == {"cartservice": 2}


def test_culprit_history_counts_an_incident_once(store):
    """Two confirmed plans of one incident blaming one service count as one incident."""
    incidents = store.incidents
    for _ in range(2):
        plan_id = store.plans.save(plan_blaming("cartservice", incident="inc-1"))
        incidents.record_feedback(plan_id, user="U1", right=True)
    assert incidents.culprit_history() == {"cartservice": 1}


def test_culprit_history_skips_plans_without_suspects(store):
    """A confirmed plan that named no suspect (it abstained) blames no service."""
    incidents = store.incidents
    plan_id = store.plans.save(make_plan(1).model_copy(update={"suspects": ()}))
    incidents.record_feedback(plan_id, user="U1", right=True)
    assert incidents.culprit_history() == {}


def test_plans_touching_a_service_match_incident_services_and_steps_newest_first(store):
    """Plans naming the service in their incident or a step come back, newest first, limited."""
    clock = Clock(AT)
    clocked = Store(store.engine, clock=clock)
    ids = []
    for n in range(1, 5):
        ids.append(clocked.plans.save(make_plan(n, incident=f"inc-{n}")))
        clock.advance(60)

    def touching(service: str, **limit: int) -> list[str]:
        return [stored.id for stored in clocked.plans.touching(service, **limit)]

    # make_plan(n) has steps on service-1 … service-n and an incident on frontend.
    assert touching("frontend") == ids[::-1]
    assert touching("service-3") == [ids[3], ids[2]]
    assert touching("service-1", limit=2) == [ids[3], ids[2]]
    assert touching("cartservice") == []
    assert touching("frontend", limit=0) == []


def test_find_open_incident_by_what_identifies_the_alert(store):
    """With a fingerprint, the incident holding that ``(source, fingerprint)`` matches whatever
    the name a later message renders; without one stored, the name and service still do."""
    incidents = store.incidents
    open_default(incidents, alerts=[alert("fp-1", name="[FIRING:1] (HighErrorRate frontend)")])
    found = incidents.find_open_incident(
        channel="C1",
        name="[RESOLVED] (HighErrorRate frontend)",
        service="frontend",
        source="alertmanager",
        fingerprint="fp-1",
    )
    assert found is not None
    assert found.id == "inc-1"
    other_source = incidents.find_open_incident(
        channel="C1", name="x", service="frontend", source="pagerduty", fingerprint="fp-1"
    )
    assert other_source is None
    by_name = incidents.find_open_incident(
        channel="C1",
        name="[FIRING:1] (HighErrorRate frontend)",
        service="frontend",
        source="alertmanager",
        fingerprint="fp-other",
    )
    assert by_name is not None


# -- changes no longer live (issue 10, defect 5) -----------------------------------------------


def test_a_later_deploy_of_the_service_retires_the_earlier_ones(store):
    """A deploy replaces what earlier deploys of its service put there, in whatever order the
    announcements arrive; other services and other kinds stay live."""
    incidents = store.incidents
    incidents.record_change(change("c-1"))
    incidents.record_change(change("other", service="frontend", minutes=1))
    incidents.record_change(change("c-3", minutes=10))
    incidents.record_change(change("c-2", minutes=5))  # announced late
    flag = change("flag-1", minutes=2).model_copy(update={"kind": ChangeKind.FEATURE_FLAG})
    incidents.record_change(flag)
    retired = incidents.retirements(["c-1", "c-2", "c-3", "other", "flag-1"])
    assert set(retired) == {"c-1", "c-2"}
    assert retired["c-2"] == "replaced by the later deploy c-3 (v1.1.0)"
    assert retired["c-1"].startswith("replaced by the later deploy c-")


def test_a_rolled_back_change_is_retired_once_with_its_reason(store):
    """Retiring is a compare-and-set: the first reason stays; an unknown change is not retired."""
    incidents = store.incidents
    incidents.record_change(change("c-1"))
    assert incidents.retire_change("c-1", why="rolled back by plan pl-1 (step s1)")
    assert not incidents.retire_change("c-1", why="again")
    assert not incidents.retire_change("c-unknown", why="nothing")
    assert incidents.retirements(["c-1", "c-unknown"]) == {
        "c-1": "rolled back by plan pl-1 (step s1)"
    }
    with pytest.raises(TypeError):
        incidents.retirements("c-1")
