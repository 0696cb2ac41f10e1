"""The one loopback HTTP base every fake server is built on: a stdlib ``ThreadingHTTPServer``
on ``127.0.0.1``.

A fake (Slack, Kubernetes, Argo CD, the flag services, the webhook receiver, the metrics app)
subclasses :class:`LoopbackServer` and implements ``_respond``, which takes the parsed
:class:`Incoming` request and returns (or raises) a :class:`Reply`. The base binds port 0 (so
any number of fakes run side by side; bolt's ``MockServerThread`` without its fixed port 8888),
starts and stops the server (also as a context manager), knows ``port`` and ``base_url``, reads
and decodes the request (JSON, form-encoded or multipart bodies, the raw bytes too), answers
methods outside ``methods`` with 501, waits a reply's ``delay`` (cut short by ``stop``) and
writes it, keeps connections alive when ``http11`` is set, turns a bug in a fake into a 500
answer rather than a dropped connection, and logs only at debug level (the tests read what the
fakes record instead). :class:`Faults` is the one fault queue behind every fake's ``fail_next``.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, urlsplit

__all__ = ["JSON", "Fault", "Faults", "Incoming", "LoopbackServer", "PrefixFaults", "Reply"]

log = logging.getLogger(__name__)

JSON = "application/json"
_POLL_SECONDS = 0.01  # stop() waits up to this long for the serving thread to notice


@dataclass(frozen=True)
class Incoming:
    """One request as read: ``target`` is the path and query as sent, ``path`` its (still
    escaped) path, ``headers`` have lower-case names, ``raw`` is the body's bytes, ``body`` its
    parsed JSON (``None`` when empty), or the text when it is not JSON (then ``malformed`` is
    true)."""

    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    malformed: bool
    raw: bytes = b""

    @property
    def content_type(self) -> str:
        """The media type of the body, lower case, without parameters (``""`` if none)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def form(self) -> dict[str, Any]:
        """The fields of a form-encoded or ``multipart/form-data`` body (``{}`` for others).

        A multipart part with a filename keeps its bytes; every other field is text.
        """
        if not self.raw:
            return {}
        if self.content_type == "multipart/form-data":
            return _multipart(self.headers.get("content-type", ""), self.raw)
        if self.content_type == "application/x-www-form-urlencoded":
            return dict(parse_qsl(self.raw.decode(), keep_blank_values=True))
        return {}


class Reply(Exception):
    """An answer: ``body`` goes out as JSON when ``content_type`` is JSON (parameters such as
    ``charset`` allowed), else as text, after ``delay`` seconds. Return it from ``_respond``, or
    raise it to answer early."""

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
    the stdlib handler), set ``http11`` to keep connections alive, and override ``_crashed``
    to shape the 500 a bug in ``_respond`` is answered with.
    """

    methods: ClassVar[frozenset[str]] = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
    http11: ClassVar[bool] = False

    def __init__(self) -> None:
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def _respond(self, request: Incoming) -> Reply:
        """The answer to ``request``; called from the handler threads."""
        raise NotImplementedError

    def _crashed(self, request: Incoming) -> Reply:
        """The answer when ``_respond`` raised something other than a :class:`Reply`."""
        return Reply(500, {"error": f"{type(self).__name__} failed on {request.target}"})

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` in a handler thread, or less if the server stops meanwhile."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def _bind(self, port: int = 0) -> _HTTPServer:
        """Listen on ``127.0.0.1:port`` (0 picks a free port) without serving yet."""
        self._server = _HTTPServer(self, port)
        return self._server

    def start(self, *, port: int = 0) -> Self:
        """Serve in a background thread on ``127.0.0.1:port`` (0 picks a free port).

        Raises:
            RuntimeError: it is already running.
        """
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._stopping.clear()
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
        """Stop serving, cut delayed answers short and release the port; safe to call twice."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        self._stopping.set()
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
        """The loopback port it listens on.

        Raises:
            RuntimeError: it is not running (use it as a context manager or call ``start``).
        """
        if self._server is None:
            name = type(self).__name__
            raise RuntimeError(f"{name} is not running; use it as a context manager or start()")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    disable_nagle_algorithm = True  # headers and body go out as separate small writes

    def _serve(self) -> None:
        owner = self.server.owner
        if self.command not in owner.methods:
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")
            return
        request = self._read()
        try:
            reply = owner._respond(request)
        except Reply as raised:
            reply = raised
        except Exception:  # a bug in the fake must reach the client as an answer, not as a
            # dropped connection that an HTTP client's retry would repeat
            log.exception("%s failed on %s %s", type(owner).__name__, self.command, self.path)
            reply = owner._crashed(request)
        owner._pause(reply.delay)
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
        return Incoming(self.command, self.path, parts.path, query, headers, body, malformed, raw)

    def _write(self, reply: Reply) -> None:
        is_json = reply.content_type.split(";")[0].strip() == JSON
        data = (json.dumps(reply.body) if is_json else str(reply.body)).encode()
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
        log.debug(f"{type(self.server.owner).__name__}: {format}", *args)


class _Handler11(_Handler):
    protocol_version = "HTTP/1.1"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops bursts of connections, and clients stall 1 s

    def __init__(self, owner: LoopbackServer, port: int) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", port), _Handler11 if owner.http11 else _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out has hung up before a delayed answer; that is expected here.
        log.debug(
            "%s: error answering %s", type(self.owner).__name__, client_address, exc_info=True
        )


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    for part in message.walk():
        name = part.get_param("name", header="content-disposition")
        if part.is_multipart() or not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        fields[name] = data if part.get_filename() else data.decode()
    return fields


@dataclass
class Fault:
    """An injected failure, matched by HTTP ``method`` (``None``: any) and ``path`` (``None``:
    any; a string: a prefix of the path; a compiled pattern: searched in it), for the next
    ``times`` matching requests. What it answers is the fake's business: most answer ``status``
    with ``body`` and ``headers`` after ``delay`` seconds."""

    status: int
    method: str | None = None
    path: str | re.Pattern[str] | None = None
    body: Any = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a ``method`` request for ``path``."""
        if self.method not in (None, method):
            return False
        if self.path is None:
            return True
        if isinstance(self.path, str):
            return path.startswith(self.path)
        return self.path.search(path) is not None


class Faults:
    """The queue behind every fake's ``fail_next``: the first queued fault that matches a
    request applies, ``times`` times. Not locked itself: fakes use it under their own lock."""

    def __init__(self) -> None:
        self._queue: list[Fault] = []

    def add(
        self,
        status: int,
        *,
        method: str | None = None,
        path: str | re.Pattern[str] | None = None,
        body: Any = None,
        delay: float = 0.0,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Queue one failure for the next ``times`` matching requests.

        Raises:
            ValueError: ``times`` is below 1.
        """
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times}")
        fault = Fault(status, method, path, body, delay, dict(headers or {}), times)
        self._queue.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        """The first queued fault matching this request; it leaves the queue once used up."""
        for fault in self._queue:
            if fault.matches(method, path):
                fault.times -= 1
                if fault.times == 0:
                    self._queue.remove(fault)
                return fault
        return None


class PrefixFaults:
    """``fail_next`` for a fake that keeps its :class:`Faults` in ``_faults`` under ``_lock``
    and matches a fault's ``path`` as a prefix of the request's path."""

    _faults: Faults
    _lock: threading.Lock

    def fail_next(
        self,
        status: int = 500,
        *,
        method: str | None = None,
        path: str | None = None,
        body: Any = None,
        delay: float = 0.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next matching request with ``status`` (and ``headers``, e.g. a
        ``Retry-After``) after ``delay`` seconds, instead of serving it."""
        with self._lock:
            self._faults.add(
                status, method=method, path=path, body=body, delay=delay, headers=headers
            )
