"""The Slack bot as Slack meets it: a real running bot driven only by signed HTTP requests, with
the fake Slack recording what it answered."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from bot.lifecycle import PlanKind, PlanStatus
from fakes import signing as slack
from fakes.world import ONCALL, ONCALL_2, STRANGER, BotWorld

INCIDENT = "C0INCIDENT"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[BotWorld]:
    with BotWorld(tmp_path) as running:
        yield running


def command(world: BotWorld, text: str, user: str = ONCALL) -> Any:
    return world.post(slack.slash_command(text, user=user, channel=INCIDENT, secret=world.secret))


def click(world: BotWorld, action_id: str, value: str, user: str, ts: str) -> Any:
    request = slack.block_action(
        action_id, value, user=user, channel=INCIDENT, message_ts=ts, secret=world.secret
    )
    return world.post(request)


def deploy(world: BotWorld, text: str, ts: str) -> Any:
    event = {
        "type": "message",
        "channel": world.deploys_channel,
        "bot_id": "B0CI",
        "text": text,
        "ts": ts,
        "username": "ci",
    }
    return world.post(slack.event_callback(event, secret=world.secret))


def plan_posted(world: BotWorld, channel: str = INCIDENT) -> dict[str, Any] | None:
    posts = [
        c for c in world.slack.calls_to("chat.postMessage") if c.args.get("channel") == channel
    ]
    plans = [c for c in posts if "plan" in json.dumps(c.args.get("blocks", [])).lower()]
    return plans[0].args if plans else None


def ephemerals(world: BotWorld, user: str) -> list[str]:
    return [
        json.dumps(c.args)
        for c in world.slack.calls_to("chat.postEphemeral")
        if c.args.get("user") == user
    ]


def live_plans(world: BotWorld) -> list[Any]:
    """Plans drafted for an incident (not the standby plans kept for deploys)."""
    return [p for p in world.services.store.plans.recent() if p.kind == PlanKind.LIVE]


def now_ts(offset: float = 0) -> str:
    return f"{time.time() + offset:.6f}"


def record_bad_deploy(world: BotWorld) -> None:
    deploy(
        world, "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>", now_ts(-600)
    )
    world.wait_for(lambda: world.services.store.incidents.changes_of("cartservice"))


class TestSlashCommand:
    def test_plan_is_acked_at_once_and_posted_in_the_channel(self, world):
        """``/rollback plan`` answers within the request, then posts the plan in the channel."""
        record_bad_deploy(world)
        response = command(world, "plan cartservice")
        assert response.status_code == 200
        assert "cartservice" in response.text
        posted = world.wait_for(lambda: plan_posted(world))
        assert "cartservice" in json.dumps(posted["blocks"])
        assert any(b.get("type") == "actions" for b in posted["blocks"]), (
            "an approvable plan has buttons"
        )

    def test_unknown_service_gets_close_matches_and_no_plan(self, world):
        """A misspelt service is refused in the ack, with suggestions; nothing is drafted."""
        response = command(world, "plan cartservce")
        assert response.status_code == 200
        assert "cartservice" in response.text
        world.settle()
        assert world.services.store.plans.recent() == []

    def test_an_unknown_service_followed_by_junk_is_named_as_unknown(self, world):
        """Issue 10, defect 8: words after an unknown service do not hide it behind the usage:
        the answer says the service is unknown and suggests the close one."""
        response = command(world, "plan paiement-sérvice 🚑 --to v1.8.1 «urgent»")
        assert response.status_code == 200
        answer = response.json()["text"]
        assert "paiement-sérvice" in answer
        assert "paymentservice" in answer
        assert "Usage" not in answer
        world.settle()
        assert world.services.store.plans.recent() == []

    def test_unparseable_text_gets_usage_with_the_text_escaped(self, world):
        """Junk gets the usage help; the user's own text comes back inert."""
        response = command(world, "launch <!channel> <https://evil.example|now>")
        assert response.status_code == 200
        assert "<!channel>" not in response.text
        assert "&lt;!channel&gt;" in response.text or "!channel" not in response.text


