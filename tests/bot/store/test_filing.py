"""Filing alerts into incidents (issue 10), on SQLite and PostgreSQL: repeats found by one indexed
lookup, new alerts placed under the channel's lock (racing replicas open one incident), an
incident resolved only when none of its alerts fires, a plan retired for its redraft only while
nothing of it has started, and migration 0006 up and down."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command

from bot.core.usecases.grouping import representatives
from bot.lifecycle import PlanStatus
from bot.store import Store, create_engine, current_revision, upgrade
from bot.store.db import alembic_config
from bot.store.filing import OpenIncident, Placement
from planners.model import Alert, AlertStatus
from tests.support.store import AT, make_plan, race

CHANNEL = "C0INCIDENT"


def alert(
    fingerprint: str,
    *,
    service: str | None = "cartservice",
    name: str = "HighErrorRate",
    status: AlertStatus = AlertStatus.FIRING,
    source: str = "alertmanager",
) -> Alert:
    return Alert(
        fingerprint=fingerprint,
        service=service,
        name=name,
        status=status,
        started_at=AT,
        source=source,
        labels={"pod": fingerprint},
    )


def one_incident(
    incidents: Sequence[OpenIncident], alerts: Sequence[Alert], *, new_id: str = "inc-a"
) -> list[Placement]:
    """A placement rule that puts every alert into the newest open incident, or a new one."""
    services = tuple(sorted({a.service for a in alerts if a.service}))
    if incidents:
        merged = tuple(sorted({*incidents[0].services, *services}))
        return [Placement(alerts=tuple(alerts), services=merged, incident_id=incidents[0].id)]
    return [Placement(alerts=tuple(alerts), services=services, new_id=new_id, started_at=AT)]


def file(store: Store, alerts: Sequence[Alert], *, channel: str = CHANNEL) -> tuple[str, ...]:
    filed = store.incidents.file_alerts(
        channel=channel,
        alerts=alerts,
        since=AT - timedelta(minutes=30),
        thread_ts=None,
        moment="1796000000",
        place=one_incident,
    )
    return tuple(o.incident_id for o in filed.opened) + filed.joined


def test_new_alerts_open_an_incident_and_later_ones_join_it(store):
    """The first alerts open an incident (its plan drafted from all of them); later ones join
    it, and an alert it holds already adds nothing, whatever channel lookups it takes."""
    incidents = store.incidents
    assert file(store, [alert("a1"), alert("a2"), alert("a1")]) == ("inc-a",)
    assert incidents.tally("inc-a") == (2, 2, 2)
    assert file(store, [alert("a3", service="checkoutservice"), alert("a1")]) == ("inc-a",)
    assert incidents.tally("inc-a") == (3, 3, 2)
    assert incidents.tally("inc-a").joined == 1
    incident = incidents.incident("inc-a")
    assert incident is not None
    assert incident.services == ("cartservice", "checkoutservice")
    assert file(store, [alert("a2"), alert("a3", service="checkoutservice")]) == ()
    known = incidents.known_alerts(channel=CHANNEL, alerts=[alert("a1"), alert("zz")])
    assert set(known) == {("alertmanager", "a1")}
    assert incidents.known_alerts(channel="C0OTHER", alerts=[alert("a1")]) == {}
    assert [a.labels for a in incidents.representative_alerts("inc-a")] == [
        {"pod": "a1"},
        {"pod": "a2"},
        {"pod": "a3"},
    ]


def test_the_database_picks_the_alerts_the_core_would_draft_from(store):
    """``representative_alerts`` keeps, of the firing alerts, exactly what the core's
    :func:`~bot.core.usecases.grouping.representatives` keeps: the earliest and latest per
    service, name and minute (ties broken alike), none of the resolved ones."""
    services = ["cartservice", "checkoutservice", None]
    alerts = [
        alert(f"x{n:03d}", service=services[n % 3], name=("A", "B")[n % 2]).model_copy(
            update={"started_at": AT + timedelta(seconds=(n * 37) % 45)}  # with ties
        )
        for n in range(120)
    ]
    file(store, alerts)
    gone = [a.model_copy(update={"status": AlertStatus.RESOLVED}) for a in alerts[:10]]
    store.incidents.resolve_alerts(channel=CHANNEL, alerts=gone)
    firing = sorted(alerts[10:], key=lambda a: a.fingerprint)
    expected = {a.fingerprint for a in representatives_by_id(firing)}
    chosen = store.incidents.representative_alerts("inc-a")
    assert {a.fingerprint for a in chosen} == expected
    assert all(a.status == AlertStatus.FIRING for a in chosen)
    assert len(chosen) < len(firing)


def representatives_by_id(alerts: Sequence[Alert]) -> list[Alert]:
    """The core's rule with ties on the start broken by arrival, as the store breaks them."""
    order = {a.fingerprint: n for n, a in enumerate(sorted(alerts, key=lambda a: a.fingerprint))}
    ranked = sorted(alerts, key=lambda a: (a.started_at, order[a.fingerprint]))
    return representatives(ranked)


