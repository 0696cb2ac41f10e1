"""Running the bot: ``backout serve`` over HTTP (uvicorn) or Socket Mode, with the scheduler.

APScheduler (in memory) is only the ticker: every few seconds it sends what the outbox holds and
resumes plans with queued or orphaned steps; hourly it forgets Slack event ids (and request
signatures) older than a day, well past Slack's retries and its five-minute replay window. The
work itself is claimed in the database, so several replicas can tick at once without doing
anything twice.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from datetime import timedelta
from types import FrameType

import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt.adapter.socket_mode import SocketModeHandler
from starlette.applications import Starlette

from bot.runtime.services import Services, build_services
from bot.runtime.settings import Settings, SettingsError
from bot.slack.app import build_app
from bot.slack.web import build_web
from bot.store import StepStatus

__all__ = ["resume_plans", "serve", "start_scheduler"]

log = logging.getLogger(__name__)


def serve(settings: Settings, *, host: str, port: int, socket_mode: bool) -> int:
    """Run until interrupted. Returns the exit code."""
    services = build_services(settings)
    app = build_app(settings, services)
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
            assert settings.slack_signing_secret is not None  # build_app checked it
            secret = settings.slack_signing_secret.get_secret_value()
            _serve_http(build_web(app, services, signing_secret=secret), host=host, port=port)
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


def start_scheduler(services: Services, *, seconds: float = 5.0) -> BackgroundScheduler:
    """Tick the outbox and plan resumption in the background."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        services.notifier.flush_outbox,
        "interval",
        seconds=seconds,
        max_instances=1,
        coalesce=True,
        id="outbox",
    )
    scheduler.add_job(
        resume_plans,
        "interval",
        args=[services],
        seconds=seconds * 6,
        max_instances=1,
        coalesce=True,
        id="resume",
    )
    scheduler.add_job(
        services.conversations.forget_events,
        "interval",
        kwargs={"older_than": timedelta(days=1)},
        hours=1,
        max_instances=1,
        coalesce=True,
        id="forget-events",
    )
    scheduler.start()
    resume_plans(services)
    return scheduler


def resume_plans(services: Services) -> list[str]:
    """Hand plans with queued or running steps to the engine (after a restart, or a crash of
    another replica: running steps are reclaimed once their lease expires)."""
    rows = services.store.steps_in_status([StepStatus.QUEUED, StepStatus.RUNNING], limit=200)
    plan_ids = sorted({row.plan_id for row in rows})
    for plan_id in plan_ids:
        services.backout.runner.submit(services.backout.run_plan, plan_id)
    return plan_ids
