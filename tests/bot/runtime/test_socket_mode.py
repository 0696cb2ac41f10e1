"""Socket Mode as Slack drives it: the bot's real Bolt app behind bolt's ``SocketModeHandler``
(slack_sdk's built-in WebSocket client), connected through the fake Slack's
``apps.connections.open`` to the loopback Socket Mode server of :mod:`fakes.slack_socket`, which
delivers events, slash commands and clicks in envelopes and records the acknowledgements.

The scenarios run in-process (the same services, Bolt app and handler ``backout serve
--socket-mode`` builds, with simulated executors and a scripted health gate, as
:class:`fakes.world.BotWorld` runs them over HTTP); the last test runs ``backout serve
--socket-mode`` itself, as an operator (and the Docker health check) meets it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.lifecycle import PlanKind
from bot.runtime.scheduler import start_scheduler
from bot.runtime.services import build_services, slack_app
from bot.runtime.settings import Settings
from fakes.slack import FakeSlack
from fakes.slack_socket import FakeSlackSocket
from fakes.world import ALERTS, DEPLOYS, EXAMPLE, ONCALL, ONCALL_2, SECRET, TOKEN, BotWorld
from tests.support.loopback import free_port
from tests.support.paths import ROOT

APP_TOKEN = "xapp-1-A0BACKOUT-socket-test"  # accepted by the fake Slack only
INCIDENT = "C0INCIDENT"
T = TypeVar("T")


class SocketWorld(BotWorld):
    """:class:`BotWorld` with Slack's traffic over Socket Mode instead of signed HTTP requests:
    ``world.socket`` delivers envelopes; ``settle``, ``wait_for``, ``slack``, ``services`` and
    ``executor`` are BotWorld's."""

    def __enter__(self) -> SocketWorld:
        self.socket = FakeSlackSocket().start()
        self.slack.start()
        self.slack.serve_socket_mode(self.socket.url)
        settings = Settings(
            slack_bot_token=TOKEN,
            slack_app_token=APP_TOKEN,
            slack_signing_secret=SECRET,
            slack_api_url=self.slack.api_url,
            database_url=f"sqlite:///{self.workdir / 'backout.db'}",
            mode=self.mode,
            topology=[str(EXAMPLE / "topology.yaml")],
            channels={"alerts": [ALERTS], "deploys": [DEPLOYS]},
            policy={"approvers": ["S0ONCALL"]},
            engine={"lease_seconds": 10, "backoff_seconds": 0.05},
        )
        self.services = build_services(
            settings, clock=self.clock, health=self.health, executors={"kubernetes": self.executor}
        )
        self.services.notifier.graphs = False
        # As bot.runtime.serve builds it in Socket Mode.
        self.handler = SocketModeHandler(slack_app(settings, self.services), APP_TOKEN)
        self.handler.connect()  # type: ignore[no-untyped-call]
        self.scheduler = start_scheduler(self.services, seconds=0.5)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.scheduler.shutdown(wait=True)
        self.handler.close()  # type: ignore[no-untyped-call]
        self.services.close()
        self.slack.stop()
        self.socket.stop()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[SocketWorld]:
    with SocketWorld(tmp_path) as running:
        yield running


def now_ts(offset: float = 0) -> str:
    return f"{time.time() + offset:.6f}"


def plan_posted(world: BotWorld, channel: str) -> dict[str, Any] | None:
    posts = [
        c for c in world.slack.calls_to("chat.postMessage") if c.args.get("channel") == channel
    ]
    plans = [c for c in posts if "plan" in json.dumps(c.args.get("blocks", [])).lower()]
    return plans[0].args if plans else None


def record_bad_deploy(world: SocketWorld) -> None:
    """The deploy message the plan will blame, delivered as an ``events_api`` envelope."""
    event = {
        "type": "message",
        "channel": DEPLOYS,
        "bot_id": "B0CI",
        "username": "ci",
        "ts": now_ts(-600),
        "text": "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>",
    }
    ack = world.socket.wait_for_ack(world.socket.deliver_event(event))
    assert ack.payload is None  # an event's ack carries nothing
    world.wait_for(lambda: world.services.store.incidents.changes_of("cartservice"))


