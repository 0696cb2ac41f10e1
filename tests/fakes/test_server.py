"""The loopback base every fake server stands on (:mod:`fakes.server`): what it reads, how it
answers, how it stops, and the fault queue behind every fake's ``fail_next``."""

from __future__ import annotations

import http.client
import re
import threading
import time
from typing import Any

import httpx
import pytest

from fakes.server import Faults, Incoming, LoopbackServer, Reply


class Echo(LoopbackServer):
    """Answers every request with what it read, or fails as told."""

    def __init__(self) -> None:
        super().__init__()
        self.delay = 0.0
        self.seen: list[Incoming] = []

    def _respond(self, request: Incoming) -> Reply:
        self.seen.append(request)
        if request.path == "/boom":
            raise RuntimeError("a bug in the fake")
        body: dict[str, Any] = {"body": request.body, "query": request.query}
        form = {k: v if isinstance(v, str) else v.decode() for k, v in request.form().items()}
        return Reply(200, body | {"form": form}, delay=self.delay)


class Echo11(Echo):
    """The same, keeping connections alive."""

    http11 = True


def test_the_request_is_read_as_json_and_as_raw_bytes() -> None:
    """A JSON body is parsed, the query decoded, the raw bytes kept, header names lower-cased."""
    with Echo() as echo:
        answer = httpx.post(f"{echo.base_url}/x?a=1", json={"k": [1, 2]}, headers={"X-Y": "z"})
    assert answer.json()["body"] == {"k": [1, 2]} and answer.json()["query"] == {"a": "1"}
    assert echo.seen[0].raw == b'{"k":[1,2]}' and echo.seen[0].headers["x-y"] == "z"


def test_form_and_multipart_bodies_are_read_as_fields() -> None:
    """Form-encoded and multipart bodies both give their fields; a file part keeps its bytes."""
    with Echo() as echo:
        form = httpx.post(echo.base_url, data={"channel": "C1", "text": "a b"}).json()["form"]
        parts = httpx.post(echo.base_url, data={"a": "1"}, files={"f": ("x.bin", b"\x01\x02")})
    assert form == {"channel": "C1", "text": "a b"}
    assert parts.json()["form"] == {"a": "1", "f": "\x01\x02"}
    assert echo.seen[1].form()["f"] == b"\x01\x02"


def test_a_bug_in_a_fake_is_answered_500_not_a_dropped_connection() -> None:
    """An exception other than a Reply becomes a 500 naming the fake."""
    with Echo() as echo:
        answer = httpx.get(f"{echo.base_url}/boom")
    assert answer.status_code == 500
    assert "Echo failed on /boom" in answer.json()["error"]


def test_methods_outside_the_allowed_ones_get_501() -> None:
    """A method the fake does not list is refused as the stdlib handler refuses it."""
    with Echo() as echo:
        answer = httpx.request("OPTIONS", echo.base_url)
    assert answer.status_code == 501 and echo.seen == []


def test_http11_keeps_the_connection_alive() -> None:
    """With ``http11`` two requests travel over one connection."""
    with Echo11() as echo:
        connection = http.client.HTTPConnection("127.0.0.1", echo.port, timeout=5)
        try:
            for _ in range(2):
                connection.request("GET", "/")
                response = connection.getresponse()
                response.read()
                assert response.status == 200 and response.version == 11
        finally:
            connection.close()
    assert len(echo.seen) == 2


def test_stop_cuts_a_delayed_answer_short() -> None:
    """Stopping wakes a reply waiting out its delay: the client gets it at once."""
    echo = Echo().start()
    echo.delay = 60.0
    answers: list[int] = []
    url = echo.base_url
    client = threading.Thread(target=lambda: answers.append(httpx.get(url, timeout=30).status_code))
    client.start()
    deadline = time.monotonic() + 5
    while not echo.seen and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    echo.stop()
    client.join(timeout=10)
    assert answers == [200] and time.monotonic() - started < 10
    with pytest.raises(RuntimeError, match="not running"):
        _ = echo.base_url


def test_faults_match_by_method_and_path_and_apply_times_times() -> None:
    """The first matching fault applies ``times`` times, then leaves the queue."""
    faults = Faults()
    faults.add(503, method="POST", path="/api/", times=2)
    faults.add(429, path=re.compile(r"/deployments/cart$"), headers={"Retry-After": "1"})
    assert faults.take("GET", "/api/x") is None
    taken = [faults.take("POST", "/api/x") for _ in range(2)]
    assert [fault.status for fault in taken if fault is not None] == [503, 503]
    assert faults.take("POST", "/api/x") is None
    assert faults.take("GET", "/v1/deployments/cartservice") is None
    fault = faults.take("PATCH", "/v1/deployments/cart")
    assert fault is not None and fault.status == 429 and fault.headers == {"Retry-After": "1"}
    assert faults.take("PATCH", "/v1/deployments/cart") is None


def test_a_fault_that_never_applies_is_refused() -> None:
    """``times`` below 1 is a mistake, not a fault."""
    with pytest.raises(ValueError, match="at least 1"):
        Faults().add(500, times=0)
