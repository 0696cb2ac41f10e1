"""Running the bot: ``backout serve`` over HTTP (uvicorn) or Socket Mode, with the scheduler
(:mod:`bot.runtime.scheduler`); SIGTERM and SIGINT shut it down cleanly.

The HTTP server is bounded (:class:`Limits`): at most ``concurrency`` connections are served at
once (uvicorn answers 503 beyond that), a request must arrive whole, head and body, within
``request_seconds`` of its first byte (or of the connection opening) or the connection is
closed, an idle keep-alive connection is closed after ``keep_alive_seconds``, a request head is
at most ``max_header_bytes``, and a shutdown waits at most ``shutdown_seconds`` for requests in
flight. uvicorn has no timeout for the request itself (its only timeout is keep-alive, armed once
a response is sent): :class:`_RequestDeadline` adds it. With ``metrics_port`` set, ``/metrics`` is
served only there, on a second server, and no longer on the public port.

In Socket Mode (``socket_mode=True``) Slack's traffic comes over the WebSocket that bolt's
``SocketModeHandler`` (slack_sdk's built-in client) opens, and no ``/slack/events`` is served;
the same bounded HTTP server still serves ``/healthz``, ``/readyz`` and ``/metrics``
(:func:`bot.slack.web.probes_web`) on ``port``, so the container's health check and the scrape
work in both modes, and ``metrics_port`` moves ``/metrics`` as it does over HTTP. SIGTERM and
SIGINT stop both, then the WebSocket is closed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import ClassVar

import uvicorn
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.runtime.scheduler import start_scheduler
from bot.runtime.services import build_services, slack_app, web_app
from bot.runtime.settings import Settings, SettingsError
from bot.slack.metrics import Metrics
from bot.slack.web import metrics_web, probes_web, without_metrics
from bot.slack.workspace import WorkspaceError

__all__ = ["LIMITS", "Limits", "http_servers", "run_servers", "serve"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one HTTP server allows (see the module docstring)."""

    concurrency: int = 100
    request_seconds: float = 10.0
    keep_alive_seconds: int = 5
    max_header_bytes: int = 16 * 1024
    shutdown_seconds: int = 10


LIMITS = Limits()
"""The limits ``backout serve`` runs with. Slack's requests are a few kilobytes and must be
answered within 3 s, so 10 s for a request to arrive is generous."""


def serve(settings: Settings, *, host: str, port: int, socket_mode: bool) -> int:
    """Run until interrupted. Returns the exit code."""
    if settings.metrics_port is not None and settings.metrics_port == port:
        raise SettingsError(f"metrics_port {port} is the public port; choose another one")
    if socket_mode and settings.slack_app_token is None:
        raise SettingsError("Socket Mode needs SLACK_APP_TOKEN (an xapp- app-level token)")
    services = build_services(settings)
    try:
        app = slack_app(settings, services)
    except WorkspaceError as exc:
        services.close()
        raise SettingsError(str(exc)) from exc
    scheduler = start_scheduler(services)
    # What was built at startup lives as long as the process: keep it out of the collector's
    # full passes, which otherwise pause every thread (and every ack) for ~100 ms.
    gc.freeze()
    try:
        if socket_mode:
            assert settings.slack_app_token is not None  # checked above
            probes = probes_web(
                store=services.store,
                metrics=services.metrics,
                services=len(services.topology.services),
            )
            servers = http_servers(
                probes,
                metrics=services.metrics,
                host=host,
                port=port,
                metrics_port=settings.metrics_port,
            )
            handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
            try:
                handler.connect()  # type: ignore[no-untyped-call]  # bolt leaves it unannotated
            except SlackApiError as exc:  # apps.connections.open refused the token
                error = exc.response.get("error")
                raise SettingsError(
                    f"Socket Mode: apps.connections.open answered {error!r}"
                    " (SLACK_APP_TOKEN must be an app-level xapp- token with connections:write)"
                ) from exc
            try:
                return _serve_http(servers)
            finally:
                handler.close()  # type: ignore[no-untyped-call]
        web = web_app(app, services, settings=settings)
        servers = http_servers(
            web,
            metrics=services.metrics,
            host=host,
            port=port,
            metrics_port=settings.metrics_port,
        )
        return _serve_http(servers)
    finally:
        scheduler.shutdown(wait=False)
        services.close()


