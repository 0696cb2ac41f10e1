"""The value types of filing alerts into incidents (:mod:`bot.store.filing`): what the grouping
rule sees of an open incident and where it puts new alerts, what a filing or a resolution did,
and an incident's alerts counted. Frozen values, like those of :mod:`bot.store.records`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from bot.lifecycle import PlanStatus
from planners.model import Alert

__all__ = [
    "Closing",
    "Filed",
    "KnownAlert",
    "OpenIncident",
    "Opened",
    "Place",
    "Placement",
    "Tally",
]


class KnownAlert(NamedTuple):
    """An alert an open incident of the channel holds already."""

    incident_id: str
    status: str
    row_id: int


@dataclass(frozen=True)
class OpenIncident:
    """An open incident a new alert may join, as the grouping rule sees it.

    Attributes:
        services: every service its alerts name (empty when none names one).
        started_at: when it started (when it was opened, if its start is unknown).
        plan_status: its newest live plan's status, None before the plan is stored.
        plan_moved_at: when that plan last moved (for a finished plan: when it finished).
    """

    id: str
    services: tuple[str, ...]
    started_at: datetime
    plan_status: PlanStatus | None
    plan_moved_at: datetime | None


@dataclass(frozen=True)
class Placement:
    """Where the grouping rule put some of the new alerts: into the open incident
    ``incident_id``, or, when that is None, into a new incident to be called ``new_id`` (the
    store appends ``-<moment>`` when an earlier incident has that id)."""

    alerts: tuple[Alert, ...]
    services: tuple[str, ...]
    incident_id: str | None = None
    new_id: str = ""
    started_at: datetime | None = None


Place = Callable[[Sequence[OpenIncident], Sequence[Alert]], Sequence[Placement]]
"""The grouping rule: the open incidents (newest first) and the new firing alerts → placements."""


@dataclass(frozen=True)
class Opened:
    """An incident opened by :meth:`~bot.store.filing.AlertFiling.file_alerts`, with the
    alerts it opened with."""

    incident_id: str
    alerts: tuple[Alert, ...]


@dataclass(frozen=True)
class Filed:
    """What :meth:`~bot.store.filing.AlertFiling.file_alerts` did: incidents opened, and open
    incidents that gained alerts (new ones, or known ones firing again)."""

    opened: tuple[Opened, ...] = ()
    joined: tuple[str, ...] = ()


@dataclass(frozen=True)
class Closing:
    """What :meth:`~bot.store.filing.AlertFiling.resolve_alerts` did: incidents that resolved
    (none of their alerts fires any more) and open incidents some of whose alerts resolved."""

    resolved: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()


class Tally(NamedTuple):
    """An incident's alerts counted: all, still firing, and those its plan was drafted from."""

    total: int
    firing: int
    drafted: int

    @property
    def joined(self) -> int:
        """Alerts that joined after the incident's newest plan was drafted."""
        return max(0, self.total - self.drafted)
