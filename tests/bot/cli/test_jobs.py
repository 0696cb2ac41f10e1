"""``backout jobs list`` (issue 12 item 1): the due work stored as rows, how many in each status,
and the failed jobs with their last error."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.store import Store

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@pytest.fixture
def jobs_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store with a queued job, a done one and one failed with an error holding an escape."""
    url = f"sqlite:///{tmp_path / 'backout.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BACKOUT_DATABASE_URL", url)
    with Store.from_url(url, clock=lambda: NOW) as store:
        store.jobs.schedule("remind", key="remind:pl-1", due_at=NOW)
        store.jobs.schedule("expire", key="expire:pl-2", due_at=NOW, max_attempts=1)
        store.jobs.schedule("remind", key="remind:pl-3", due_at=datetime(2026, 11, 28, tzinfo=UTC))
        for job in store.jobs.claim_due(worker="w"):
            if job.kind == "remind":
                store.jobs.done(job.id, worker="w")
            else:
                error = "RuntimeError: \x1b[31mboom\x1b[0m (ref 0123abcd)"
                store.jobs.retry(job.id, worker="w", error=error, delay=10)
    return url


def test_jobs_list_counts_every_status_and_shows_each_job(jobs_url, capsys):
    """The counts come first, then one line per job with status, tries, due time, kind, key."""
    assert main(["jobs", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "1 queued, 0 running, 1 done, 1 failed, 0 cancelled"
    rows = [line.split() for line in out[3:] if not line.startswith(" ")]
    assert sorted((r[0], r[1], r[4], r[5]) for r in rows) == [
        ("done", "1/5", "remind", "remind:pl-1"),
        ("failed", "1/1", "expire", "expire:pl-2"),
        ("queued", "0/5", "remind", "remind:pl-3"),
    ]


def test_jobs_list_failed_shows_only_the_failed_with_their_last_error(jobs_url, capsys):
    """``--failed`` lists the failed jobs and their last error, printed as plain text."""
    assert main(["jobs", "list", "--failed"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[3].split()[:2] == ["failed", "1/1"] and lines[3].endswith("expire:pl-2")
    assert lines[4].strip() == "last error: RuntimeError:  [31mboom [0m (ref 0123abcd)"
    assert len(lines) == 5 and "\x1b" not in out


def test_jobs_list_with_no_jobs_says_so(tmp_path, monkeypatch, capsys):
    """An empty store: zero of everything, and a line saying there is nothing to show."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BACKOUT_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["jobs", "list", "--limit", "5"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "0 queued, 0 running, 0 done, 0 failed, 0 cancelled",
        "no jobs to show",
    ]


def test_a_limit_that_is_not_a_positive_number_is_refused(capsys):
    """``--limit 0`` is bad input: argparse names it and exits 2."""
    with pytest.raises(SystemExit) as exited:
        main(["jobs", "list", "--limit", "0"])
    assert exited.value.code == 2
    assert "not a positive whole number: '0'" in capsys.readouterr().err
