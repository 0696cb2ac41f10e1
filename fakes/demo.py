"""``python -m fakes.demo`` (``make demo``): the whole story on this machine, no Slack account.

The bot runs for real (its HTTP server, store, policy, engine) against the fake Slack and a
simulated cluster running the bundled Online Boutique. The script plays Slack: it sends signed
requests to the bot's real endpoint as Slack would (deploy announcements, an Alertmanager alert,
button clicks, the resolution) and prints the conversation as it unfolds; the transcript is also
written to ``demo-transcript.txt``.

The model's part is played by the fake OpenAI-compatible server (:mod:`fakes.openai`) under the
name :data:`FAKE_MODEL`, which says it is not a real model: it answers at once with careful,
scripted answers computed from what it is asked (:mod:`fakes.careful_model`): an explanation of
the plan, no refinement, a responder's question in the thread answered from the graph's first
finding, and the summary's narrative. The bot checks each against the graph and shows it, as it
would a real model's.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.lifecycle import PlanKind, PlanStatus
from fakes import signing as slack
from fakes.careful_model import careful_reply
from fakes.openai import Answer, ChatRequest, FakeOpenAI, reply
from fakes.world import ONCALL, ONCALL_2, STRANGER, BotWorld

__all__ = ["FAKE_MODEL", "main"]

FAKE_MODEL = "fake-model (scripted, not a real model)"
"""The model name the demo configures: Slack labels the explanation with it."""

_EXPLAINED = "Explained by the model"
_GRAPHS_OWN = "The graph's own explanation"
_NARRATED = "What happened"
_NOT_NARRATED = "narrative was rejected by the graph"


class Story:
    """Narration plus what appeared in the fake Slack since the last look."""

    def __init__(self, world: BotWorld) -> None:
        self.world = world
        self.lines: list[str] = []
        self._seen = 0
        self._explained = False

    def say(self, text: str) -> None:
        self._emit(f"\n▶ {text}")

    def show(self) -> None:
        self.world.settle(timeout=30)
        transcript = self.world.slack.transcript()
        for line in transcript[self._seen :]:
            explanation, narrative = _explanation(line), _narrative(line)
            head = line.split(" edited: ", 1)[0]
            if explanation and not self._explained:  # shown once, when it is edited in
                self._explained = True
                self._emit(f"  {head} edited the model's explanation into the plan message:")
                self._emit(f"    {explanation}")
            elif narrative:
                self._emit(f"  {head} edited the model's narrative into the summary:")
                self._emit(f"    {narrative}")
            else:
                self._emit(f"  {_compact(line)}")
        self._seen = len(transcript)

    def _emit(self, line: str) -> None:
        print(line, flush=True)
        self.lines.append(line)


def main(argv: list[str] | None = None) -> int:
    """Play the incident; returns 0 when the story ended as it should."""
    parser = argparse.ArgumentParser(prog="python -m fakes.demo", description=__doc__)
    parser.add_argument("--transcript", default="demo-transcript.txt")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="backout-demo-") as tmp,
        FakeOpenAI(model=FAKE_MODEL) as model,
        BotWorld(Path(tmp), extra=_with_model(model)) as world,
    ):
        model.answer = lambda request: _careful(world, request)
        world.services.notifier.graphs = shutil.which("dot") is not None
        story = Story(world)
        ok = _play(world, story)
    Path(args.transcript).write_text("\n".join(story.lines) + "\n", encoding="utf-8")
    print(f"\nTranscript written to {args.transcript}")
    return 0 if ok else 1


def _play(world: BotWorld, story: Story) -> bool:
    now = time.time()
    story.say("CI announces three production deploys in #deploys")
    for minutes, text in (
        (67, "Deployed currencyservice from v2.3.0 to v2.3.1 in production by <@U0DEV1>"),
        (7, "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV2>"),
        (3, "Deployed adservice from v0.9.8 to v0.9.9 in production by <@U0DEV3>"),
    ):
        ts = f"{now - minutes * 60:.6f}"
        event = {
            "type": "message",
            "channel": world.deploys_channel,
            "bot_id": "B0CI",
            "username": "deploy-bot",
            "text": text,
            "ts": ts,
        }
        world.post(slack.event_callback(event, secret=world.secret))
    story.show()

    story.say("Alertmanager posts a firing alert in #alerts")
    alert_ts = f"{now:.6f}"
    alert = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0ALERTMGR",
        "username": "AlertManager",
        "channel": world.alerts_channel,
        "ts": alert_ts,
        "text": "",
        "attachments": [
            {
                "color": "danger",
                "title": "[FIRING:2] HighErrorRate checkoutservice frontend",
                "text": "*Summary:* checkout fails: cart unavailable\n"
                "*Labels:* service=checkoutservice severity=critical\n"
                "*Labels:* service=frontend severity=warning",
                "fallback": "[FIRING:2] HighErrorRate checkoutservice frontend",
            }
        ],
    }
    world.post(slack.event_callback(alert, secret=world.secret))
    plans = world.wait_for(lambda: _live_plans(world))
    plan_id = plans[0].id
    message = world.wait_for(
        lambda: (
            (m := world.services.store.conversations.plan_message(plan_id))
            and not m.ts.startswith("pending:")
            and m
        )
    )
    # The model is asked once the plan is posted; its checked explanation is then edited in.
    world.wait_for(lambda: world.services.store.plans.get(plan_id).explanation, timeout=30)
    world.wait_for(lambda: _edited_in(world), timeout=30)
    story.show()

    question = "why not currencyservice?"
    story.say(f"{ONCALL} asks the bot in the plan's thread: {question}")
    thread = message.thread_ts or message.ts
    bot = world.services.watch.bot_user_id
    asked = {
        "type": "message",
        "channel": world.alerts_channel,
        "user": ONCALL,
        "text": f"<@{bot}> {question}",
        "ts": f"{time.time():.6f}",
        "thread_ts": thread,
    }
    world.post(slack.event_callback(asked, secret=world.secret))
    world.wait_for(lambda: world.services.store.threads.recent(world.alerts_channel, thread))
    story.show()

    story.say(f"{STRANGER} (not on call) clicks Approve all")
    _click(world, "backout_approve_plan", plan_id, STRANGER, message.ts)
    story.show()

    story.say(f"{ONCALL} approves the partial stage (cartservice is critical: two approvers)")
    _click(world, "backout_approve_stage", f"{plan_id}:partial", ONCALL, message.ts)
    story.show()

    story.say(f"{ONCALL_2} approves the partial stage too: the rollback runs")
    _click(world, "backout_approve_stage", f"{plan_id}:partial", ONCALL_2, message.ts)
    world.wait_for(
        lambda: world.services.store.plans.get(plan_id).status in FINISHED_OR_HALTED, timeout=30
    )
    story.show()

    story.say("Alertmanager posts the resolution")
    resolved = dict(
        alert,
        ts=f"{time.time():.6f}",
        attachments=[
            {
                "color": "good",
                "title": "[RESOLVED] HighErrorRate checkoutservice frontend",
                "text": "*Labels:* service=checkoutservice\n*Labels:* service=frontend",
                "fallback": "[RESOLVED] HighErrorRate checkoutservice frontend",
            }
        ],
    )
    world.post(slack.event_callback(resolved, secret=world.secret))
    story.show()

    # The summary's narrative is asked of the model once the summary is posted, then edited in.
    world.wait_for(lambda: world.services.store.plans.narrative(plan_id), timeout=30)
    world.wait_for(lambda: _narrated(world), timeout=30)
    story.show()

    final = world.services.store.plans.get(plan_id)
    cart = world.executor.version("cartservice")
    story.say(f"Plan {plan_id} is {final.status}; cartservice now runs {cart}")
    return final.status == PlanStatus.DONE and cart == "v1.4.2"


FINISHED_OR_HALTED = (PlanStatus.DONE, PlanStatus.HALTED)


def _with_model(model: FakeOpenAI) -> dict[str, Any]:
    """The bot's settings for the fake model: no key, no retries (it answers at once)."""
    return {"llm": {"model": FAKE_MODEL, "base_url": model.base_url, "max_retries": 0}}


