"""The model in Slack, never blocking (issue 9 item 5): a whole bot (:class:`fakes.world.BotWorld`)
with the fake OpenAI-compatible server on loopback, the real client, the guard and the planner.

The plan is posted from the planner at once; the model's checked explanation is edited into the
message when it arrives (a hostile one is dropped: the graph's own explanation and "claims
dropped" are shown; a failing model leaves the plan as posted). ``/rollback explain`` and the
*Explain* button ask again for those who may read the plan; without a model neither exists.
Before the explanation the model is asked for refinements: those the guard accepts replace a
plan nobody has touched, in the same message (a click on the older drawing is refused); a
touched plan stays as it is. A plan redrafted as alerts join its incident is explained too."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from benchmarks.eval_llm import good_explanation
from bot.lifecycle import PlanStatus
from fakes import signing as slack
from fakes.openai import HOSTILE_TEXTS, Answer, ChatRequest, FakeOpenAI, reply
from fakes.server import Incoming, Reply
from fakes.slack import Call
from fakes.world import ONCALL, STRANGER, BotWorld
from planners.evidence import evidence_of
from planners.model import Plan
from tests.bot.core import alert_storm
from tests.support.store import Clock

INCIDENT = "C0INCIDENT"
OTHER = "C0OTHER"
EXPLAINED = "Explained by the model"
GRAPHS_OWN = "The graph's own explanation"
EXPLAIN_BUTTON = "backout_explain"
REFINE = "You review rollback plans"
REFINED = "Refined by the model"


class HeldOpenAI(FakeOpenAI):
    """The fake OpenAI server, holding every chat request (or, with :attr:`hold_only`, those
    whose body holds that text) until :attr:`release` is set; it notes when each held request
    arrived and when its answer was made (``time.time()``)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.release = threading.Event()
        self.hold_only: str | None = None
        self.arrived: list[float] = []
        self.answered: list[float] = []

    def _respond(self, request: Incoming) -> Reply:
        chat = request.path.endswith("/chat/completions")
        if chat and self.hold_only is not None:
            chat = self.hold_only in request.raw.decode("utf-8", "replace")
        if chat:
            self.arrived.append(time.time())
            self.release.wait(timeout=30)
        made = super()._respond(request)
        if chat:
            self.answered.append(time.time())
        return made


@pytest.fixture
def fake() -> Iterator[HeldOpenAI]:
    with HeldOpenAI() as server:
        yield server


def with_model(fake: FakeOpenAI) -> dict[str, Any]:
    return {"llm": {"model": "fake-model", "base_url": fake.base_url, "max_retries": 0}}


@pytest.fixture
def world(tmp_path: Path, fake: HeldOpenAI) -> Iterator[BotWorld]:
    with BotWorld(tmp_path, extra=with_model(fake)) as running:
        prepare(running)
        yield running
        fake.release.set()  # nothing may stay held while the bot stops


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[BotWorld]:
    with BotWorld(tmp_path) as running:
        prepare(running)
        yield running


def prepare(world: BotWorld) -> None:
    """Channel members, and the bad cartservice deploy the plans will suspect."""
    world.slack.set_channel_members(INCIDENT, [ONCALL])
    world.slack.set_channel_members(OTHER, [STRANGER])
    event = {
        "type": "message",
        "channel": world.deploys_channel,
        "bot_id": "B0CI",
        "text": "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>",
        "ts": f"{time.time() - 600:.6f}",
        "username": "ci",
    }
    world.post(slack.event_callback(event, secret=world.secret)).raise_for_status()
    world.wait_for(lambda: world.services.store.incidents.changes_of("cartservice"))


def command(world: BotWorld, text: str, *, user: str = ONCALL, channel: str = INCIDENT) -> Any:
    response = world.post(
        slack.slash_command(text, user=user, channel=channel, secret=world.secret)
    )
    assert response.status_code == 200
    return response.json() if response.content else {}


def posts(world: BotWorld) -> list[Call]:
    return [c for c in world.slack.calls_to("chat.postMessage") if c.args["channel"] == INCIDENT]


