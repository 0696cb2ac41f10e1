"""The scheduler: APScheduler (in memory) is only the ticker. Every few seconds it sends what the
outbox holds and resumes plans with queued or orphaned steps; hourly it forgets Slack event ids
(and request signatures) older than a day, well past Slack's retries and its five-minute replay
window. The work itself is claimed in the database, so several replicas can tick at once without
doing anything twice.
"""

from __future__ import annotations

from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from bot.lifecycle import StepStatus
from bot.runtime.services import Services

__all__ = ["resume_plans", "start_scheduler"]


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
        services.store.conversations.forget_events,
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
    rows = services.store.steps.in_status([StepStatus.QUEUED, StepStatus.RUNNING], limit=200)
    plan_ids = sorted({row.plan_id for row in rows})
    for plan_id in plan_ids:
        services.runner.submit(services.use_cases.execution.run_plan, plan_id)
    return plan_ids