def _careful(world: BotWorld, request: ChatRequest) -> Answer | None:
    """The fake model's careful answer to what the bot asks (the plan asked about is the newest
    live one: the demo drafts only one)."""
    stored = world.services.store.plans.latest_live()
    answer = careful_reply(request, stored.plan if stored is not None else None)
    return reply(answer) if answer is not None else None


def _edited_in(world: BotWorld) -> bool:
    """The plan message has been edited to show the model's (or the graph's) explanation."""
    return any(
        _EXPLAINED in str(call.args) or _GRAPHS_OWN in str(call.args)
        for call in world.slack.calls_to("chat.update")
    )


def _narrated(world: BotWorld) -> bool:
    """The summary has been edited to show the model's narrative (or that it was rejected)."""
    return any(
        _NARRATED in str(call.args) or _NOT_NARRATED in str(call.args)
        for call in world.slack.calls_to("chat.update")
    )


def _narrative(line: str) -> str | None:
    """The narrative's block in an edit of the summary, if any."""
    if " edited: " not in line:
        return None
    return next((b for b in line.split(" | ") if _NARRATED in b or _NOT_NARRATED in b), None)


def _explanation(line: str) -> str | None:
    """The explanation's blocks in an edit of the plan message (title, text, note), if any."""
    if " edited: " not in line:
        return None
    blocks = line.split(" edited: ", 1)[1].split(" | ")
    for n, block in enumerate(blocks):
        if _EXPLAINED in block or _GRAPHS_OWN in block:
            return " | ".join(blocks[n : n + 2])
    return None


_STEP_STATUS = re.compile(
    r"·\s(\S+)\s(pending|queued|running|done|failed|skipped|not needed|aborted)"
)


def _compact(line: str) -> str:
    """An edit of the plan message, shortened to the step statuses it shows."""
    if " edited: " not in line:
        return line
    head = line.split(" edited: ", 1)[0]
    statuses = ", ".join(f"{emoji} {word}" for emoji, word in _STEP_STATUS.findall(line))
    return f"{head} updated the plan message: steps {statuses}"


def _live_plans(world: BotWorld) -> list[object]:
    return [p for p in world.services.store.plans.recent() if p.kind == PlanKind.LIVE]


def _click(world: BotWorld, action_id: str, value: str, user: str, ts: str) -> None:
    world.post(
        slack.block_action(
            action_id,
            value,
            user=user,
            channel=world.alerts_channel,
            message_ts=ts,
            secret=world.secret,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