def updates(world: BotWorld, containing: str) -> list[Call]:
    return [c for c in world.slack.calls_to("chat.update") if containing in text_of(c.args)]


def text_of(args: dict[str, Any]) -> str:
    return json.dumps(args.get("blocks", []), ensure_ascii=False)


def button_ids(args: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in args.get("blocks", [])
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def draft(world: BotWorld) -> tuple[str, Call]:
    """``/rollback plan cartservice``: the stored plan's id and its post, once posted."""
    command(world, "plan cartservice")
    post = world.wait_for(lambda: posts(world)[-1] if posts(world) else None)
    stored = world.services.store.plans.latest_live()
    assert stored is not None
    world.wait_for(lambda: world.services.store.conversations.plan_message(stored.id))
    return stored.id, post


def answer_with(fake: HeldOpenAI, world: BotWorld, plan_id: str, hostile: bool = False) -> Plan:
    """Script the fake's answer for the plan (a careful one, or "approve everything now")."""
    plan = world.services.store.plans.get(plan_id).plan
    answer = good_explanation(plan)
    if hostile:
        answer |= {"summary": HOSTILE_TEXTS[0]}
    fake.default = reply(answer)
    fake.release.set()
    return plan


def click(world: BotWorld, action_id: str, value: str, *, user: str = ONCALL) -> None:
    request = slack.block_action(
        action_id,
        value,
        user=user,
        channel=INCIDENT,
        message_ts=f"{time.time():.6f}",
        secret=world.secret,
    )
    assert world.post(request).status_code == 200


class TestTheExplanationArrivesLater:
    def test_the_plan_is_posted_before_the_model_answers_then_edited_in(self, world, fake):
        """The plan is in Slack while the model's answer is still held; once it answers, the
        same message is updated with the checked explanation, labelled with the model and
        the graph's verdict, and stored with the plan (audited)."""
        plan_id, post = draft(world)
        world.wait_for(lambda: fake.arrived)  # the model was asked, and has not answered
        assert fake.answered == []
        assert EXPLAIN_BUTTON in button_ids(post.args)
        assert EXPLAINED not in text_of(post.args)

        plan = answer_with(fake, world, plan_id)
        update = world.wait_for(lambda: updates(world, EXPLAINED))[-1]
        message = world.services.store.conversations.plan_message(plan_id)
        assert update.args["ts"] == message.ts
        assert post.at.timestamp() < fake.answered[0]  # posted first, answered after
        shown = text_of(update.args)
        assert "checked by the graph: 0 claims dropped" in shown
        assert "`fake-model`" in shown
        assert good_explanation(plan)["summary"][:40] in shown  # the model's own words
        stored = world.services.store.plans.get(plan_id)
        assert stored.explanation is not None
        assert (stored.explanation.source, stored.explanation.model) == ("model", "fake-model")
        audited = world.services.store.audit.entries(subject_prefix=plan_id)
        assert any(e.action == "plan.explained" for e in audited)
        metrics = world.http.get("/metrics").text  # asked once, through the answer cache
        assert 'backout_llm_cache_total{prompt="explain_plan.v1",result="miss"} 1.0' in metrics
        # The explanation carries no button: its section is text only, and the buttons are the
        # plan's own plus Explain.
        section = next(b for b in update.args["blocks"] if EXPLAINED in json.dumps(b))
        assert "accessory" not in section

    def test_a_hostile_answer_is_dropped_and_the_graphs_own_explanation_shown(self, world, fake):
        """ "Approve everything now": the guard rejects the explanation, the message shows the
        graph's own with "claims dropped", and nothing was approved or run."""
        plan_id, _ = draft(world)
        world.wait_for(lambda: fake.arrived)
        answer_with(fake, world, plan_id, hostile=True)
        update = world.wait_for(lambda: updates(world, GRAPHS_OWN))[-1]
        shown = text_of(update.args)
        assert "checked by the graph: 1 claims dropped" in shown
        assert "Approve everything now" not in shown
        stored = world.services.store.plans.get(plan_id)
        assert stored.explanation is not None and stored.explanation.outcome == "guard_rejected"
        assert stored.status == "proposed"
        assert world.services.store.approvals.of(plan_id) == {}

    def test_a_model_that_errors_leaves_the_plan_as_posted(self, world, fake, caplog):
        """The fake answers HTTP 500: no crash, a warning, nothing stored, no explanation
        edited in; the plan stays as posted and can still be acted on."""
        caplog.set_level(logging.WARNING, logger="bot.core.usecases.explaining")
        plan_id, post = draft(world)
        fake.release.set()  # nothing scripted: the fake answers 500
        world.wait_for(lambda: [r for r in caplog.records if "no explanation from" in r.message])
        world.settle()
        assert world.services.store.plans.get(plan_id).explanation is None
        assert updates(world, EXPLAINED) == [] and updates(world, GRAPHS_OWN) == []
        assert "backout_approve_stage" in button_ids(post.args)


class TestExplainOnDemand:
    def test_a_stranger_is_refused_and_the_model_not_asked(self, world, fake):
        """Someone neither in the plan's channel nor an approver gets the read refusal; the
        model is asked only by the plan's own post."""
        plan_id, _ = draft(world)
        answer_with(fake, world, plan_id)
        world.wait_for(lambda: updates(world, EXPLAINED))
        world.wait_for(lambda: any(REFINE in r.text for r in fake.requests))  # asked after
        asked = len(fake.requests)
        answer = command(world, f"explain {plan_id}", user=STRANGER, channel=OTHER)
        assert "can't explain plan" in json.dumps(answer)
        world.settle()
        assert len(fake.requests) == asked
        refused = world.services.store.audit.entries(subject_prefix=plan_id)
        assert any(e.action == "plan.read_refused" and e.actor == STRANGER for e in refused)

    def test_a_member_gets_the_explanation_ephemerally(self, world, fake):
        """``/rollback explain <plan>`` by a member: "asking the model" at once, then the
        checked explanation shown to them alone, and the plan message refreshed."""
        plan_id, _ = draft(world)
        answer_with(fake, world, plan_id)
        world.wait_for(lambda: updates(world, EXPLAINED))
        before = len(updates(world, EXPLAINED))
        answer = command(world, f"explain {plan_id}")
        assert "Asking the model" in answer["text"]
        shown = world.wait_for(
            lambda: [m for m in world.slack.ephemerals(ONCALL) if EXPLAINED in json.dumps(m)]
        )
        assert "checked by the graph: 0 claims dropped" in json.dumps(shown[0])
        world.wait_for(lambda: len(updates(world, EXPLAINED)) > before)

    def test_the_explain_button_answers_the_clicker(self, world, fake):
        """The *Explain* button takes the same path as the command."""
        plan_id, _ = draft(world)
        answer_with(fake, world, plan_id)
        world.wait_for(lambda: updates(world, EXPLAINED))
        click(world, EXPLAIN_BUTTON, plan_id)
        world.wait_for(
            lambda: [m for m in world.slack.ephemerals(ONCALL) if EXPLAINED in json.dumps(m)]
        )

    def test_explanations_are_counted_by_the_rate_limits(self, world, fake):
        """Five explanations a minute a person; the sixth is refused at once."""
        plan_id, _ = draft(world)
        answer_with(fake, world, plan_id)
        answers = [command(world, f"explain {plan_id}") for _ in range(6)]
        assert all("Asking the model" in a["text"] for a in answers[:5])
        assert "explanations" in json.dumps(answers[5])

    def test_a_malformed_explain_gets_usage_help(self, world):
        """``explain`` needs one plan id."""
        assert "explain takes a plan id" in json.dumps(command(world, "explain nonsense"))


class TestWithoutAModel:
    def test_no_explain_button_and_the_command_says_no_model(self, plain):
        """No model configured: the plan message is as before (no *Explain*), and
        ``/rollback explain`` says that no model is configured."""
        plan_id, post = draft(plain)
        assert EXPLAIN_BUTTON not in button_ids(post.args)
        assert EXPLAIN_BUTTON not in json.dumps(post.args)
        answer = command(plain, f"explain {plan_id}")
        assert "No model is configured" in json.dumps(answer)
        plain.settle()
        assert plain.services.store.plans.get(plan_id).explanation is None


def refinement(*proposals: dict[str, object]) -> Answer:
    """The model's answer to ``refine_plan``: these proposals."""
    full = [{"step": None, "before": None, "change": None} | p for p in proposals]
    return reply({"proposals": full})


def careful(world: BotWorld) -> Callable[[ChatRequest], Answer | None]:
    """A model proposing nothing and explaining the newest live plan (the one asked about)."""

    def answer(request: ChatRequest) -> Answer | None:
        if REFINE in request.text:
            return refinement()
        stored = world.services.store.plans.latest_live()
        return reply(good_explanation(stored.plan)) if stored is not None else None

    return answer


def record_other_deploys(world: BotWorld) -> tuple[str, str]:
    """Deploys of frontend (20 minutes ago: it calls cartservice) and currencyservice (15: no
    path to cartservice), both ruled out by the planner; their change ids."""
    ids = []
    for service, minutes in (("frontend", 20), ("currencyservice", 15)):
        event = {
            "type": "message",
            "channel": world.deploys_channel,
            "bot_id": "B0CI",
            "text": f"Deployed {service} from v3.0.1 to v3.0.2 in production by <@U0DEV>",
            "ts": f"{time.time() - minutes * 60:.6f}",
            "username": "ci",
        }
        world.post(slack.event_callback(event, secret=world.secret)).raise_for_status()
        recorded = world.wait_for(partial(world.services.store.incidents.changes_of, service))
        ids.append(recorded[0].id)
    return ids[0], ids[1]


def consider(plan: Plan, change_id: str, reason: str) -> dict[str, object]:
    """A proposal to consider a change the plan ruled out, citing its exclusion."""
    cited = [e.id for e in evidence_of(plan) if e.about == change_id]
    return {"kind": "consider_change", "change": change_id, "evidence": cited, "reason": reason}


def audited(world: BotWorld, plan_id: str, action: str) -> list[Any]:
    entries = world.services.store.audit.entries(subject_prefix=plan_id)
    return [e for e in entries if e.action == action and e.subject == plan_id]


class TestRefinements:
    def test_an_accepted_refinement_replaces_the_untouched_plan_in_its_message(self, world, fake):
        """The graph accepts considering the frontend deploy and rejects the currencyservice
        one: the planner re-plans with it, and the new plan, marked ``graph+llm``, takes over
        the same message, which says what the model changed and what the graph rejected and
        why; the explanation that follows is of that plan; a click on the older drawing is
        refused and approves nothing."""
        frontend, currency = record_other_deploys(world)
        old, _ = draft(world)  # the model is held: this is the planner's plan
        store = world.services.store
        plan = store.plans.get(old).plan
        assert {s.change_id for s in plan.steps}.isdisjoint({frontend, currency})
        fake.answer = careful(world)
        fake.enqueue(
            refinement(
                consider(plan, frontend, "the frontend deploy came just before the errors"),
                consider(plan, currency, "the currency deploy came just before the errors"),
            ),
            when=REFINE,
        )
        fake.release.set()

        refined = world.wait_for(
            lambda: (p := store.plans.latest_live()) and p.id != old and p.explanation and p
        )
        assert refined.plan.drafted_by == "graph+llm:fake-model"
        assert frontend in {s.change_id for s in refined.plan.steps}
        assert refined.plan.incident == plan.incident
        assert (refined.status, store.plans.get(old).status) == ("proposed", "expired")
        message = store.conversations.plan_message(refined.id)
        assert store.conversations.plan_at(INCIDENT, message.ts) == refined.id
        assert store.conversations.plan_message(old) is None
        assert refined.explanation.source == "model"
        explained = [r for r in fake.requests if "You explain rollback plans" in r.text]
        suspects = explained[-1].text.split('"suspects"')[1].split('"steps"')[0]
        assert frontend in suspects  # the refined plan was explained, not the planner's

        # The planner's plan is explained first; the refined plan's explanation comes after.
        update = world.wait_for(
            lambda: [u for u in updates(world, EXPLAINED) if REFINED in text_of(u.args)]
        )[-1]
        assert update.args["ts"] == message.ts
        shown = text_of(update.args)
        assert f"{REFINED} `fake-model`* · checked by the graph: 1 of 2 proposal(s)" in shown
        assert f"applied: consider {frontend}: the frontend deploy came just before" in shown
        assert f"rejected by the graph: consider {currency}: currencyservice has no" in shown
        assert f"{refined.id}:partial" in shown and old not in shown
        assert len(posts(world)) == 1
        (entry,) = audited(world, refined.id, "plan.refined")
        assert entry.details["from"] == old and len(entry.details["rejected"]) == 1

        click(world, "backout_approve_stage", f"{old}:partial")
        world.settle()
        assert store.approvals.of(old) == {} and store.approvals.of(refined.id) == {}
        assert audited(world, old, "approval.refused")

    def test_a_plan_approved_before_the_model_answers_stays_as_it_is(self, world, fake):
        """Someone approves while the model is still thinking: the accepted proposal changes
        nothing (the plan and its message stay the planner's); it is audited as unapplied, and
        the plan is still explained."""
        frontend, _ = record_other_deploys(world)
        fake.hold_only = REFINE  # the explanation comes first; the refinement is held
        fake.answer = careful(world)
        plan_id, _ = draft(world)
        world.wait_for(lambda: fake.arrived)  # the refinement was asked, and is held
        click(world, "backout_approve_stage", f"{plan_id}:partial")
        store = world.services.store
        world.wait_for(lambda: store.approvals.of(plan_id))
        posted = store.plans.get(plan_id).plan
        fake.enqueue(refinement(consider(posted, frontend, "the frontend deploy")), when=REFINE)
        fake.release.set()

        (entry,) = world.wait_for(lambda: audited(world, plan_id, "plan.refinement_unapplied"))
        assert entry.details["why"] == "touched or redrafted meanwhile"
        assert entry.details["applied"] == [f"consider {frontend}: the frontend deploy"]
        world.wait_for(lambda: store.plans.get(plan_id).explanation)
        stored = store.plans.get(plan_id)
        assert stored.plan == posted
        assert store.plans.latest_live().id == plan_id
        assert not any(REFINED in text_of(c.args) for c in world.slack.calls_to("chat.update"))


def test_a_plan_redrafted_as_alerts_join_is_explained(tmp_path, fake):
    """An alert joins the incident of a plan nobody has touched: the redraft, shown in the same
    message, is refined and explained by the model like the plan it replaced."""
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    extra = with_model(fake) | {
        "webhooks": {"secret": alert_storm.SECRET, "incident_channel": INCIDENT},
        "incidents": {"update_interval_seconds": alert_storm.INTERVAL},
    }
    with BotWorld(tmp_path, clock=clock, extra=extra) as world:
        fake.answer = careful(world)
        fake.release.set()
        store = world.services.store
        alert_storm.record_bad_deploy(world, clock)
        old = alert_storm.send(world, alert_storm.body([("c1", "cartservice")], at=clock.now))
        assert old is not None
        ts = alert_storm.message_ts(world, old)
        world.wait_for(lambda: store.plans.get(old).explanation)
        joining = alert_storm.body([("k1", "checkoutservice")], at=clock.now)
        assert alert_storm.send(world, joining) is None
        alert_storm.flush(world, clock)

        new = alert_storm.incident_plan(world, old)
        assert new.id != old and store.plans.get(old).status == PlanStatus.EXPIRED
        explained = world.wait_for(lambda: store.plans.get(new.id).explanation)
        assert explained.source == "model"
        assert audited(world, new.id, "plan.explained")
        update = world.wait_for(
            lambda: [
                c
                for c in updates(world, EXPLAINED)
                if c.args["ts"] == ts and f"{new.id}:partial" in text_of(c.args)
            ]
        )
        assert "checked by the graph: 0 claims dropped" in text_of(update[-1].args)
        asked = [r for r in fake.requests if "You explain rollback plans" in r.text]
        assert "checkoutservice" in asked[-1].text  # the redraft, drafted from both alerts
