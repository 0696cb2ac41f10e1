"""The HTTP server's limits, on real uvicorn servers on loopback driven by raw sockets: a request
that does not arrive whole is cut off, connections beyond the cap get 503, a client that goes
away mid-body is one log line and no 500, and ``/metrics`` moves to an internal port when one
is configured."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from slack_bolt import App
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.runtime.serve import Limits, http_servers, run_servers
from bot.slack.metrics import Metrics
from bot.slack.web import build_web, read_body
from bot.store import Store
from tests.support.loopback import free_port

SECRET = "limits-test-signing-secret"
PATIENT = 10.0
"""How long a test waits for something that should happen within a fraction of it."""


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A SQLite store of its own (the suite's ``store`` runs on every backend; not needed here)."""
    opened = Store.from_url(f"sqlite:///{tmp_path / 'backout.db'}")
    yield opened
    opened.close()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def web(sqlite_store: Store, metrics: Metrics) -> Starlette:
    """The bot's web app around a Bolt app; nothing here reaches Bolt."""
    app = App(signing_secret=SECRET, token="xoxb-limits-test", token_verification_enabled=False)
    return build_web(app, store=sqlite_store, metrics=metrics, services=0, signing_secret=SECRET)


@contextmanager
def serving(servers: Sequence[uvicorn.Server]) -> Iterator[None]:
    thread = threading.Thread(target=run_servers, args=(servers,), daemon=True)
    thread.start()
    eventually(lambda: all(s.started for s in servers) or not thread.is_alive())
    assert thread.is_alive(), "the servers did not start"
    try:
        yield
    finally:
        for server in servers:
            server.should_exit = True
        thread.join(PATIENT)


def eventually(condition: Callable[[], Any], timeout: float = PATIENT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout} s")


