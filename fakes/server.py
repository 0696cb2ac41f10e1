"""The loopback HTTP plumbing the fakes share: a stdlib ``ThreadingHTTPServer`` on ``127.0.0.1``.

A fake subclasses :class:`LoopbackServer` and implements ``_respond``, which takes the parsed
:class:`Incoming` request and returns (or raises) a :class:`Reply`. The base class starts and stops
the server (also as a context manager) and knows ``port`` and ``base_url``; the handler reads and
decodes the request, answers methods outside ``methods`` with 501, waits a reply's ``delay`` and
writes it, and logs nothing (the tests read what the fakes record instead).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, urlsplit

__all__ = ["JSON", "Incoming", "LoopbackServer", "Reply"]

JSON = "application/json"
_POLL_SECONDS = 0.01  # stop() waits up to this long for the serving thread to notice


@dataclass(frozen=True)
class Incoming:
    """One request as read: ``target`` is the path and query as sent, ``path`` its (still
    escaped) path, ``headers`` have lower-case names, ``body`` is the parsed JSON (``None`` when
    empty), or the text when it is not JSON (then ``malformed`` is true)."""

    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    malformed: bool


class Reply(Exception):
    """An answer: ``body`` goes out as JSON, or as text when ``content_type`` is not JSON,
    after ``delay`` seconds. Return it from ``_respond``, or raise it to answer early."""

    def __init__(
        self,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str = JSON,
        delay: float = 0.0,
    ) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, dict(headers or {})
        self.content_type, self.delay = content_type, delay


class LoopbackServer:
    """A server on ``127.0.0.1``; use as a context manager (or ``start``/``stop``).

    Subclasses implement ``_respond`` and may narrow ``methods`` (the others get 501, as from
    the stdlib handler) or set ``http11`` to keep connections alive.
    """

    methods: ClassVar[frozenset[str]] = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
    http11: ClassVar[bool] = False

    def __init__(self) -> None:
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _respond(self, request: Incoming) -> Reply:
        """The answer to ``request``; called from the handler threads."""
        raise NotImplementedError

    def _bind(self, port: int = 0) -> _HTTPServer:
        """Listen on ``127.0.0.1:port`` (0 picks a free port) without serving yet."""
        self._server = _HTTPServer(self, port)
        return self._server

    def start(self, *, port: int = 0) -> Self:
        """Serve in a background thread on ``127.0.0.1:port`` (0 picks a free port)."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        server = self._server or self._bind(port)
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None and thread is not None:
            server.shutdown()  # waits for serve_forever, so only once it runs
            thread.join()
        if server is not None:
            server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The loopback port it listens on."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    disable_nagle_algorithm = True  # headers and body go out as separate small writes

    def _serve(self) -> None:
        owner = self.server.owner
        if self.command not in owner.methods:
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")
            return
        try:
            reply = owner._respond(self._read())
        except Reply as raised:
            reply = raised
        if reply.delay:
            time.sleep(reply.delay)
        self._write(reply)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def _read(self) -> Incoming:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body, malformed = (json.loads(raw) if raw else None), False
        except ValueError:
            body, malformed = raw.decode("utf-8", "replace"), True
        parts = urlsplit(self.path)
        headers = {key.lower(): value for key, value in self.headers.items()}
        query = dict(parse_qsl(parts.query))
        return Incoming(self.command, self.path, parts.path, query, headers, body, malformed)

    def _write(self, reply: Reply) -> None:
        text = json.dumps(reply.body) if reply.content_type == JSON else str(reply.body)
        data = text.encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (a timeout test): nobody is listening any more
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


class _Handler11(_Handler):
    protocol_version = "HTTP/1.1"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops bursts of connections, and clients stall 1 s

    def __init__(self, owner: LoopbackServer, port: int) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", port), _Handler11 if owner.http11 else _Handler)


@dataclass
class Fault:
    """An injected failure: answer ``status`` with ``body`` after ``delay`` seconds."""

    status: int
    method: str | None
    path: str | None
    body: Any
    delay: float


class Faults:
    """Queued failures for a fake's ``fail_next``, matched by method and path prefix, first
    queued first. Not locked itself: fakes use it under their own lock."""

    def __init__(self) -> None:
        self._queue: list[Fault] = []

    def add(
        self, status: int, *, method: str | None, path: str | None, body: Any, delay: float
    ) -> None:
        """Queue one failure."""
        self._queue.append(Fault(status, method, path, body, delay))

    def take(self, method: str, path: str) -> Fault | None:
        """The first queued failure matching this request, removed from the queue."""
        for fault in self._queue:
            if fault.method in (None, method) and (
                fault.path is None or path.startswith(fault.path)
            ):
                self._queue.remove(fault)
                return fault
        return None