class TestSignedRequests:
    def test_forged_stale_and_unsigned_requests_are_401(self, world):
        """A wrong signature, an old timestamp, or none at all: 401 and nothing processed."""
        good = slack.slash_command(
            "plan cartservice", user=ONCALL, channel=INCIDENT, secret=world.secret
        )
        forged = slack.slash_command(
            "plan cartservice", user=ONCALL, channel=INCIDENT, secret="not-the-secret"
        )
        stale = slack.slash_command(
            "plan cartservice",
            user=ONCALL,
            channel=INCIDENT,
            secret=world.secret,
            timestamp=int(time.time()) - 301,
        )
        assert world.post(forged).status_code == 401
        assert world.post(stale).status_code == 401
        assert world.http.post("/slack/events", content=good.body).status_code == 401
        world.settle()
        assert world.services.store.plans.recent() == []

    def test_a_replayed_request_is_refused(self, world):
        """The same signed bytes sent twice: the second is 401."""
        request = slack.slash_command("help", user=ONCALL, channel=INCIDENT, secret=world.secret)
        assert world.post(request).status_code == 200
        assert world.post(request).status_code == 401

    def test_malformed_signed_body_is_400(self, world):
        """A correctly signed body that is not Slack's format is a 400, not a 500."""
        request = slack.sign(b"{not json", secret=world.secret, content_type="application/json")
        assert world.post(request).status_code == 400

    def test_health_ready_and_metrics(self, world):
        """/healthz, /readyz and /metrics answer."""
        assert world.http.get("/healthz").text == "ok"
        assert world.http.get("/readyz").json()["ready"] is True
        command(world, "help")
        assert "backout_slack_requests_total" in world.http.get("/metrics").text


class TestAlertChannel:
    def test_firing_alert_gets_a_plan_in_its_thread_once(self, world):
        """An Alertmanager message in a watched channel gets the plan as a threaded reply; the
        Slack retry of the same event is acknowledged and not processed again."""
        record_bad_deploy(world)
        ts = now_ts()
        event = {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": "B0ALERTMGR",
            "channel": world.alerts_channel,
            "ts": ts,
            "text": "",
            "attachments": [
                {
                    "color": "danger",
                    "title": "[FIRING:1] CheckoutHighErrorRate checkoutservice",
                    "text": "*Summary:* checkout errors\n*Labels:* service=checkoutservice",
                    "fallback": "[FIRING:1] CheckoutHighErrorRate checkoutservice",
                }
            ],
        }
        first = slack.event_callback(event, secret=world.secret, event_id="Ev0RETRY01")
        retry = slack.event_callback(event, secret=world.secret, event_id="Ev0RETRY01")
        assert world.post(first).status_code == 200
        assert world.post(retry, **{"X-Slack-Retry-Num": "1"}).status_code == 200
        posted = world.wait_for(lambda: plan_posted(world, world.alerts_channel))
        assert posted["thread_ts"] == ts
        world.settle()
        assert len(live_plans(world)) == 1

    def test_own_messages_and_edits_never_trigger(self, world):
        """Backout's own messages and message_changed edits are ignored."""
        own = {
            "type": "message",
            "bot_id": "B0BACKOUT",
            "channel": world.alerts_channel,
            "ts": now_ts(),
            "text": "[FIRING:1] X cartservice",
        }
        edit = {
            "type": "message",
            "subtype": "message_changed",
            "channel": world.alerts_channel,
            "ts": now_ts(),
            "message": {"bot_id": "B0OTHER", "text": "[FIRING:1] X cartservice"},
        }
        for event in (own, edit):
            assert world.post(slack.event_callback(event, secret=world.secret)).status_code == 200
        world.settle()
        assert world.services.store.plans.recent() == []


class TestApprovals:
    def drafted(self, world: BotWorld) -> tuple[str, str]:
        record_bad_deploy(world)
        command(world, "plan cartservice", user=ONCALL)
        posted = world.wait_for(lambda: plan_posted(world))
        plan_id = live_plans(world)[0].id
        message = world.wait_for(
            lambda: (
                (m := world.services.store.conversations.plan_message(plan_id))
                and not m.ts.startswith("pending:")
                and m
            )
        )
        assert posted
        return plan_id, message.ts

    def test_unauthorised_click_is_refused_and_changes_nothing(self, world):
        """A user outside the policy gets an ephemeral refusal; the refusal is audited."""
        plan_id, ts = self.drafted(world)
        assert click(world, "backout_approve_plan", plan_id, STRANGER, ts).status_code == 200
        world.wait_for(lambda: ephemerals(world, STRANGER))
        assert world.services.store.approvals.of(plan_id) == {}
        refusals = [
            e
            for e in world.services.store.audit.entries(subject_prefix=plan_id)
            if e.action == "approval.refused"
        ]
        assert refusals and refusals[0].actor == STRANGER

    def test_two_approvers_run_the_critical_step_exactly_once(self, world):
        """cartservice is critical: one approval waits, a second distinct one runs it; double
        clicks change nothing; the message is updated as the step runs."""
        plan_id, ts = self.drafted(world)
        for _ in range(2):  # a double click
            click(world, "backout_approve_stage", f"{plan_id}:partial", ONCALL, ts)
        world.settle()
        assert world.executor.executed == []
        click(world, "backout_approve_stage", f"{plan_id}:partial", ONCALL_2, ts)
        world.wait_for(lambda: world.executor.executed, timeout=15)
        world.wait_for(
            lambda: world.services.store.plans.get(plan_id).status in ("done", "waiting"),
            timeout=15,
        )
        assert world.executor.version("cartservice") == "v1.4.2"
        assert world.executor.executed.count(f"{plan_id}/s1") == 1
        updates = world.slack.calls_to("chat.update")
        assert any("cartservice" in json.dumps(u.args.get("blocks", [])) for u in updates)

    def test_someone_removed_from_the_on_call_group_can_no_longer_approve(self, world):
        """When Slack reports the group's new members, a removed member's next click is refused
        at once, although the group's members were read moments before."""
        plan_id, ts = self.drafted(world)
        click(world, "backout_approve_stage", f"{plan_id}:partial", ONCALL, ts)
        world.wait_for(lambda: world.services.store.approvals.of(plan_id))
        world.slack.set_group_members("S0ONCALL", [ONCALL])
        changed = {
            "type": "subteam_members_changed",
            "subteam_id": "S0ONCALL",
            "removed_users": [ONCALL_2],
            "removed_users_count": 1,
        }
        assert world.post(slack.event_callback(changed, secret=world.secret)).status_code == 200
        world.settle()
        click(world, "backout_approve_stage", f"{plan_id}:partial", ONCALL_2, ts)
        world.wait_for(lambda: ephemerals(world, ONCALL_2))
        assert ONCALL_2 not in world.services.store.approvals.of(plan_id).get("s1", set())
        assert world.executor.executed == []

    def test_click_on_unknown_plan_changes_nothing(self, world):
        """A click naming a plan that does not exist gets an ephemeral answer."""
        click(world, "backout_approve_plan", "pl-deadbeef", ONCALL, now_ts())
        world.wait_for(lambda: ephemerals(world, ONCALL))
        assert world.services.store.plans.recent() == []


