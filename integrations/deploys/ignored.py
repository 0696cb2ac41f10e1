"""The answer of a vendor change parser to an event that is well formed but records no change.

Part of the change sources (:mod:`integrations.deploys`): a GitHub deployment still queued, an
Argo CD sync still running. Not an error (the sender did nothing wrong), so not an exception: the
parser returns it and the webhook answers ``202`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Ignored"]


@dataclass(frozen=True)
class Ignored:
    """An event that records no change; ``reason`` says why, in one sentence for the sender."""

    reason: str