def http_servers(
    web: Starlette,
    *,
    metrics: Metrics,
    host: str,
    port: int,
    metrics_port: int | None = None,
    limits: Limits = LIMITS,
    log_level: str = "info",
) -> list[uvicorn.Server]:
    """The public server on ``port`` and, when ``metrics_port`` is set, the internal one serving
    only ``/metrics`` there (the public one then answers 404 for it). Not started."""
    if metrics_port is None:
        return [_server(web, host=host, port=port, limits=limits, log_level=log_level)]
    return [
        _server(without_metrics(web), host=host, port=port, limits=limits, log_level=log_level),
        _server(
            metrics_web(metrics), host=host, port=metrics_port, limits=limits, log_level=log_level
        ),
    ]


def _server(
    web: Starlette, *, host: str, port: int, limits: Limits, log_level: str
) -> uvicorn.Server:
    config = uvicorn.Config(
        web,
        host=host,
        port=port,
        http=_deadline_protocol(limits.request_seconds),
        lifespan="off",
        limit_concurrency=limits.concurrency,
        timeout_keep_alive=limits.keep_alive_seconds,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        timeout_graceful_shutdown=limits.shutdown_seconds,
        # uvicorn's lines go through the process's own logging (one format, one place), not
        # through handlers of uvicorn's own.
        log_config=None,
        log_level=log_level,
        access_log=False,
    )
    return uvicorn.Server(config)


def _serve_http(servers: Sequence[uvicorn.Server]) -> int:
    """Serve until SIGTERM or SIGINT, then return 0 (so the caller's cleanup runs); 1 when the
    servers stopped by themselves (one could not start: uvicorn has logged why).

    uvicorn on the main thread re-raises the signal after its graceful shutdown, which would end
    the process before the scheduler and running plans are stopped; on a thread it does not.
    """
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        stopping.set()
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    thread = threading.Thread(target=run_servers, args=(servers,), name="http")
    thread.start()
    while thread.is_alive():
        thread.join(0.5)
    if stopping.is_set():
        return 0
    log.error("the HTTP server stopped by itself")
    return 1


def run_servers(servers: Sequence[uvicorn.Server]) -> None:
    """Run ``servers`` on one event loop in this thread until all have stopped. One that cannot
    start (uvicorn logs why, then exits) stops the others."""

    async def run(server: uvicorn.Server) -> None:
        try:
            await server.serve()
        except SystemExit:  # uvicorn's way of giving up at start; it has logged the reason
            log.error("the HTTP server on port %d could not start", server.config.port)
        finally:
            for other in servers:
                other.should_exit = True

    async def together() -> None:
        await asyncio.gather(*(run(server) for server in servers))

    asyncio.run(together())


def _deadline_protocol(seconds: float) -> type[H11Protocol]:
    class RequestDeadline(_RequestDeadline):
        request_seconds = seconds

    return RequestDeadline


class _RequestDeadline(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request does not arrive whole (head
    and body) within ``request_seconds`` of its first byte, or of the connection opening.

    Relies on two attributes of uvicorn's protocol: ``cycle`` (the request being read, set once
    its head is parsed) and its ``more_body`` (true until the body's end arrived).
    """

    request_seconds: ClassVar[float] = LIMITS.request_seconds
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        reading_body = before is not None and before.more_body
        super().data_received(data)
        cycle = self.cycle
        if cycle is not None and (cycle is not before or reading_body):
            waiting = cycle.more_body  # a new request, or the body of the one being read
        else:
            waiting = True  # part of a request head
        if not waiting:
            self._disarm()
        elif self._deadline is None:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.request_seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        # Answered already (a response sent before the body was read) and nothing of a next
        # request waiting: the rest of the body is being dropped; close without a word.
        answered = self.cycle is not None and self.cycle.response_complete
        if not answered or self.conn.trailing_data[0]:
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
            log.info(
                "closed the connection of %s: its request did not arrive whole within %g s",
                client,
                self.request_seconds,
            )
        self.transport.close()