def response(sock: socket.socket) -> bytes:
    """One whole HTTP response read from ``sock`` (head, then ``Content-Length`` bytes)."""
    sock.settimeout(PATIENT)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` within :data:`PATIENT` (reads until EOF)."""
    sock.settimeout(PATIENT)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def counted(metrics_text: str, status: str) -> float:
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("backout_slack_requests_total{") and f'status="{status}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def page_counting(metrics: Metrics, status: str) -> str | None:
    """The metrics page once it counts a request answered ``status``."""
    page = metrics.render().decode()
    return page if counted(page, status) else None


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert "Traceback" not in caplog.text
    assert "Exception in ASGI application" not in caplog.text


def test_a_half_sent_request_head_is_closed(web, metrics, caplog):
    """A connection that sends part of a request head and stops is closed by the server once the
    request deadline passes, with one log line."""
    caplog.set_level(logging.INFO)
    port = free_port()
    servers = http_servers(
        web, metrics=metrics, host="127.0.0.1", port=port, limits=Limits(request_seconds=0.3)
    )
    with serving(servers), socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: backout\r\nContent-Le")
        assert closed_by_server(sock)
    assert "its request did not arrive whole within 0.3 s" in caplog.text
    no_tracebacks(caplog)


def test_a_half_sent_head_after_a_kept_alive_request_is_closed(web, metrics, caplog):
    """On a kept-alive connection, a whole request is answered and does not start the clock;
    half of the next request's head does."""
    caplog.set_level(logging.INFO)
    port = free_port()
    limits = Limits(request_seconds=0.3, keep_alive_seconds=30)
    servers = http_servers(web, metrics=metrics, host="127.0.0.1", port=port, limits=limits)
    with serving(servers), socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: backout\r\n\r\n")
        assert response(sock).startswith(b"HTTP/1.1 200")
        time.sleep(0.6)  # twice the deadline, idle: still open (keep-alive is 30 s)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: backout\r\n\r\n")
        assert response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        assert closed_by_server(sock)
    assert caplog.text.count("did not arrive whole") == 1


def test_a_silent_connection_is_closed(web, metrics):
    """A connection that never sends a byte is closed too."""
    port = free_port()
    servers = http_servers(
        web, metrics=metrics, host="127.0.0.1", port=port, limits=Limits(request_seconds=0.3)
    )
    with serving(servers), socket.create_connection(("127.0.0.1", port)) as sock:
        assert closed_by_server(sock)


def test_a_half_sent_body_is_closed_and_counted_as_the_client_gone(web, metrics, caplog):
    """Headers promising 100 bytes, then 10: the connection is closed at the deadline, the
    handler logs one line, and the request counts as 499, not 500."""
    caplog.set_level(logging.INFO)
    port = free_port()
    servers = http_servers(
        web, metrics=metrics, host="127.0.0.1", port=port, limits=Limits(request_seconds=0.3)
    )
    with serving(servers):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"POST /slack/events HTTP/1.1\r\nHost: backout\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 100\r\n\r\ncommand=%2F"
            )
            assert closed_by_server(sock)
        page = eventually(lambda: page_counting(metrics, "499"))
    assert counted(page, "500") == 0
    assert len([r for r in caplog.records if "went away" in r.getMessage()]) == 1
    no_tracebacks(caplog)


def test_a_client_that_disconnects_mid_body_is_one_line_and_no_500(web, metrics, caplog):
    """The client closes its connection halfway through the body: one log line, no traceback,
    counted as 499."""
    caplog.set_level(logging.INFO)
    port = free_port()
    servers = http_servers(web, metrics=metrics, host="127.0.0.1", port=port)
    with serving(servers):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"POST /slack/events HTTP/1.1\r\nHost: backout\r\n"
                b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
                + b'{"type": "event_callback", "event": {'
                * 20
            )
            time.sleep(0.2)  # the handler is reading the body
        page = eventually(lambda: page_counting(metrics, "499"))
        healthy = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert healthy.text == "ok"
    assert counted(page, "500") == 0
    [line] = [r.getMessage() for r in caplog.records if "went away" in r.getMessage()]
    assert "/slack/events" in line
    no_tracebacks(caplog)


def test_connections_beyond_the_cap_get_503(web, metrics):
    """With ``concurrency`` connections held open, one more request is answered 503; once they
    are gone, it is served again."""
    port = free_port()
    servers = http_servers(
        web,
        metrics=metrics,
        host="127.0.0.1",
        port=port,
        limits=Limits(concurrency=3, request_seconds=30),
    )
    url = f"http://127.0.0.1:{port}/healthz"
    with serving(servers):
        assert httpx.get(url, timeout=5).status_code == 200
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        try:
            for sock in held:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: backout\r\n")  # and no more
            eventually(lambda: httpx.get(url, timeout=5).status_code == 503)
        finally:
            for sock in held:
                sock.close()
        eventually(lambda: httpx.get(url, timeout=5).status_code == 200)


def test_metrics_move_to_the_internal_port(web, metrics):
    """With a metrics port, ``/metrics`` is served there and nowhere else, and the internal port
    serves nothing else."""
    public, internal = free_port(), free_port()
    servers = http_servers(
        web, metrics=metrics, host="127.0.0.1", port=public, metrics_port=internal
    )
    with serving(servers), httpx.Client(timeout=5) as http:
        assert http.get(f"http://127.0.0.1:{public}/metrics").status_code == 404
        assert http.get(f"http://127.0.0.1:{public}/healthz").text == "ok"
        page = http.get(f"http://127.0.0.1:{internal}/metrics")
        assert page.status_code == 200
        assert "backout_outbox_pending" in page.text
        assert http.get(f"http://127.0.0.1:{internal}/healthz").status_code == 404
        assert http.post(f"http://127.0.0.1:{internal}/slack/events").status_code == 404


def test_metrics_are_public_without_a_metrics_port(web, metrics):
    """Without one, ``/metrics`` stays where it was."""
    port = free_port()
    servers = http_servers(web, metrics=metrics, host="127.0.0.1", port=port)
    assert len(servers) == 1
    with serving(servers):
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200


def test_a_server_that_cannot_start_stops_the_other(web, metrics, caplog):
    """The metrics port is taken: that server logs why and gives up, and the public one stops
    too instead of serving on half-configured."""
    caplog.set_level(logging.INFO)
    public = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        internal = taken.getsockname()[1]
        servers = http_servers(
            web, metrics=metrics, host="127.0.0.1", port=public, metrics_port=internal
        )
        thread = threading.Thread(target=run_servers, args=(servers,), daemon=True)
        thread.start()
        thread.join(PATIENT)
    assert not thread.is_alive()
    assert f"the HTTP server on port {internal} could not start" in caplog.text


def test_a_route_beside_slacks_that_loses_its_client_is_one_line_too(sqlite_store, metrics, caplog):
    """Any other route reading the body (as the webhooks do) gets the same treatment from the
    app's handler, also when ``/metrics`` has moved to its own port."""
    caplog.set_level(logging.INFO)

    async def hook(request: Request) -> Response:
        await read_body(request)
        return PlainTextResponse("read")

    app = App(signing_secret=SECRET, token="xoxb-limits-test", token_verification_enabled=False)
    web = build_web(
        app,
        store=sqlite_store,
        metrics=metrics,
        services=0,
        signing_secret=SECRET,
        extra_routes=[Route("/webhooks/test", hook, methods=["POST"])],
    )
    port = free_port()
    servers = http_servers(
        web, metrics=metrics, host="127.0.0.1", port=port, metrics_port=free_port()
    )
    with serving(servers):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"POST /webhooks/test HTTP/1.1\r\nHost: b\r\nContent-Length: 900\r\n\r\n{")
            time.sleep(0.2)
        eventually(lambda: any("went away" in r.getMessage() for r in caplog.records))
    [line] = [r.getMessage() for r in caplog.records if "went away" in r.getMessage()]
    assert "/webhooks/test" in line
    no_tracebacks(caplog)
