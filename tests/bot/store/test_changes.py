"""Changes across sources (issue 10, build 3): one deploy reported by CI, Argo CD and Slack is one
change under the first id, the other reports kept; failed deploys replace nothing; racing
replicas still store one change; migration 0005 goes up and down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from bot.store import Store, create_engine, current_revision, upgrade
from bot.store.db import alembic_config
from planners.model import Change, ChangeKind
from tests.support.store import Clock, race

AT = datetime(2026, 3, 17, 13, 55, 41, tzinfo=UTC)


def deploy(
    change_id: str,
    *,
    version: str = "v1.8.2",
    minutes: float = 0,
    source: str | None = "github",
    labels: tuple[str, ...] = (),
    **fields: object,
) -> Change:
    """A deploy of checkoutservice ``minutes`` after :data:`AT`."""
    return Change(
        id=change_id,
        service="checkoutservice",
        kind=ChangeKind.DEPLOY,
        at=AT + timedelta(minutes=minutes),
        to_version=version,
        source=source,
        labels=labels,
        **fields,
    )


def stored(store: Store) -> list[Change]:
    return store.incidents.changes_between(AT - timedelta(hours=1), AT + timedelta(hours=1))


def test_ci_and_argocd_announcing_one_deploy_make_one_change(store):
    """The later report is the same change: the first id stays, the later report is kept with
    its own id, and it fills what the first lacked without overwriting what it had."""
    incidents = store.incidents
    argo = deploy("argocd-1", minutes=1, source="argocd", labels=("env:prod", "revision:4be1c0d"))
    github = deploy(
        "github-1",
        source="github",
        labels=("env:production", "sha:9f3c2e1"),
        from_version="v1.8.1",
        actor="github-actions[bot]",
        summary="Deployed v1.8.2",
    )
    assert incidents.record_change(argo) is True
    assert incidents.record_change(github) is False
    (change,) = stored(store)
    assert change.id == "argocd-1"
    assert change.source == "argocd"
    assert (change.from_version, change.actor) == ("v1.8.1", "github-actions[bot]")
    assert change.at == argo.at
    assert change.labels == ("env:prod", "revision:4be1c0d", "env:production", "sha:9f3c2e1")
    (report,) = incidents.reports("argocd-1")
    assert (report.id, report.source, report.at) == ("github-1", "github", github.at)
    assert (report.actor, report.summary, report.to_version) == (
        "github-actions[bot]",
        "Deployed v1.8.2",
        "v1.8.2",
    )
    assert incidents.reports("github-1") == ()


def test_a_repeated_report_is_recorded_once(store):
    """The same report again (a redelivery), under the first id or the other, changes nothing."""
    incidents = store.incidents
    incidents.record_change(deploy("github-1"))
    incidents.record_change(deploy("argocd-1", minutes=1, source="argocd"))
    assert incidents.record_change(deploy("argocd-1", minutes=1, source="argocd")) is False
    assert incidents.record_change(deploy("github-1")) is False
    assert [c.id for c in stored(store)] == ["github-1"]
    assert [r.id for r in incidents.reports("github-1")] == ["argocd-1"]


def test_a_slack_message_without_environment_joins_the_deploy(store):
    """A bot's message naming no environment is the same deploy as CI's to production."""
    incidents = store.incidents
    incidents.record_change(deploy("github-1", labels=("env:production",)))
    assert incidents.record_change(deploy("slack-1", minutes=0.5, source="slack")) is False
    assert [r.source for r in incidents.reports("github-1")] == ["slack"]


@pytest.mark.parametrize(
    "other",
    [
        deploy("b", version="v1.8.3", minutes=1),
        deploy("b", labels=("env:staging",), minutes=1),
        deploy("b", minutes=16),
    ],
    ids=["another version", "another environment", "outside the window"],
)
def test_reports_that_differ_stay_separate_changes(store, other):
    """Another version, a named other environment, or more than the window apart: two changes."""
    store.incidents.record_change(deploy("a", labels=("env:production",)))
    assert store.incidents.record_change(other) is True
    assert {c.id for c in stored(store)} == {"a", "b"}


def test_the_same_version_deployed_again_after_another_is_a_new_deploy(store):
    """v1.8.2, then v1.8.3, then v1.8.2 again within minutes: three deploys, each replacing the
    one before (a deploy in between, or a completed rollback, ends the first one)."""
    incidents = store.incidents
    incidents.record_change(deploy("first", minutes=0))
    incidents.record_change(deploy("second", version="v1.8.3", minutes=4))
    assert incidents.record_change(deploy("again", minutes=8, source="argocd")) is True
    retired = incidents.retirements(["first", "second", "again"])
    assert retired == {
        "first": "replaced by the later deploy second (v1.8.3)",
        "second": "replaced by the later deploy again (v1.8.2)",
    }
    incidents.record_change(deploy("rolled", version="v2", minutes=20))
    rollback_done = Store(store.engine, clock=Clock(AT + timedelta(minutes=22))).incidents
    assert rollback_done.retire_change("rolled", why="rolled back by plan pl-1")
    redeployed = deploy("redeployed", version="v2", minutes=25, source="argocd")
    assert incidents.record_change(redeployed) is True


def test_one_source_s_records_are_its_own_events(store):
    """CI's failed attempt and its successful retry of the same version are two deploys: the
    retry replaces the attempt; so are two records of one version without any source."""
    incidents = store.incidents
    incidents.record_change(deploy("github-1-failure", failed=True))
    assert incidents.record_change(deploy("github-2-success", minutes=3)) is True
    assert incidents.retirements(["github-1-failure", "github-2-success"]) == {
        "github-1-failure": "replaced by the later deploy github-2-success (v1.8.2)"
    }
    incidents.record_change(deploy("x", version="v9", minutes=30, source=None))
    assert incidents.record_change(deploy("y", version="v9", minutes=31, source=None)) is True
    incidents.record_change(deploy("argocd-1", version="v9", minutes=32, source="argocd"))
    assert incidents.record_change(deploy("argocd-2", version="v9", minutes=33, source="argocd"))
    assert [r.id for r in incidents.reports("y")] == ["argocd-1"]


def test_a_failed_deploy_replaces_nothing_and_is_replaced_by_the_next(store):
    """A deploy that failed leaves the earlier one live (it may still run); the next good
    deploy replaces both; a failure report from another source marks the deploy failed."""
    incidents = store.incidents
    incidents.record_change(deploy("good", version="v1.8.1", minutes=-30))
    incidents.record_change(deploy("bad", failed=True))
    assert incidents.retirements(["good", "bad"]) == {}
    assert [c.failed for c in stored(store)] == [False, True]
    incidents.record_change(deploy("next", version="v1.8.3", minutes=10))
    assert set(incidents.retirements(["good", "bad", "next"])) == {"good", "bad"}

    incidents.record_change(deploy("ci-ok", version="v1.9.0", minutes=40))
    argo_failed = deploy("argo-failed", version="v1.9.0", minutes=41, failed=True, source="argocd")
    incidents.record_change(argo_failed)
    (merged,) = [c for c in stored(store) if c.id == "ci-ok"]
    assert merged.failed is True
    assert [r.failed for r in incidents.reports("ci-ok")] == [True]


def test_a_deploy_announced_late_is_still_one_change(store):
    """Argo CD's report may arrive before CI's, dated later: the earlier one joins it."""
    incidents = store.incidents
    incidents.record_change(deploy("argocd-1", minutes=3, source="argocd"))
    assert incidents.record_change(deploy("github-1")) is False
    assert [c.id for c in stored(store)] == ["argocd-1"]


def test_racing_reports_of_one_deploy_store_one_change(store):
    """Four replicas receiving four reports of one deploy at once store one change and keep the
    other three reports."""
    reports = [deploy(f"report-{n}", minutes=n / 10, source=f"s{n}") for n in range(4)]
    outcomes = race(4, lambda n: store.incidents.record_change(reports[n]))
    assert sorted(outcomes) == [False, False, False, True]
    (change,) = stored(store)
    assert sorted(r.id for r in store.incidents.reports(change.id)) == sorted(
        r.id for r in reports if r.id != change.id
    )


def test_migration_0005_adds_failed_and_reports(database_url):
    """0005 keeps every stored change a deploy that did not fail, told once; the new columns
    then work; a downgrade drops them and keeps the rows; it re-applies."""
    engine = create_engine(database_url)
    try:
        upgrade(engine, revision="0004")
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO changes (id, service, kind, at, to_version, revertible, summary) "
                    "VALUES ('c-1', 'checkoutservice', 'deploy', :at, 'v1.8.2', true, '')"
                ),
                {"at": AT},
            )
        upgrade(engine, revision="0005")
        assert current_revision(engine) == "0005"
        store = Store(engine)
        (old,) = stored(store)
        assert (old.id, old.failed, store.incidents.reports("c-1")) == ("c-1", False, ())
        late = deploy("c-2", minutes=1, failed=True, source="argocd")
        assert store.incidents.record_change(late) is False
        assert [r.id for r in store.incidents.reports("c-1")] == ["c-2"]

        config = alembic_config()
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0004")
        assert current_revision(engine) == "0004"
        columns = {c["name"] for c in sa.inspect(engine).get_columns("changes")}
        assert not {"failed", "reports"} & columns
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT id FROM changes")).scalars().all() == ["c-1"]
        upgrade(engine)
        (again,) = stored(Store(engine))
        assert (again.id, again.failed) == ("c-1", False)
    finally:
        engine.dispose()
