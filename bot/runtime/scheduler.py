"""The scheduler: APScheduler (in memory) is only the ticker. Every few seconds it sends what the
outbox holds, runs the due jobs (:mod:`bot.runtime.jobs`) and resumes plans with queued or
orphaned steps; hourly it prunes, a bounded number per run, Slack event ids (and request
signatures) older than a day, well past Slack's retries and its five-minute replay window,
webhook delivery ids older than two weeks (:data:`bot.store.handled.DELIVERY_RETENTION`),
and outbox rows sent and jobs finished a week ago; every five minutes it logs the audit chain's head
when it moved. The work itself is claimed in the database, so several replicas can tick at once
without doing anything twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from bot.lifecycle import StepStatus
from bot.runtime.services import Services
from bot.store import Store

__all__ = ["AuditHeadPublisher", "prune", "resume_plans", "start_scheduler"]

log = logging.getLogger("backout.audit")


def start_scheduler(services: Services, *, seconds: float = 5.0) -> BackgroundScheduler:
    """Tick the outbox, the due jobs and plan resumption in the background."""
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
        services.jobs.tick,
        "interval",
        seconds=seconds,
        max_instances=1,
        coalesce=True,
        id="jobs",
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
        prune,
        "interval",
        args=[services.store],
        hours=1,
        max_instances=1,
        coalesce=True,
        id="prune",
    )
    scheduler.add_job(
        AuditHeadPublisher(services.store),
        "interval",
        minutes=5,
        max_instances=1,
        coalesce=True,
        id="audit-head",
    )
    scheduler.start()
    resume_plans(services)
    return scheduler


class AuditHeadPublisher:
    """Writes the audit chain's head to the log when it has moved: a record outside the database
    that ``backout audit verify --head SEQ:HASH`` checks the chain against, so a rewrite of the
    chain by someone who can write the database is caught (ship the bot's log elsewhere)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._last: tuple[int, str] | None = None

    def __call__(self) -> tuple[int, str] | None:
        """Log the head if it moved; returns what was logged."""
        head = self._store.audit.head()
        if head == self._last or head[0] == 0:
            return None
        self._last = head
        log.info("audit head seq=%d hash=%s (backout audit verify --head %d:%s)", *head, *head)
        return head


def prune(store: Store, *, limit: int = 5000) -> dict[str, int]:
    """Delete what no longer serves, each kind bounded per run: Slack event ids older than a
    day (past Slack's retries and its five-minute replay window; webhook delivery ids are kept
    longer, see :meth:`bot.store.Handled.forget_events`), outbox rows sent and jobs done
    (or cancelled) more than a week ago. Returns how many of each were deleted."""
    return {
        "events": store.handled.forget_events(older_than=timedelta(days=1), limit=limit),
        "outbox": store.conversations.prune_outbox(older_than=timedelta(days=7), limit=limit),
        "jobs": store.jobs.prune(older_than=timedelta(days=7), limit=limit),
        "llm_cache": store.llm_cache.prune(limit=limit),  # expired model answers
    }


def resume_plans(services: Services) -> list[str]:
    """Hand plans with queued or running steps to the engine (after a restart, or a crash of
    another replica: running steps are reclaimed once their lease expires)."""
    rows = services.store.steps.in_status([StepStatus.QUEUED, StepStatus.RUNNING], limit=200)
    plan_ids = sorted({row.plan_id for row in rows})
    for plan_id in plan_ids:
        services.runner.submit(services.use_cases.execution.run_plan, plan_id)
    return plan_ids
