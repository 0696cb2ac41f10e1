"""Reading a webhook body as JSON, with a reason a person can act on when it cannot be read.

Part of the webhook pipeline (:mod:`.endpoint`): the raw bytes of an authenticated request become
the decoded JSON, or :class:`Rejected` (answered 400) saying what is wrong: not UTF-8, empty, an
HTML page (a proxy's error page), malformed or truncated JSON (with the route's hint, such as
Argo CD's ``toJson``), or nesting too deep to be a real payload. Handlers raise
:class:`Rejected` too, for a body of the wrong shape for their route.
"""

from __future__ import annotations

import json

__all__ = ["NESTED_TOO_DEEPLY", "Rejected", "decode_json"]

NESTED_TOO_DEEPLY = "JSON nested too deeply to be a webhook payload"


class Rejected(ValueError):
    """A body the route cannot take; the message (answered with 400) says why."""

    def __repr__(self) -> str:
        return f"Rejected({str(self)!r})"


def decode_json(body: bytes, *, sender: str, hint: str = "") -> object:
    """The decoded JSON of a webhook body.

    Args:
        body: the raw request body.
        sender: who posts to this route, for the reasons (``"Alertmanager"``).
        hint: said after the parser's message when the JSON is malformed.

    Raises:
        Rejected: the body is not JSON the route could read; the message says why.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(f"body is not UTF-8 text: {sender} sends JSON") from None
    stripped = text.lstrip()
    if not stripped:
        raise Rejected(f"empty body: expected {sender}'s JSON")
    if stripped.startswith("<"):
        raise Rejected(
            "body is an HTML or XML page, not JSON: is a proxy answering for the sender?"
        )
    try:
        return json.loads(text)
    except RecursionError:
        raise Rejected(NESTED_TOO_DEEPLY) from None
    except ValueError as exc:
        reason = f"malformed JSON (truncated?): {exc}"
        raise Rejected(f"{reason}; {hint}" if hint else reason) from None
