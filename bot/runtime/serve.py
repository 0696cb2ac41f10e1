"""Running the bot: ``backout serve`` over HTTP (uvicorn) or Socket Mode, with the scheduler
(:mod:`bot.runtime.scheduler`); SIGTERM and SIGINT shut it down cleanly."""

from __future__ import annotations

import gc
import logging
import signal
import threading
from types import FrameType

import uvicorn
from slack_bolt.adapter.socket_mode import SocketModeHandler
from starlette.applications import Starlette

from bot.runtime.scheduler import start_scheduler
from bot.runtime.services import build_services, slack_app, web_app
from bot.runtime.settings import Settings, SettingsError

__all__ = ["serve"]

log = logging.getLogger(__name__)


def serve(settings: Settings, *, host: str, port: int, socket_mode: bool) -> int:
    """Run until interrupted. Returns the exit code."""
    services = build_services(settings)
    app = slack_app(settings, services)
    scheduler = start_scheduler(services)
    # What was built at startup lives as long as the process: keep it out of the collector's
    # full passes, which otherwise pause every thread (and every ack) for ~100 ms.
    gc.freeze()
    try:
        if socket_mode:
            if settings.slack_app_token is None:
                raise SettingsError("Socket Mode needs SLACK_APP_TOKEN (an xapp- app-level token)")
            handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
            handler.start()  # type: ignore[no-untyped-call]  # bolt leaves start() unannotated
        else:
            _serve_http(web_app(app, services, settings=settings), host=host, port=port)
    finally:
        scheduler.shutdown(wait=False)
        services.close()
    return 0


def _serve_http(web: Starlette, *, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then return (so the caller's cleanup runs).

    uvicorn on the main thread re-raises the signal after its graceful shutdown, which would end
    the process before the scheduler and running plans are stopped; on a thread it does not.
    """
    server = uvicorn.Server(
        uvicorn.Config(web, host=host, port=port, log_level="info", access_log=False)
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    thread = threading.Thread(target=server.run, name="http")
    thread.start()
    while thread.is_alive():
        thread.join(0.5)