def test_an_alert_event_is_acked_and_gets_a_plan_in_its_thread(world):
    """The first connection got ``hello``; an Alertmanager message delivered as an
    ``events_api`` envelope is acknowledged (envelope id, no payload), and the plan is posted
    as a reply in the alert's thread, as over HTTP."""
    assert world.socket.wait_for_connection(1).ticket.startswith("ticket-")
    record_bad_deploy(world)
    ts = now_ts()
    alert = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0ALERTMGR",
        "channel": ALERTS,
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
    envelope_id = world.socket.deliver_event(alert)
    ack = world.socket.wait_for_ack(envelope_id)
    assert (ack.payload, ack.connection) == (None, 1)
    posted = world.wait_for(lambda: plan_posted(world, ALERTS))
    assert posted["thread_ts"] == ts
    world.settle()
    assert [p.kind for p in world.services.store.plans.recent()].count(PlanKind.LIVE) == 1
    assert world.socket.errors == []


def test_a_slash_command_is_answered_in_its_ack_and_approvals_run_the_step(world):
    """``/rollback plan cartservice`` as a ``slash_commands`` envelope: the ack carries the
    ephemeral answer as its payload; the plan is posted; two Approve clicks (``interactive``
    envelopes; cartservice is critical) are each acknowledged, and the step runs."""
    record_bad_deploy(world)
    ack = world.socket.wait_for_ack(
        world.socket.deliver_command("plan cartservice", user=ONCALL, channel=INCIDENT)
    )
    assert ack.payload is not None
    assert "cartservice" in json.dumps(ack.payload)
    world.wait_for(lambda: plan_posted(world, INCIDENT))
    plan = next(p for p in world.services.store.plans.recent() if p.kind == PlanKind.LIVE)
    message = world.wait_for(
        lambda: (
            (m := world.services.store.conversations.plan_message(plan.id))
            and not m.ts.startswith("pending:")
            and m
        )
    )
    for user in (ONCALL, ONCALL_2):
        click = world.socket.deliver_click(
            "backout_approve_stage",
            f"{plan.id}:partial",
            user=user,
            channel=INCIDENT,
            message_ts=message.ts,
        )
        world.socket.wait_for_ack(click)
    world.wait_for(lambda: world.executor.executed, timeout=15)
    world.wait_for(
        lambda: world.services.store.plans.get(plan.id).status in ("done", "waiting"), timeout=15
    )
    assert world.executor.executed.count(f"{plan.id}/s1") == 1
    assert world.executor.version("cartservice") == "v1.4.2"
    assert len(world.socket.acks) == len(world.socket.envelopes) == 4
    assert world.socket.errors == []


def test_a_disconnect_makes_the_client_reconnect_and_keep_working(world):
    """Slack's ``disconnect`` (``refresh_requested``): the client asks
    ``apps.connections.open`` for a new URL, connects to it, drops the old connection, and the
    next envelope is delivered and acknowledged on the new one."""
    first = world.socket.wait_for_connection(1)
    assert world.socket.disconnect() == 1
    second = world.socket.wait_for_connection(2)
    world.socket.wait_for_close(1)
    assert second.ticket != first.ticket
    assert len(world.slack.calls_to("apps.connections.open")) == 2
    assert all(c.token == APP_TOKEN for c in world.slack.calls_to("apps.connections.open"))
    envelope_id = world.socket.deliver_command("plan cartservce", user=ONCALL, channel=INCIDENT)
    ack = world.socket.wait_for_ack(envelope_id)
    assert ack.connection == 2
    assert "cartservice" in json.dumps(ack.payload)  # the close match for the typo
    assert world.socket.errors == []


