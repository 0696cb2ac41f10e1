"""Test doubles the executor tests share: a fake ``helm`` binary and a webhook receiver.

The fake helm is a real executable Python script (so the executor runs it through its real
subprocess runner), keeping its releases in a JSON file next to it. The webhook receiver is a
loopback ``ThreadingHTTPServer`` that records what it received and answers a state URL.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

_HELM_SCRIPT = r"""
import json, os, sys, time

STATE = sys.argv[0] + ".json"


def load():
    with open(STATE) as handle:
        return json.load(handle)


def save(state):
    tmp = STATE + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(state, handle)
    os.replace(tmp, STATE)


def fail(message, code=1):
    print(message, file=sys.stderr)
    sys.exit(code)


def main(argv):
    state = load()
    state["calls"].append(argv)
    faults = state["faults"]
    fault = faults.pop(0) if faults else None
    save(state)
    if fault:
        time.sleep(fault["sleep"])
        fail(fault["stderr"], fault["code"])
    command, rest = argv[0], argv[1:]
    namespace = "default"
    if "--namespace" in rest:
        namespace = rest[rest.index("--namespace") + 1]
    release = state["releases"].get(rest[0]) if rest else None
    if release is None or release["namespace"] != namespace:
        fail("Error: release: not found")
    history = release["history"]
    if command == "history":
        print(json.dumps(history))
        return
    if command == "rollback":
        wanted = int(rest[1])
        target = next((e for e in history if e["revision"] == wanted), None)
        if target is None:
            fail(f"Error: release has no {wanted} version")
        for entry in history:
            if entry["status"] == "deployed":
                entry["status"] = "superseded"
        history.append({
            "revision": max(e["revision"] for e in history) + 1,
            "updated": "2026-11-27T10:20:00Z",
            "status": "deployed",
            "chart": target["chart"],
            "app_version": target["app_version"],
            "description": f"Rollback to {wanted}",
        })
        save(state)
        print("Rollback was a success! Happy Helming!")
        return
    fail(f"Error: unknown command {command!r} for \"helm\"")


main(sys.argv[1:])
"""


class FakeHelm:
    """A ``helm`` executable in ``directory``: ``history -o json`` and ``rollback``."""

    def __init__(self, directory: Path) -> None:
        self.binary = str(directory / "helm")
        Path(self.binary).write_text(f"#!{sys.executable}\n{_HELM_SCRIPT}")
        os.chmod(self.binary, os.stat(self.binary).st_mode | stat.S_IXUSR)
        self._state_path = Path(self.binary + ".json")
        self._write({"releases": {}, "faults": [], "calls": []})

    def add_release(
        self,
        name: str,
        *,
        app_versions: list[str],
        namespace: str = "default",
        statuses: list[str] | None = None,
    ) -> None:
        """A release whose revisions 1..n ran ``app_versions``; the last one is deployed unless
        ``statuses`` gives each revision's status."""
        statuses = statuses or ["superseded"] * (len(app_versions) - 1) + ["deployed"]
        history = [
            {
                "revision": i,
                "updated": f"2026-11-27T10:0{i % 10}:00Z",
                "status": statuses[i - 1],
                "chart": f"{name}-0.{i}.0",
                "app_version": version,
                "description": "Install complete" if i == 1 else "Upgrade complete",
            }
            for i, version in enumerate(app_versions, start=1)
        ]
        state = self.state()
        state["releases"][name] = {"namespace": namespace, "history": history}
        self._write(state)

    def fail_next(self, stderr: str, *, code: int = 1, sleep: float = 0.0) -> None:
        """Make the next invocation print ``stderr`` and exit ``code`` after ``sleep`` seconds."""
        state = self.state()
        state["faults"].append({"stderr": stderr, "code": code, "sleep": sleep})
        self._write(state)

    def state(self) -> dict[str, Any]:
        """The script's whole state: releases, pending faults, the argv of every call."""
        result: dict[str, Any] = json.loads(self._state_path.read_text())
        return result

    def deployed(self, name: str) -> dict[str, Any]:
        """The release's history entry with status ``deployed``."""
        history = self.state()["releases"][name]["history"]
        return next(e for e in reversed(history) if e["status"] == "deployed")

    def calls(self) -> list[list[str]]:
        """The argv (without the binary) of every invocation so far."""
        return list(self.state()["calls"])

    def _write(self, state: dict[str, Any]) -> None:
        self._state_path.write_text(json.dumps(state))


class WebhookReceiver:
    """A loopback webhook endpoint: ``POST /hook`` records and answers ``status``;
    ``GET /state?key=K`` answers ``{"at_target": <K was received>}``."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.state_queries: list[dict[str, str]] = []
        self.status = 200
        self._faults: list[tuple[int, float]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _receiver_handler(self))
        self._server.daemon_threads = True

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, status: int, *, delay: float = 0.0) -> None:
        """Answer the next request with ``status`` after ``delay`` seconds, recording nothing."""
        with self._lock:
            self._faults.append((status, delay))

    def keys(self) -> list[str]:
        """The ``Idempotency-Key`` of every POST received."""
        return [headers.get("idempotency-key", "") for headers, _ in self.received]

    def _respond(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, float]:
        with self._lock:
            if self._faults:
                status, delay = self._faults.pop(0)
                return status, {"error": "injected"}, delay
            parts = urlsplit(path)
            if method == "POST" and parts.path == "/hook":
                self.received.append((headers, body))
                return self.status, {"ok": True}, 0.0
            if method == "GET" and parts.path == "/state":
                query = dict(parse_qsl(parts.query))
                self.state_queries.append(query)
                return 200, {"at_target": query.get("key") in self.keys()}, 0.0
            return 404, {"error": "no such path"}, 0.0


def _receiver_handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload, delay = receiver._respond(self.command, self.path, headers, body)
            if delay:
                time.sleep(delay)
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client timed out and hung up

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet."""

    return Handler
