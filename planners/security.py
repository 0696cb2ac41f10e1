"""Whether a change carries a security fix, and what rolling it back would re-open.

The product promise (DESIGN.md, "Safety"): an automated rollback must not quietly undo a security
fix. :mod:`planners.steps` asks :func:`reopens` about every change it rolls back; a non-empty
answer makes the step ``high`` risk (two approvers), adds a warning naming what re-opens, and
keeps the step out of autopilot (``bot.core.policy`` also asks for a security approver when the
policy names ``security_approvers``).

A change carries a security fix when its record says ``security: true``, when one of its labels
is ``security`` (or starts with ``security``), or when its summary or labels cite a CVE or GHSA
id.
"""

from __future__ import annotations

import re

from planners.model import Change

__all__ = ["reopens"]

_IDS = re.compile(
    r"\b(CVE-\d{4}-\d{4,}|GHSA(?:-[0-9a-z]{4}){3})\b",
    re.IGNORECASE,
)


def reopens(change: Change) -> tuple[str, ...]:
    """What rolling ``change`` back would re-open: its CVE and GHSA ids (upper case, in order of
    appearance), ``("security fix",)`` when it is marked but cites none, else ``()``."""
    text = " ".join((change.summary, *change.labels))
    ids = tuple(dict.fromkeys(m.upper() for m in _IDS.findall(text)))
    if ids:
        return ids
    labelled = any(label.lower().startswith("security") for label in change.labels)
    return ("security fix",) if change.security or labelled else ()
