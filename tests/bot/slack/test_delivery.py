"""Slack's rate limits do not delay rollbacks (issue 11 item 11): step moves are shown off the
engine's path, coalesced per plan message, and a failed ``chat.update`` is retried from the
outbox showing the plan as it is when sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.core.engine import Engine, EngineConfig
from bot.lifecycle import StepStatus
from bot.slack.delivery import StepDeliveries
from bot.slack.notifier import SlackNotifier, make_web_client
from bot.store import Store
from fakes.plans import start_versions, synthetic_plan
from fakes.slack import FakeSlack
from integrations.executors.simulated import SimulatedExecutor
from tests.support.polling import wait_until

CHANNEL = "C0INCIDENT"


def test_moves_recorded_while_the_sender_is_busy_are_shown_together():
    release = threading.Event()
    shown: list[tuple[str, tuple[str, ...]]] = []

    def show(plan_id: str, step_ids: Sequence[str]) -> None:
        shown.append((plan_id, tuple(step_ids)))
        release.wait(10)

    deliveries = StepDeliveries(show)
    deliveries.step_changed("pl-1", "s1")
    wait_until(lambda: shown)  # the sender is busy showing s1
    for step in ("s2", "s3", "s2", "s4"):
        deliveries.step_changed("pl-1", step)
    deliveries.step_changed("pl-2", "s1")
    assert not deliveries.idle
    release.set()
    wait_until(lambda: deliveries.idle)
    assert shown == [("pl-1", ("s1",)), ("pl-1", ("s2", "s3", "s4")), ("pl-2", ("s1",))]
    deliveries.close()
    deliveries.step_changed("pl-3", "s1")  # after close: ignored, never raises
    assert len(shown) == 3


def test_a_failing_show_does_not_stop_the_sender():
    shown: list[str] = []

    def show(plan_id: str, step_ids: Sequence[str]) -> None:
        shown.append(plan_id)
        if plan_id == "pl-bad":
            raise RuntimeError("slack exploded")

    deliveries = StepDeliveries(show)
    deliveries.step_changed("pl-bad", "s1")
    wait_until(lambda: deliveries.idle and shown)
    deliveries.step_changed("pl-good", "s1")
    wait_until(lambda: "pl-good" in shown)
    deliveries.close()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def posted_plan(store: Store, slack: FakeSlack, client: WebClient) -> tuple[str, SlackNotifier]:
    plan = synthetic_plan(2, seed=0, width=0)
    plan_id = store.plans.save(plan)
    notifier = SlackNotifier(client=client, store=store, graphs=False)
    notifier.post_plan(plan_id, channel=CHANNEL, thread_ts=None)
    return plan_id, notifier


def test_a_rate_limited_update_does_not_hold_the_step(tmp_path: Path, slack: FakeSlack) -> None:
    """Before: the engine showed each move itself, so a ``chat.update`` answered 429 with
    ``Retry-After: 4`` (the client sleeps, then retries) held the step it had just claimed
    until Slack took the update. Now the step executes while the update still waits."""
    store = Store.from_url(f"sqlite:///{tmp_path / 'b.db'}")
    client = make_web_client(token="xoxb-test", base_url=slack.api_url)
    plan_id, notifier = posted_plan(store, slack, client)
    plan = store.plans.get(plan_id).plan
    deliveries = StepDeliveries(notifier.show_step_changes)
    executor = SimulatedExecutor(versions=start_versions(plan))
    engine = Engine(
        store=store,
        executors={"simulated": executor},
        config=EngineConfig(max_parallel=1),
        on_change=deliveries.step_changed,
    )
    slack.fail_next("chat.update", status=429, retry_after=4, times=1)
    try:
        engine.queue(plan_id, [s.id for s in plan.steps], actor="U_ONCALL")
        report = engine.run(plan_id)
        assert report.status == "done"
        wait_until(lambda: deliveries.idle, timeout=30)
    finally:
        deliveries.close()
        store.close()
    updates = slack.calls_to("chat.update")
    assert len(updates) >= 2  # the refused one, and the client's retry after Retry-After
    executed = [e.started_at for e in store.steps.executions(plan_id) if e.phase == "execute"]
    # Every step executed before Slack was even asked again: nothing waited for the update.
    assert max(executed) < updates[1].at
    # The last update shows the plan as it ended.
    final = updates[-1].args
    assert "done" in str(final.get("blocks", "")).lower()


def test_a_failed_update_is_retried_from_the_outbox_showing_the_plan_as_it_is_then(
    tmp_path: Path, slack: FakeSlack
) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'b.db'}")
    client = WebClient(token="xoxb-test", base_url=slack.api_url)  # no retries of its own
    try:
        plan_id, notifier = posted_plan(store, slack, client)
        slack.fail_next("chat.update", status=500)
        notifier.refresh_plan(plan_id)  # refused: kept in the outbox
        assert store.conversations.pending_count() == 1
        store.steps.transition(
            plan_id, "s1", from_statuses=["pending"], to=StepStatus.SKIPPED, actor="U_ONCALL"
        )
        assert notifier.flush_outbox() == 1
        assert store.conversations.pending_count() == 0
        retried = slack.calls_to("chat.update")[-1].args
        assert "skipped" in str(retried.get("blocks", "")).lower()  # drawn when sent
    finally:
        store.close()
