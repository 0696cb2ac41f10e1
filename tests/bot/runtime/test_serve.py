"""``backout serve`` as an operator runs it: a real process configured by environment variables,
answering signed Slack requests over HTTP, and stopping cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fakes import FakeSlack
from fakes import signing as slack
from tests.support.loopback import free_port
from tests.support.paths import ROOT

SECRET = "serve-test-signing-secret"
CONFIG = """\
executors:
  kubernetes: {api_url: "http://127.0.0.1:9", token: serve-test}
prometheus_url: http://127.0.0.1:9
"""
TOPOLOGY = ROOT / "fakes" / "onlineboutique" / "topology.yaml"


def serve_once(tmp_path: Path, config: str) -> subprocess.CompletedProcess[str]:
    """Run ``backout serve`` with ``config`` as its backout.yaml until it exits."""
    exe = shutil.which("backout", path=str(Path(sys.executable).parent))
    assert exe, "backout is not installed next to this Python; run `make install`"
    (tmp_path / "backout.yaml").write_text(config)
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-serve-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": "http://127.0.0.1:9",
        "BACKOUT_DATABASE_URL": f"sqlite:///{tmp_path / 'backout.db'}",
        "BACKOUT_TOPOLOGY": f'["{TOPOLOGY}"]',
        "BACKOUT_CONFIG": str(tmp_path / "backout.yaml"),
    }
    return subprocess.run(
        [exe, "serve", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_refuses_to_start_without_the_catalogs_executor(tmp_path):
    """A catalog naming an executor the settings lack stops the start with one line naming it."""
    done = serve_once(tmp_path, "prometheus_url: http://127.0.0.1:9\n")
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("backout: cannot start: kubernetes (")
    assert "add executors.kubernetes to backout.yaml" in last


def test_serve_refuses_a_channel_name_where_an_id_belongs(tmp_path):
    """``#alerts`` instead of a channel id would match no event; the start stops with one line
    naming it, before anything runs."""
    done = serve_once(tmp_path, 'channels:\n  alerts: ["C0ALERTS", "#alerts"]\n')
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "channels.alerts" in lines[0]
    assert "'#alerts' is not a Slack channel id" in lines[0]
    assert "Traceback" not in done.stderr


def test_serve_answers_signed_requests_and_stops_on_sigterm(tmp_path):
    """The bot starts from env settings, serves /healthz and a slash command, serves /metrics
    only on the internal port ``BACKOUT_METRICS_PORT`` names, and exits on SIGTERM."""
    exe = shutil.which("backout", path=str(Path(sys.executable).parent))
    assert exe, "backout is not installed next to this Python; run `make install`"
    port, metrics_port = free_port(), free_port()
    with FakeSlack() as fake:
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-serve-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
            "BACKOUT_DATABASE_URL": f"sqlite:///{tmp_path / 'backout.db'}",
            "BACKOUT_TOPOLOGY": f'["{ROOT / "fakes" / "onlineboutique" / "topology.yaml"}"]',
            "BACKOUT_CONFIG": str(tmp_path / "absent.yaml"),
            "BACKOUT_METRICS_PORT": str(metrics_port),
        }
        (tmp_path / "absent.yaml").write_text(CONFIG)
        proc = subprocess.Popen(
            [exe, "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).text == "ok":
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            else:
                raise AssertionError("backout serve did not come up")
            request = slack.slash_command(
                "plan cartservce", user="U0X", channel="C0X", secret=SECRET
            )
            response = httpx.post(
                f"{url}/slack/events", content=request.body, headers=request.headers, timeout=5
            )
            assert response.status_code == 200
            assert "cartservice" in response.text  # the close match for the typo
            assert httpx.get(f"{url}/readyz", timeout=5).json()["ready"] is True
            assert httpx.get(f"{url}/metrics", timeout=5).status_code == 404
            internal = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
            assert 'kind="command",status="200"' in internal.text
        finally:
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, output[-2000:]
        assert fake.calls_to("auth.test")


def test_serve_exits_1_when_its_port_is_taken(tmp_path):
    """The HTTP server cannot start (the port is in use): uvicorn says why and ``backout serve``
    ends with exit code 1, not 0 as if it had been asked to stop."""
    exe = shutil.which("backout", path=str(Path(sys.executable).parent))
    assert exe, "backout is not installed next to this Python; run `make install`"
    (tmp_path / "backout.yaml").write_text(CONFIG)
    with FakeSlack() as fake, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-serve-test",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
            "BACKOUT_DATABASE_URL": f"sqlite:///{tmp_path / 'backout.db'}",
            "BACKOUT_TOPOLOGY": f'["{TOPOLOGY}"]',
            "BACKOUT_CONFIG": str(tmp_path / "backout.yaml"),
        }
        done = subprocess.run(
            [exe, "serve", "--port", str(taken.getsockname()[1])],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "could not start" in done.stderr