def test_replicas_filing_one_storm_at_once_open_one_incident(store):
    """Eight replicas receive new alerts of one storm at the same instant: the channel's lock
    makes the first open the incident and the others join it."""
    ids = race(8, lambda i: file(store, [alert(f"r{i}-{n}") for n in range(50)]))
    assert {incident for found in ids for incident in found} == {"inc-a"}
    assert store.incidents.tally("inc-a") == (400, 400, 50)


def test_an_incident_resolves_when_its_last_alert_resolves(store):
    """Resolving some alerts changes the incident; resolving the last one resolves it, once."""
    incidents = store.incidents
    file(store, [alert("a1"), alert("a2"), alert("a3")])
    resolved = [alert("a1", status=AlertStatus.RESOLVED), alert("a2", status=AlertStatus.RESOLVED)]
    closing = incidents.resolve_alerts(channel=CHANNEL, alerts=resolved)
    assert (closing.resolved, closing.changed) == ((), ("inc-a",))
    assert incidents.tally("inc-a") == (3, 1, 3)
    last = incidents.resolve_alerts(
        channel=CHANNEL, alerts=[alert("a3", status=AlertStatus.RESOLVED)]
    )
    assert (last.resolved, last.changed) == (("inc-a",), ())
    incident = incidents.incident("inc-a")
    assert incident is not None
    assert incident.status == "resolved"
    again = incidents.resolve_alerts(channel=CHANNEL, alerts=resolved)
    assert (again.resolved, again.changed) == ((), ())


def test_racing_last_resolutions_resolve_the_incident(store):
    """The last two alerts resolving at the same instant (two replicas) still resolve it."""
    file(store, [alert("a1"), alert("a2")])
    results = race(
        2,
        lambda i: store.incidents.resolve_alerts(
            channel=CHANNEL, alerts=[alert(f"a{i + 1}", status=AlertStatus.RESOLVED)]
        ),
    )
    assert sorted(r.resolved for r in results) == [(), ("inc-a",)]


def test_a_resolved_alert_fires_again_in_its_incident(store):
    """An alert that resolved fires again: the incident holds it firing, nothing new opens."""
    file(store, [alert("a1"), alert("a2")])
    store.incidents.resolve_alerts(
        channel=CHANNEL, alerts=[alert("a1", status=AlertStatus.RESOLVED)]
    )
    assert file(store, [alert("a1")]) == ("inc-a",)
    assert store.incidents.tally("inc-a") == (2, 2, 2)


def test_resolution_by_name_only_for_alerts_read_from_messages(store):
    """A resolved alert with an unknown fingerprint resolves firing alerts of its name and
    service only when asked (message text); a webhook's unknown fingerprint resolves nothing."""
    file(store, [alert("a1", source="slack:alertmanager")])
    other = alert("other", source="slack:alertmanager", status=AlertStatus.RESOLVED)
    by_fingerprint = store.incidents.resolve_alerts(channel=CHANNEL, alerts=[other])
    assert by_fingerprint.resolved == ()
    by_name = store.incidents.resolve_alerts(channel=CHANNEL, alerts=[other], by_name=True)
    assert by_name.resolved == ("inc-a",)


def test_an_incident_id_taken_by_an_earlier_incident_gets_the_moment(store):
    """The same alerts opening an incident after theirs resolved: ``<id>-<moment>``."""
    file(store, [alert("a1")])
    store.incidents.resolve_alerts(
        channel=CHANNEL, alerts=[alert("a1", status=AlertStatus.RESOLVED)]
    )
    assert file(store, [alert("a1")]) == ("inc-a-1796000000",)
    store.incidents.resolve_alerts(
        channel=CHANNEL, alerts=[alert("a1", status=AlertStatus.RESOLVED)]
    )
    assert file(store, [alert("a1")]) == ("inc-a-1796000000-2",)


def test_open_incidents_carry_their_newest_live_plan(store):
    """The placement rule sees each open incident's newest live plan status."""
    seen: list[Sequence[OpenIncident]] = []

    def spy(incidents: Sequence[OpenIncident], alerts: Sequence[Alert]) -> list[Placement]:
        seen.append(incidents)
        return one_incident(incidents, alerts)

    file(store, [alert("a1")])
    plan_id = store.plans.save(make_plan(1, incident="inc-a"))
    store.plans.move(plan_id, PlanStatus.REJECTED, actor="U1")
    store.incidents.file_alerts(
        channel=CHANNEL,
        alerts=[alert("a2")],
        since=AT - timedelta(minutes=30),
        thread_ts=None,
        moment="1",
        place=spy,
    )
    ((incident,),) = seen
    assert (incident.id, incident.services, incident.plan_status) == (
        "inc-a",
        ("cartservice",),
        PlanStatus.REJECTED,
    )
    assert incident.plan_moved_at is not None