def test_an_approval_after_the_plans_window_closed_is_refused(tmp_path):
    """Plans expire a second after they are posted here: a click once that has passed (the
    expiry job run by the scheduler before or after it) is refused, saying when the window
    closed; nothing is approved or runs, and the expired plan message offers no Approve."""
    with BotWorld(tmp_path, extra={"deadlines": {"expire_after_minutes": 1 / 60}}) as world:
        record_bad_deploy(world)
        command(world, "plan cartservice", user=ONCALL)
        world.wait_for(lambda: plan_posted(world))
        plan_id = live_plans(world)[0].id
        store = world.services.store
        job = world.wait_for(lambda: store.jobs.get(f"plan.expire:{plan_id}"))
        message = world.wait_for(
            lambda: (
                (m := store.conversations.plan_message(plan_id))
                and not m.ts.startswith("pending:")
                and m
            )
        )
        world.wait_for(lambda: store.clock() >= job.due_at)  # the window has closed

        click(world, "backout_approve_stage", f"{plan_id}:partial", ONCALL, message.ts)

        (said,) = world.wait_for(lambda: ephemerals(world, ONCALL))
        closes = job.due_at.astimezone(UTC).strftime("%H:%M")
        assert f"approval window closed at {closes} UTC" in said and "/rollback plan" in said
        world.wait_for(lambda: store.plans.get(plan_id).status == PlanStatus.EXPIRED)
        world.settle()
        assert store.approvals.of(plan_id) == {}
        assert world.executor.executed == []
        updates = [
            c.args for c in world.slack.calls_to("chat.update") if c.args.get("ts") == message.ts
        ]
        assert updates and "backout_approve" not in json.dumps(updates[-1]["blocks"])


def test_only_the_listed_alerting_bots_open_incidents(tmp_path):
    """With ``channels.alert_senders`` set, a bot that is not listed (by bot id or app id)
    opens nothing in the alert channel; a listed one does."""
    with BotWorld(tmp_path, alert_senders=["B0ALERTMGR", "A0GRAFANA"]) as world:
        record_bad_deploy(world)
        base = {
            "type": "message",
            "subtype": "bot_message",
            "channel": world.alerts_channel,
            "text": "[FIRING:1] HighErrorRate cartservice service=cartservice",
        }
        forged = {**base, "bot_id": "B0FORGED", "ts": now_ts()}
        assert world.post(slack.event_callback(forged, secret=world.secret)).status_code == 200
        world.settle()
        assert live_plans(world) == []
        by_app = {**base, "bot_id": "B0OTHER", "app_id": "A0GRAFANA", "ts": now_ts(1)}
        assert world.post(slack.event_callback(by_app, secret=world.secret)).status_code == 200
        world.wait_for(lambda: live_plans(world))


def test_suggest_mode_lets_nobody_execute(tmp_path):
    """In learning mode the plan has no approve buttons and clicks are refused."""
    with BotWorld(tmp_path, mode="suggest") as world:
        record_bad_deploy(world)
        command(world, "plan cartservice")
        posted = world.wait_for(lambda: plan_posted(world))
        assert "backout_approve" not in json.dumps(posted["blocks"])
        plan_id = live_plans(world)[0].id
        click(world, "backout_approve_plan", plan_id, ONCALL, now_ts())
        world.wait_for(lambda: ephemerals(world, ONCALL))
        assert world.executor.executed == []


