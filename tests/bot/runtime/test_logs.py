"""The bot's log lines are redacted like everything else it shows or records (issue 11 item 13)."""

from __future__ import annotations

import io
import logging

from bot.runtime.logs import configure_logging

TOKEN = "tok-7f3a9c2e5b1d4f60"


def test_log_lines_and_tracebacks_carry_no_credentials():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        configure_logging(stream=stream)
        log = logging.getLogger("backout.test")
        log.warning("webhook %s answered 500", f"https://hooks.example.com/r?token={TOKEN}")
        try:
            raise RuntimeError(f"cannot connect to postgresql://backout:{TOKEN}@db/backout")
        except RuntimeError:
            log.exception("store unavailable")
    finally:
        root.handlers[:] = saved[1]
        root.setLevel(saved[0])
    written = stream.getvalue()
    assert "answered 500" in written and "store unavailable" in written
    assert "RuntimeError: cannot connect to postgresql://backout:" in written  # the traceback
    assert TOKEN not in written