def test_a_plan_is_retired_for_its_redraft_only_while_untouched(store):
    """A proposed plan nobody approved is retired (expired, audited) and its message handed
    to the redraft; one with an approval, or a moved step, is left as it is."""
    file(store, [alert("a1")])
    old = store.plans.save(make_plan(2, incident="inc-a"))
    store.conversations.set_plan_message(old, channel=CHANNEL, ts="1.1", thread_ts=None)
    approved = store.plans.save(make_plan(2, incident="inc-a"))
    store.approvals.add(approved, user="U1", step_ids=["s1"])
    assert not store.incidents.supersede(approved, reason="redrafted")
    assert store.plans.get(approved).status == PlanStatus.PROPOSED

    assert store.incidents.supersede(old, reason="redrafted: 1 more alert joined")
    assert not store.incidents.supersede(old, reason="twice")
    assert store.plans.get(old).status == PlanStatus.EXPIRED
    new = store.plans.save(make_plan(2, incident="inc-a"))
    assert store.incidents.hand_over(old, new, incident_id="inc-a", drafted=1)
    assert store.conversations.plan_at(CHANNEL, "1.1") == new
    assert store.conversations.plan_message(old) is None
    actions = [(e.action, e.subject) for e in store.audit.entries()]
    assert ("plan.expired", old) in actions
    assert ("plan.redrafted", new) in actions


def test_a_plan_of_a_resolved_incident_is_not_retired(store):
    """Once the incident resolved (its summary may be showing), its plan is never redrafted."""
    file(store, [alert("a1")])
    plan_id = store.plans.save(make_plan(1, incident="inc-a"))
    store.incidents.resolve_alerts(
        channel=CHANNEL, alerts=[alert("a1", status=AlertStatus.RESOLVED)]
    )
    assert not store.incidents.supersede(plan_id, reason="redrafted")
    assert store.plans.get(plan_id).status == PlanStatus.PROPOSED


def test_repeats_are_looked_up_through_the_index(sqlite_url):
    """The repeated-alert lookup finds the channel's open incidents by their index and each
    alert by the unique ``(incident_id, source, fingerprint)`` key: no scan of the alerts."""
    with Store.from_url(sqlite_url) as store:
        file(store, [alert(f"a{n}") for n in range(20)])
        statements: list[tuple[str, Any]] = []

        def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            statements.append((statement, parameters))

        sa.event.listen(store.engine, "before_cursor_execute", record)
        try:
            store.incidents.known_alerts(channel=CHANNEL, alerts=[alert("a1"), alert("a9")])
        finally:
            sa.event.remove(store.engine, "before_cursor_execute", record)
        ((statement, parameters),) = [s for s in statements if "alerts" in s[0]]
        with store.engine.connect() as conn:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    steps = " / ".join(str(row[-1]) for row in plan)
    assert "USING INDEX ix_incidents_status_channel" in steps
    assert "(incident_id=? AND source=? AND fingerprint=?)" in steps
    assert "SCAN alerts" not in steps


def test_migration_0006_counts_existing_alerts_as_drafted_and_downgrades(database_url):
    """0006 counts every alert an incident already holds as drafted; the column and index work;
    a downgrade drops them and keeps the rows; it re-applies."""
    engine = create_engine(database_url)
    try:
        upgrade(engine, revision="0005")
        at = datetime(2026, 11, 27, tzinfo=UTC)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO incidents (id, services, channel, status, created_at) "
                    "VALUES ('inc-1', '[\"cartservice\"]', 'C1', 'open', :at)"
                ),
                {"at": at},
            )
            for n in range(3):
                conn.execute(
                    sa.text(
                        "INSERT INTO alerts (incident_id, source, fingerprint, name, status, "
                        "started_at) VALUES ('inc-1', 'am', :fp, 'X', 'firing', :at)"
                    ),
                    {"fp": f"f{n}", "at": at},
                )
        upgrade(engine, revision="0006")
        assert current_revision(engine) == "0006"
        tally = Store(engine).incidents.tally("inc-1")
        assert tally == (3, 3, 3)
        indexes = {i["name"] for i in sa.inspect(engine).get_indexes("incidents")}
        assert "ix_incidents_status_channel" in indexes

        config = alembic_config()
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0005")
        assert current_revision(engine) == "0005"
        columns = {c["name"] for c in sa.inspect(engine).get_columns("incidents")}
        assert "drafted_alerts" not in columns
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM alerts")).scalar() == 3
        upgrade(engine, revision="0006")
        assert Store(engine).incidents.tally("inc-1") == (3, 3, 3)
    finally:
        engine.dispose()