def test_standby_plan_is_shown_in_the_deploy_thread(world):
    """Each announced deploy gets a standby plan; asking in its thread posts it there."""
    ts = now_ts(-60)
    deploy(world, "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>", ts)
    standby = world.wait_for(
        lambda: world.services.use_cases.planning.standby_for(
            channel=world.deploys_channel, thread_ts=ts
        )
    )
    reply = {
        "type": "message",
        "channel": world.deploys_channel,
        "user": ONCALL,
        "text": "show me the rollback plan",
        "ts": now_ts(),
        "thread_ts": ts,
    }
    world.post(slack.event_callback(reply, secret=world.secret))
    posted = world.wait_for(lambda: plan_posted(world, world.deploys_channel))
    assert posted["thread_ts"] == ts
    assert world.services.store.plans.get(standby).kind == PlanKind.STANDBY


def test_a_plan_slack_could_not_take_is_kept_and_posted_later(world):
    """When chat.postMessage keeps failing, the plan goes to the outbox and is posted once
    Slack recovers; nothing is lost and nothing is posted twice."""
    record_bad_deploy(world)
    world.slack.fail_next("chat.postMessage", status=500, times=3)
    command(world, "plan cartservice")
    plan_id = world.wait_for(lambda: live_plans(world) and live_plans(world)[0].id)
    message = world.wait_for(
        lambda: (
            (m := world.services.store.conversations.plan_message(plan_id))
            and not m.ts.startswith("pending:")
            and m
        ),
        timeout=15,
    )
    assert world.slack.message(message.channel, message.ts) is not None
    assert world.services.store.conversations.pending_count() == 0
    posts = [
        c for c in world.slack.calls_to("chat.postMessage") if c.args.get("channel") == INCIDENT
    ]
    assert len(posts) == 4  # three refused, one delivered


def test_events_from_unwatched_channels_are_ignored(world):
    """An alert in a channel Backout does not watch starts nothing."""
    event = {
        "type": "message",
        "bot_id": "B0ALERTMGR",
        "channel": "C0RANDOM",
        "ts": now_ts(),
        "text": "[FIRING:1] HighErrorRate cartservice service=cartservice",
    }
    assert world.post(slack.event_callback(event, secret=world.secret)).status_code == 200
    world.settle()
    assert live_plans(world) == []


def test_a_restarted_bot_resumes_approved_steps(tmp_path):
    """Steps approved before a restart (queued in the database) run when the bot comes back."""
    from bot.store import Store
    from fakes.plans import synthetic_plan

    plan = synthetic_plan(2, width=0, executor="kubernetes")
    # s2 waits for s1: the world's health is one for all services, and reads unhealthy while
    # cartservice still runs its bad version, so s2 verified first would fail.
    first, second = plan.steps
    plan = plan.model_copy(
        update={
            "steps": (
                first.model_copy(update={"service": "cartservice"}),
                second.model_copy(
                    update={
                        "service": "currencyservice",
                        "after": (first.id,),
                        "stage": first.stage,
                    }
                ),
            )
        }
    )
    with Store.from_url(f"sqlite:///{tmp_path / 'backout.db'}") as store:
        plan_id = store.plans.save(plan)
        for step in plan.steps:
            store.steps.transition(
                plan_id, step.id, from_statuses=["pending"], to="queued", actor=ONCALL
            )
    with BotWorld(tmp_path) as world:
        world.wait_for(lambda: world.services.store.plans.get(plan_id).status == "done", timeout=15)
        assert sorted(world.executor.executed) == [f"{plan_id}/s1", f"{plan_id}/s2"]


def test_plan_for_a_known_incident_drafts_a_fresh_plan(world):
    """``/rollback plan inc-…`` re-plans an incident Backout saw; an unknown one is refused."""
    record_bad_deploy(world)
    text = "[FIRING:1] HighErrorRate service=checkoutservice"
    event = {
        "type": "message",
        "bot_id": "B0ALERTMGR",
        "channel": world.alerts_channel,
        "ts": now_ts(),
        "text": text,
    }
    world.post(slack.event_callback(event, secret=world.secret))
    first = world.wait_for(lambda: live_plans(world))[0]
    incident = first.plan.incident.id
    command(world, f"plan {incident}")
    plans = world.wait_for(lambda: len(live_plans(world)) == 2 and live_plans(world))
    assert {p.plan.incident.id for p in plans} == {incident}
    command(world, "plan inc-0000000000")
    world.wait_for(lambda: any("inc-0000000000" in e for e in ephemerals(world, ONCALL)))
