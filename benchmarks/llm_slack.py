"""The model never holds up a plan (issue 9, "Performance"): the time from an alert message to its
plan in Slack when the model takes 30 s to answer, and when the explanation was edited in.

Run from the repository root as ``python -m benchmarks.llm_slack``. The bot is a whole
:class:`fakes.world.BotWorld` (the fake Slack, the bot's real HTTP server, SQLite in a temporary
folder) whose ``llm:`` points at the fake OpenAI-compatible server on loopback, answering every
request :data:`MODEL_SECONDS` after it arrived (with a careful, schema-valid answer,
:func:`fakes.careful_model.careful_reply`: the plan asked about explained, no refinement, the
summary retold, so the guard accepts each). The model's per-call timeout and deadline are raised
above that (``llm.timeout_seconds: 40``, ``llm.deadline_seconds: 60``): with the defaults (20 s,
30 s) a 30-s model times out and the plan simply stays as posted. After a bad cartservice deploy
is announced, Alertmanager-style messages arrive in the alerts channel one after another (each
resolved before the next, so each opens its own incident): from sending the event to the fake
Slack receiving the plan's ``chat.postMessage`` (target ≤ 2 s), and to its ``chat.update``
carrying the model's explanation. Explanations wait on their own pool of two threads, so the
third and fourth alerts' explanations wait for a free one.

The markdown table is printed and written to ``benchmarks/results-llm-slack.md``; nothing here
asserts a time.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.planning import machine
from benchmarks.slack import alert_event, record_bad_deploy
from fakes import signing as slack
from fakes.careful_model import careful_reply
from fakes.openai import Answer, ChatRequest, FakeOpenAI, reply
from fakes.server import Incoming, Reply
from fakes.world import BotWorld

MODEL_SECONDS = 30.0
ALERTS = 4
TARGET_POST_S = 2.0
POST_TIMEOUT_S = 10.0
LANDING_TIMEOUT_S = 3 * MODEL_SECONDS
EXPLAINED = "Explained by the model"
RESULTS = Path(__file__).with_name("results-llm-slack.md")


class SlowModel(FakeOpenAI):
    """The fake OpenAI server, answering each chat request ``seconds`` after it arrived (what
    it answers is chosen then: the benchmark scripts it once the plan is known)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self._stopping = threading.Event()

    def _respond(self, request: Incoming) -> Reply:
        if request.path.endswith("/chat/completions"):
            self._stopping.wait(self.seconds)
        return super()._respond(request)

    def stop(self) -> None:
        self._stopping.set()
        super().stop()


def run(alerts: int = ALERTS) -> list[dict[str, Any]]:
    """Alerts one at a time; per alert, the seconds to the posted plan and to the explanation."""
    with tempfile.TemporaryDirectory() as folder, SlowModel(MODEL_SECONDS) as model:
        llm = {
            "model": "fake-slow-model",
            "base_url": model.base_url,
            "max_retries": 0,
            "timeout_seconds": 40,
            "deadline_seconds": 60,
        }
        with BotWorld(Path(folder), extra={"llm": llm}) as world:
            model.answer = lambda request: _careful(world, request)
            record_bad_deploy(world)
            rows = [_alert(world, model, number) for number in range(alerts)]
            for row in rows:
                row["explained_s"] = _landed(world, row)
            return rows


def _careful(world: BotWorld, request: ChatRequest) -> Answer | None:
    """A careful answer to each request, chosen when the model's 30 s are up: the plan asked
    about (found by its incident id) explained, no refinement, the summary retold."""
    plans = world.services.store.plans.recent()
    plan = next((p.plan for p in plans if p.plan.incident.id in request.text), None)
    answer = careful_reply(request, plan)
    return reply(answer) if answer is not None else None


def _posts(world: BotWorld) -> list[Any]:
    channel = world.alerts_channel
    return [c for c in world.slack.calls_to("chat.postMessage") if c.args["channel"] == channel]


def _alert(world: BotWorld, model: SlowModel, number: int) -> dict[str, Any]:
    ts = f"{time.time():.6f}"
    sent = datetime.now(UTC)
    world.post(
        slack.event_callback(alert_event(world, ts, number), secret=world.secret)
    ).raise_for_status()

    def posted() -> Any:
        found = [c for c in _posts(world) if c.args.get("thread_ts") == ts]
        return found[0] if found else None

    call = world.wait_for(posted, timeout=POST_TIMEOUT_S)
    stored = world.services.store.plans.latest_live()
    assert stored is not None
    conversations = world.services.store.conversations

    def recorded() -> Any:  # the message's ts, once Slack's answer is recorded (not "pending:")
        message = conversations.plan_message(stored.id)
        return message if message and not message.ts.startswith("pending:") else None

    message = world.wait_for(recorded)
    _resolve(world, number)
    return {
        "alert": number + 1,
        "sent": sent,
        "message_ts": message.ts,
        "posted_s": (call.at - sent).total_seconds(),
    }


def _landed(world: BotWorld, row: dict[str, Any]) -> float | None:
    def update() -> Any:
        found = [
            c
            for c in world.slack.calls_to("chat.update")
            if c.args.get("ts") == row["message_ts"] and EXPLAINED in json.dumps(c.args)
        ]
        return found[0] if found else None

    try:
        call = world.wait_for(update, timeout=LANDING_TIMEOUT_S)
    except AssertionError:
        return None
    return float((call.at - row["sent"]).total_seconds())


def _resolve(world: BotWorld, number: int) -> None:
    """Resolve alert ``number`` and wait until its incident is resolved (untimed)."""
    event = alert_event(world, f"{time.time():.6f}", number, status="RESOLVED")
    world.post(slack.event_callback(event, secret=world.secret)).raise_for_status()

    def resolved() -> bool:
        latest = world.services.store.plans.latest_live()
        incidents = world.services.store.incidents
        incident = incidents.incident(latest.plan.incident.id) if latest else None
        return incident is not None and incident.status == "resolved"

    world.wait_for(resolved, timeout=POST_TIMEOUT_S)


def report(rows: list[dict[str, Any]]) -> str:
    posted = [r["posted_s"] for r in rows]
    landed = [r["explained_s"] for r in rows if r["explained_s"] is not None]
    lines = [
        "# The model never holds up a plan",
        "",
        f"Machine: {machine()}.",
        "",
        f"A whole bot (BotWorld) with the fake OpenAI server answering {MODEL_SECONDS:.0f} s after "
        "each request (llm.timeout_seconds 40, llm.deadline_seconds 60); an Alertmanager message "
        "per alert, one after another, each resolved before the next. Times from sending the "
        "alert's event to the fake Slack receiving the plan (chat.postMessage) and the "
        "explanation (chat.update). Explanations wait on a pool of two threads.",
        "",
        "| alert | plan posted | explanation edited in |",
        "|---|---|---|",
    ]
    for row in rows:
        explained = row["explained_s"]
        landed_text = "never (timed out)" if explained is None else f"{explained:.1f} s"
        lines.append(f"| {row['alert']} | {row['posted_s'] * 1000:.0f} ms | {landed_text} |")
    verdict = "met" if max(posted) <= TARGET_POST_S else "MISSED"
    lines += [
        "",
        f"Plan posted: median {statistics.median(posted) * 1000:.0f} ms, max "
        f"{max(posted) * 1000:.0f} ms (target ≤ {TARGET_POST_S:.0f} s: {verdict}). "
        f"Explanations landed: {len(landed)}/{len(rows)}"
        + (f", {min(landed):.1f}–{max(landed):.1f} s after the alert." if landed else "."),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    text = report(run())
    RESULTS.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