def serve_env(tmp_path: Path, fake: FakeSlack, *, app_token: str) -> dict[str, str]:
    """The environment of ``backout serve`` against ``fake`` (as in test_serve.py), with a
    backout.yaml naming the catalog's executor."""
    (tmp_path / "backout.yaml").write_text(
        'executors:\n  kubernetes: {api_url: "http://127.0.0.1:9", token: serve-test}\n'
        "prometheus_url: http://127.0.0.1:9\n"
    )
    return {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-serve-test",
        "SLACK_APP_TOKEN": app_token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "BACKOUT_DATABASE_URL": f"sqlite:///{tmp_path / 'backout.db'}",
        "BACKOUT_TOPOLOGY": f'["{ROOT / "fakes" / "onlineboutique" / "topology.yaml"}"]',
        "BACKOUT_CONFIG": str(tmp_path / "backout.yaml"),
    }


def probe(url: str) -> httpx.Response | None:
    """``GET url``, or None while nothing answers there."""
    try:
        return httpx.get(url, timeout=1)
    except httpx.TransportError:
        return None


def running(proc: subprocess.Popen[str], condition: Callable[[], T | None], *, timeout: float) -> T:
    """Poll ``condition`` while ``proc`` runs; fails at once (with its output) if it ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := condition()) is not None:
            return value
        if proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"backout serve exited {proc.returncode}: {output[-2000:]}")
        time.sleep(0.05)
    raise AssertionError(f"backout serve --socket-mode: condition not met within {timeout} s")


def test_serve_in_socket_mode_serves_the_probes_and_acks_over_the_socket(tmp_path):
    """``backout serve --socket-mode``: no Request URL, yet ``/healthz``, ``/readyz`` and
    ``/metrics`` answer on ``--port`` (the Docker health check), envelopes are acknowledged over
    the WebSocket, and SIGTERM ends it with 0 after closing the connection."""
    exe = shutil.which("backout", path=str(Path(sys.executable).parent))
    assert exe, "backout is not installed next to this Python; run `make install`"
    port = free_port()
    with FakeSlack() as fake, FakeSlackSocket() as socket_mode:
        fake.serve_socket_mode(socket_mode.url)
        env = serve_env(tmp_path, fake, app_token=APP_TOKEN)
        proc = subprocess.Popen(
            [exe, "serve", "--socket-mode", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            health = running(proc, lambda: probe(f"{url}/healthz"), timeout=30)
            assert (health.status_code, health.text) == (200, "ok")
            running(proc, lambda: socket_mode.connections or None, timeout=30)
            assert httpx.get(f"{url}/readyz", timeout=5).json()["ready"] is True
            envelope_id = socket_mode.deliver_command("plan cartservce", user="U0X", channel="C0X")
            ack = socket_mode.wait_for_ack(envelope_id, timeout=10)
            assert "cartservice" in json.dumps(ack.payload)
            assert "backout_outbox_pending" in httpx.get(f"{url}/metrics", timeout=5).text
            # Slack's requests come over the WebSocket only.
            assert httpx.post(f"{url}/slack/events", content=b"{}", timeout=5).status_code == 404
        finally:
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=30)
            print(output)  # shown when the test fails
        assert proc.returncode == 0, output[-2000:]
        socket_mode.wait_for_close(1)
        assert socket_mode.errors == []


def test_serve_in_socket_mode_refuses_a_token_slack_refuses(tmp_path):
    """A bot token where the app-level token belongs: ``apps.connections.open`` answers
    ``not_allowed_token_type`` and the start stops with one line saying so (exit 2), no
    traceback."""
    exe = shutil.which("backout", path=str(Path(sys.executable).parent))
    assert exe, "backout is not installed next to this Python; run `make install`"
    with FakeSlack() as fake:
        env = serve_env(tmp_path, fake, app_token="xoxb-serve-test")
        done = subprocess.run(
            [exe, "serve", "--socket-mode", "--port", str(free_port())],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "not_allowed_token_type" in done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr
