"""The Socket Mode side of the fake Slack: a loopback WebSocket server that the bot's real
``slack_sdk`` Socket Mode client (bolt's ``SocketModeHandler``) connects to, for the tests.

:meth:`FakeSlack.serve_socket_mode` makes the fake Web API's ``apps.connections.open`` hand out
this server's URL (``ws://127.0.0.1:<port>/link/?ticket=…``), as Slack hands out a
``wss://wss-primary.slack.com/link/?ticket=…`` one. What it does follows Slack's guide to
implementing Socket Mode (https://api.slack.com/apis/connections/socket-implement, and
https://api.slack.com/apis/socket-mode):

- it answers the WebSocket opening handshake (RFC 6455 §4.2: ``GET`` with ``Upgrade:
  websocket``, ``Sec-WebSocket-Version: 13`` and a ``Sec-WebSocket-Key``; a connection without
  a ``ticket`` is refused with 400), then sends ``{"type": "hello", "num_connections": …,
  "debug_info": {…}, "connection_info": {"app_id": …}}``;
- it delivers envelopes ``{"envelope_id", "type", "payload", "accepts_response_payload"}``
  (``events_api`` with ``retry_attempt``/``retry_reason``, ``slash_commands``, ``interactive``)
  on the newest open connection. The payloads are the bodies :mod:`fakes.signing` builds for
  HTTP, decoded: the ``event_callback`` JSON, the slash command's form fields, the
  interaction's ``payload`` JSON; Slack sends the same payloads over both transports;
- it records every acknowledgement ``{"envelope_id": …, "payload"?: …}`` the app sends back
  (:attr:`FakeSlackSocket.acks`, :meth:`FakeSlackSocket.wait_for_ack`), and what else arrived;
- :meth:`FakeSlackSocket.disconnect` sends ``{"type": "disconnect", "reason":
  "refresh_requested", "debug_info": {"host": …}}``: the client is expected to open a new
  connection (a new ``apps.connections.open``) and may drop the old one; ``warning`` and
  ``link_disabled`` are the other reasons Slack documents;
- it answers pings with pongs, and a close frame with a close frame (RFC 6455 §5.5).

Frames from the client must be masked (RFC 6455 §5.1); an unmasked one, or a text frame that
is not JSON, is recorded in :attr:`FakeSlackSocket.errors` and closes the connection with 1002,
so a test sees it. Not faked: Slack's own retries of an unacknowledged envelope (a test sees a
missing ack as a :meth:`FakeSlackSocket.wait_for_ack` timeout instead), TLS, fragmented frames
from the server, and message compression. Written on the standard library only: the fakes ship
with the product's dependencies, which hold no WebSocket server.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import logging
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar
from urllib.parse import parse_qsl, urlsplit

from fakes import signing

__all__ = ["Ack", "Envelope", "FakeSlackSocket", "SocketConnection"]

log = logging.getLogger(__name__)

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA
_MAX_HEAD = 16 * 1024
_SECRET = "socket-mode-unsigned"  # noqa: S105 - only to reuse fakes.signing's builders
_HOST = "applink-fake-1"
_T = TypeVar("_T")


@dataclass(frozen=True)
class Envelope:
    """One envelope delivered: ``body`` is exactly what went over the socket."""

    envelope_id: str
    type: str
    body: dict[str, Any]
    connection: int
    at: float


@dataclass(frozen=True)
class Ack:
    """One acknowledgement received: its envelope, the response ``payload`` (None when the ack
    carried none), the connection it came on and when (``time.monotonic()``)."""

    envelope_id: str
    payload: dict[str, Any] | None
    connection: int
    at: float


@dataclass
class SocketConnection:
    """One WebSocket connection the client opened: its number (from 1), the ticket of its URL,
    when it opened and closed (``time.monotonic()``; ``closed`` is None while open)."""

    number: int
    ticket: str
    opened: float
    closed: float | None = None
    _sock: socket.socket | None = field(default=None, repr=False)
    _send_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def open(self) -> bool:
        """Whether it is still open."""
        return self.closed is None


class FakeSlackSocket:
    """A Socket Mode server on ``127.0.0.1``; use as a context manager (or ``start``/``stop``).

    Args:
        app_id: the app id ``hello`` names (``connection_info.app_id``).
    """

    def __init__(self, *, app_id: str = "A0BACKOUT") -> None:
        self.app_id = app_id
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._changed = threading.Condition()
        self._connections: list[SocketConnection] = []
        self._envelopes: list[Envelope] = []
        self._acks: list[Ack] = []
        self._received: list[dict[str, Any]] = []
        self._errors: list[str] = []
        self._numbers = itertools.count(1)
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Self:
        """Listen on a free loopback port and accept connections in a background thread.

        Raises:
            RuntimeError: it is already running.
        """
        if self._listener is not None:
            raise RuntimeError("FakeSlackSocket is already running")
        listener = socket.create_server(("127.0.0.1", 0))
        self._listener, self._stopping = listener, False
        self._spawn(self._accept, f"FakeSlackSocket:{self.port}")
        return self

    def stop(self) -> None:
        """Close every connection and stop listening; safe to call twice."""
        listener, self._listener = self._listener, None
        with self._changed:
            self._stopping = True
            connections = list(self._connections)
        for connection in connections:
            _close_quietly(connection._sock)
        if listener is not None:
            _close_quietly(listener)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The loopback port it listens on.

        Raises:
            RuntimeError: it is not running.
        """
        if self._listener is None:
            raise RuntimeError("FakeSlackSocket is not running; use it as a context manager")
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>``: where ``apps.connections.open`` points (it adds
        ``/link/?ticket=…``)."""
        return f"ws://127.0.0.1:{self.port}"

    # -- what a test does -------------------------------------------------------------------------

    def deliver(
        self,
        type: str,
        payload: Mapping[str, Any],
        *,
        accepts_response_payload: bool = False,
        extra: Mapping[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> str:
        """Send one envelope of ``type`` on the newest open connection (waiting up to
        ``timeout`` for one); returns its ``envelope_id``.

        Raises:
            AssertionError: no connection is open within ``timeout``.
        """
        envelope_id = str(uuid.uuid4())
        body = {
            "envelope_id": envelope_id,
            "type": type,
            "payload": dict(payload),
            "accepts_response_payload": accepts_response_payload,
            **(extra or {}),
        }
        connection = self._newest_open(timeout)
        with self._changed:
            self._envelopes.append(
                Envelope(envelope_id, type, body, connection.number, time.monotonic())
            )
        self._send(connection, _TEXT, json.dumps(body).encode())
        return envelope_id

    def deliver_event(
        self, event: Mapping[str, Any], *, event_id: str | None = None, retry_attempt: int = 0
    ) -> str:
        """An ``events_api`` envelope around the ``event_callback`` that
        :func:`fakes.signing.event_callback` builds for HTTP; returns its ``envelope_id``."""
        request = signing.event_callback(event, secret=_SECRET, event_id=event_id)
        extra = {"retry_attempt": retry_attempt, "retry_reason": "timeout" if retry_attempt else ""}
        return self.deliver("events_api", json.loads(request.body), extra=extra)

    def deliver_command(self, text: str, *, user: str, channel: str) -> str:
        """A ``slash_commands`` envelope: ``/rollback <text>`` typed by ``user`` in ``channel``
        (the form :func:`fakes.signing.slash_command` builds, as a JSON object)."""
        request = signing.slash_command(text, user=user, channel=channel, secret=_SECRET)
        payload = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        return self.deliver("slash_commands", payload, accepts_response_payload=True)

    def deliver_click(
        self, action_id: str, value: str, *, user: str, channel: str, message_ts: str
    ) -> str:
        """An ``interactive`` envelope: ``user`` clicks the button ``action_id`` (``value``) on
        the message at ``message_ts`` (the payload :func:`fakes.signing.block_action` builds)."""
        request = signing.block_action(
            action_id, value, user=user, channel=channel, message_ts=message_ts, secret=_SECRET
        )
        payload = json.loads(dict(parse_qsl(request.body.decode()))["payload"])
        return self.deliver("interactive", payload)

    def disconnect(self, reason: str = "refresh_requested", *, timeout: float = 10.0) -> int:
        """Ask the client on the newest open connection to reconnect; returns that connection's
        number."""
        connection = self._newest_open(timeout)
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": _HOST}}
        self._send(connection, _TEXT, json.dumps(message).encode())
        return connection.number

    @property
    def acks(self) -> list[Ack]:
        """Every acknowledgement received, in arrival order."""
        with self._changed:
            return list(self._acks)

    @property
    def envelopes(self) -> list[Envelope]:
        """Every envelope delivered, in order."""
        with self._changed:
            return list(self._envelopes)

    @property
    def connections(self) -> list[SocketConnection]:
        """Every connection opened, oldest first."""
        with self._changed:
            return list(self._connections)

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every JSON message the client sent that is not an acknowledgement."""
        with self._changed:
            return list(self._received)

    @property
    def errors(self) -> list[str]:
        """What the client got wrong (an unmasked frame, a message that is not JSON, a bad
        handshake)."""
        with self._changed:
            return list(self._errors)

    def wait_for_ack(self, envelope_id: str, *, timeout: float = 5.0) -> Ack:
        """The acknowledgement of ``envelope_id``, once it arrives.

        Raises:
            AssertionError: none arrived within ``timeout``.
        """

        def found() -> Ack | None:
            return next((a for a in self._acks if a.envelope_id == envelope_id), None)

        return self._wait(found, timeout, f"no ack of envelope {envelope_id}")

    def wait_for_connection(self, number: int, *, timeout: float = 10.0) -> SocketConnection:
        """Connection ``number`` (1 is the first), once it has opened and received ``hello``.

        Raises:
            AssertionError: it did not open within ``timeout``.
        """

        def found() -> SocketConnection | None:
            return self._connections[number - 1] if len(self._connections) >= number else None

        return self._wait(found, timeout, f"connection {number} did not open")

    def wait_for_close(self, number: int, *, timeout: float = 10.0) -> SocketConnection:
        """Connection ``number``, once closed (by either side).

        Raises:
            AssertionError: it is not closed within ``timeout``.
        """

        def found() -> SocketConnection | None:
            closed = [c for c in self._connections if c.number == number and not c.open]
            return closed[0] if closed else None

        return self._wait(found, timeout, f"connection {number} did not close")

    # -- the server -------------------------------------------------------------------------------

    def _wait(self, found: Callable[[], _T | None], timeout: float, what: str) -> _T:
        deadline = time.monotonic() + timeout
        with self._changed:
            while (value := found()) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{what} within {timeout} s (errors: {self._errors})")
                self._changed.wait(left)
            return value

    def _newest_open(self, timeout: float) -> SocketConnection:
        def found() -> SocketConnection | None:
            return next((c for c in reversed(self._connections) if c.open), None)

        return self._wait(found, timeout, "no open Socket Mode connection")

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        listener = self._listener
        assert listener is not None
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:  # stop() closed the listener
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._spawn(self._serve, f"FakeSlackSocket:{self.port}:conn", sock)

    def _serve(self, sock: socket.socket) -> None:
        connection: SocketConnection | None = None
        try:
            ticket = self._handshake(sock)
            if ticket is None:
                return
            with self._changed:
                if self._stopping:
                    return
                connection = SocketConnection(
                    next(self._numbers), ticket, time.monotonic(), _sock=sock
                )
                count = 1 + sum(1 for c in self._connections if c.open)
            hello = {
                "type": "hello",
                "num_connections": count,
                "debug_info": {
                    "host": _HOST,
                    "build_number": 1,
                    "approximate_connection_time": 3600,
                },
                "connection_info": {"app_id": self.app_id},
            }
            self._send(connection, _TEXT, json.dumps(hello).encode())
            with self._changed:
                self._connections.append(connection)  # ready: envelopes may go to it now
                self._changed.notify_all()
            self._read_frames(connection, sock)
        except OSError:
            pass  # the client hung up, or stop() closed the socket
        finally:
            _close_quietly(sock)
            with self._changed:
                if connection is not None and connection.closed is None:
                    connection.closed = time.monotonic()
                self._changed.notify_all()

    def _handshake(self, sock: socket.socket) -> str | None:
        """Read the opening handshake and answer it; the URL's ticket, or None if refused."""
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1024)
            if not chunk or len(head) > _MAX_HEAD:
                return None
            head += chunk
        text = head.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        request_line, *lines = text.split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        method, target, *_ = [*request_line.split(" "), "", ""]
        parts = urlsplit(target)
        ticket = dict(parse_qsl(parts.query)).get("ticket", "")
        key = headers.get("sec-websocket-key", "")
        problem = _refusal(method, parts.path, ticket, headers)
        if problem is not None:
            with self._changed:
                self._errors.append(f"handshake refused: {problem}")
                self._changed.notify_all()
            sock.sendall(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            return None
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()  # noqa: S324 - RFC 6455
        sock.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        return ticket

    def _read_frames(self, connection: SocketConnection, sock: socket.socket) -> None:
        while True:
            first, second = _recv_exact(sock, 2)
            opcode, masked, length = first & 0x0F, second & 0x80, second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", _recv_exact(sock, 2))
            elif length == 127:
                (length,) = struct.unpack("!Q", _recv_exact(sock, 8))
            if not masked:
                self._protocol_error(connection, "an unmasked frame from the client")
                return
            mask = _recv_exact(sock, 4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(_recv_exact(sock, length)))
            if opcode == _PING:
                self._send(connection, _PONG, data)
            elif opcode == _CLOSE:
                self._send(connection, _CLOSE, data[:2])
                return
            elif opcode == _TEXT and not self._message(connection, data):
                return
            # pongs, binary and continuation frames are ignored

    def _message(self, connection: SocketConnection, data: bytes) -> bool:
        try:
            message = json.loads(data)
        except ValueError:
            self._protocol_error(connection, f"a text frame that is not JSON: {data[:80]!r}")
            return False
        with self._changed:
            if isinstance(message, dict) and "envelope_id" in message:
                payload = message.get("payload")
                self._acks.append(
                    Ack(message["envelope_id"], payload, connection.number, time.monotonic())
                )
            else:
                self._received.append(message)
            self._changed.notify_all()
        return True

    def _protocol_error(self, connection: SocketConnection, what: str) -> None:
        with self._changed:
            self._errors.append(f"connection {connection.number}: {what}")
            self._changed.notify_all()
        self._send(connection, _CLOSE, struct.pack("!H", 1002))

    def _send(self, connection: SocketConnection, opcode: int, data: bytes) -> None:
        length = len(data)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, length)
        elif length < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, length)
        sock = connection._sock
        if sock is None:
            raise RuntimeError(f"connection {connection.number} has no socket")
        with connection._send_lock:
            sock.sendall(head + data)


def _refusal(method: str, path: str, ticket: str, headers: Mapping[str, str]) -> str | None:
    """Why an opening handshake is refused (RFC 6455 §4.2.1), or None."""
    if method != "GET":
        return "not a GET"
    if path != "/link/":
        return f"path {path!r} is not /link/"
    if not ticket:
        return "no ticket in the URL"
    if headers.get("upgrade", "").lower() != "websocket":
        return "not a WebSocket upgrade"
    if headers.get("sec-websocket-version") != "13":
        return "Sec-WebSocket-Version is not 13"
    if not headers.get("sec-websocket-key"):
        return "no Sec-WebSocket-Key"
    return None


def _recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the client closed the connection")
        data += chunk
    return data


def _close_quietly(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
