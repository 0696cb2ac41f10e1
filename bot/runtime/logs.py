"""The bot's log lines, redacted: every line (message, arguments and traceback) passes through
the same redaction as what the bot shows in Slack and records in the audit log
(:func:`prompts.redact_secrets`), so an executor's error with a token in a URL, or a DSN with a
password in an exception, is never written in clear."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from prompts import redact_secrets

__all__ = ["RedactingFormatter", "configure_logging"]

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class RedactingFormatter(logging.Formatter):
    """A :class:`logging.Formatter` whose whole output is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_secrets(super().format(record))


def configure_logging(*, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Log to ``stream`` (standard error) at ``level``, every line redacted."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
