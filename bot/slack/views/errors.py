"""Ephemeral replies for what went wrong with a request: unknown input, refusals, failures.

Pure views like the rest of :mod:`bot.slack.views`: the handlers send these with ``ack()``,
``respond()`` or ``chat.postEphemeral`` so only the person who asked sees them. They return
``{"text", "blocks"}`` only: the caller adds ``response_type="ephemeral"`` where the API wants it
(``ack(response_type="ephemeral", **usage(text))``). Unknown input gets usage help and
never a traceback; an internal error shows a reference the admins can find in the logs. What
the user typed is shown back escaped, so a command cannot be used to post a mention.
(This module holds messages about errors; exceptions of the package are defined where they
are raised, e.g. :class:`bot.slack.views.graph.GraphRenderError`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.slack import messages
from bot.slack.views.escape import code
from bot.slack.views.plan import _context, _message, _section, _short

__all__ = ["internal_error", "not_authorized", "plan_not_found", "unknown_service", "usage"]

_MAX_SUGGESTIONS = 5


def unknown_service(name: str, suggestions: Sequence[str] = ()) -> dict[str, Any]:
    """No service has this name; close names, if any, are offered (never used on their own).

    Args:
        name: what the user typed.
        suggestions: close names from the topology, best first.

    Returns:
        An ephemeral message.
    """
    lines = [messages.UNKNOWN_SERVICE.format(name=code(name, limit=100))]
    if suggestions:
        shown = messages.LIST_SEPARATOR.join(
            code(s, limit=100) for s in suggestions[:_MAX_SUGGESTIONS]
        )
        lines.append(messages.UNKNOWN_SERVICE_SUGGEST.format(suggestions=shown))
    return _ephemeral("\n".join(lines), hint=messages.UNKNOWN_SERVICE_HINT)


def usage(text: str, problem: str = "") -> dict[str, Any]:
    """What ``/rollback`` understands, after the input it could not read (shown escaped).

    Args:
        text: the user's text after the command; empty for ``/rollback help``.
        problem: what was wrong with it (``unknown command 'rollbak'``), if known.

    Returns:
        An ephemeral message.
    """
    if text.strip():
        why = messages.USAGE_PROBLEM.format(problem=_short(problem, 300)) if problem.strip() else ""
        title = messages.USAGE_TITLE.format(text=code(text, limit=300), problem=why)
    else:
        title = messages.USAGE_EMPTY_TITLE
    return _ephemeral(f"{title}\n{messages.USAGE_COMMANDS}")


def not_authorized(reason: str) -> dict[str, Any]:
    """The user may not do this, and why (e.g. "cartservice is owned by @payments").

    Args:
        reason: the authorisation middleware's explanation; escaped here.

    Returns:
        An ephemeral message.
    """
    return _ephemeral(messages.NOT_AUTHORIZED.format(reason=_short(reason, 1000)))


def plan_not_found(plan_id: str) -> dict[str, Any]:
    """No stored plan has this id.

    Args:
        plan_id: the id the user gave.

    Returns:
        An ephemeral message.
    """
    return _ephemeral(messages.PLAN_NOT_FOUND.format(plan_id=code(plan_id, limit=100)))


def internal_error(ref: str) -> dict[str, Any]:
    """Something failed on our side; ``ref`` (a correlation id) finds it in the logs.

    Args:
        ref: the correlation id of the request.

    Returns:
        An ephemeral message.
    """
    return _ephemeral(messages.INTERNAL_ERROR.format(ref=code(ref, limit=100)))


def _ephemeral(text: str, *, hint: str = "") -> dict[str, Any]:
    blocks = [_section(text)]
    context = _context([hint]) if hint else None
    if context is not None:
        blocks.append(context)
    return _message(text, blocks)
