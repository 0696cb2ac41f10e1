"""A bot process's job runner for the process tests:
``python -m tests.bot.runtime.jobs_worker URL FOLDER LEASE``.

It prints ``ready``, waits for ``FOLDER/go`` to appear (so racing workers start together), then
ticks a :class:`~bot.runtime.jobs.JobRunner` until no job is queued or running, and exits 0 (1
after a minute). Its handlers leave their trace in ``FOLDER/log``, one line per write with
``O_APPEND`` (a single ``write`` of a short line is atomic), so runs can be counted after a
SIGKILL:

* ``count``: ``ran KEY PID``.
* ``block``: ``start KEY PID``, then waits for ``FOLDER/release`` to appear, then ``done KEY PID``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.runtime.jobs import JobRunner, worker_name
from bot.store import Store


def main(url: str, folder: str, lease: str) -> int:
    here = Path(folder)
    pid = os.getpid()

    def trace(line: str) -> None:
        fd = os.open(here / "log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{line} {pid}\n".encode())
        finally:
            os.close(fd)

    def count(payload: Mapping[str, Any]) -> None:
        trace(f"ran {payload['key']}")
        time.sleep(0.002)  # long enough for the other worker to be claiming meanwhile

    def block(payload: Mapping[str, Any]) -> None:
        trace(f"start {payload['key']}")
        while not (here / "release").exists():
            time.sleep(0.02)
        trace(f"done {payload['key']}")

    store = Store.from_url(url, upgrade=False)
    runner = JobRunner(
        store,
        {"count": count, "block": block},
        worker=worker_name(),
        clock=store.clock,
        lease_seconds=float(lease),
        batch=5,
    )
    print("ready", flush=True)
    while not (here / "go").exists():
        time.sleep(0.01)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ran = runner.tick(limit=5)
        counts = store.jobs.counts()
        if counts["queued"] + counts["running"] == 0:
            print(f"finished {runner.worker}", flush=True)
            return 0
        if ran == 0:
            time.sleep(0.05)
    print("timed out", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
