"""``backout jobs list``: the due work stored as rows (:mod:`bot.store.jobs`), for an operator to
see what is queued, what runs where, and what failed after its last attempt and why.

    backout jobs list              how many in each status, the 50 most recently changed jobs
    backout jobs list --failed     only the failed ones, with their last error
    backout jobs list --limit 200  more of them

The store is the configured one (``BACKOUT_DATABASE_URL``). Exit codes: 0 done, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from bot.runtime.settings import load_settings

if TYPE_CHECKING:
    from bot.store import Job

__all__ = ["add_parser", "render_jobs"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``jobs`` (with ``list``) to the command line's sub-commands."""
    jobs = commands.add_parser("jobs", help="due work stored as rows (reminders, expiries, …)")
    jobs_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    listing = jobs_commands.add_parser("list", help="the most recently changed jobs")
    listing.add_argument("--failed", action="store_true", help="only the failed jobs")
    listing.add_argument("--limit", type=_positive, default=50, help="how many (default 50)")
    listing.set_defaults(run=_list)


def _list(args: argparse.Namespace) -> int:
    from bot.store import JobStatus, Store  # the database stack loads only when needed

    settings = load_settings()
    url = settings.database_url.get_secret_value()
    with Store.from_url(url, upgrade=settings.auto_upgrade) as store:
        status = JobStatus.FAILED if args.failed else None
        jobs = store.jobs.listing(status, limit=args.limit)
        counts = store.jobs.counts()
    sys.stdout.write(render_jobs(jobs, counts=counts))
    return 0


def render_jobs(jobs: Sequence[Job], *, counts: Mapping[str, int]) -> str:
    """The count of each status, then one line per job (and its last error, if any)."""
    lines = [", ".join(f"{count} {status}" for status, count in counts.items())]
    if not jobs:
        return "\n".join([*lines, "no jobs to show"]) + "\n"
    lines += ["", f"{'STATUS':10}{'TRIES':>6}  {'DUE (UTC)':17} {'KIND':20} KEY"]
    for job in jobs:
        due = job.due_at.strftime("%Y-%m-%d %H:%M")
        tries = f"{job.attempts}/{job.max_attempts}"
        kind = _clean(job.kind)[:19]
        lines.append(f"{job.status.value:10}{tries:>6}  {due:17} {kind:20} {_clean(job.key)}")
        if job.status.value == "running" and job.claimed_by:
            lines.append(f"{'':18}held by {_clean(job.claimed_by)}")
        if job.last_error:
            lines.append(f"{'':18}last error: {_clean(job.last_error)}")
    return "\n".join(lines) + "\n"


def _clean(text: str) -> str:
    """One printable line: control characters (escape sequences, newlines) become spaces."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {value!r}")
    return number
