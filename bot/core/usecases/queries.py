"""Reading what Backout knows: the latest plan, a plan by id, a service's history. Nothing here
changes anything."""

from __future__ import annotations

from dataclasses import dataclass

from bot.store import Store, StoredPlan
from planners.model import Change

__all__ = ["Queries"]


@dataclass(frozen=True, kw_only=True)
class Queries:
    """Read-only questions about plans and services.

    Args:
        store: plans and incidents.
    """

    store: Store

    def plan(self, plan_id: str) -> StoredPlan:
        """The stored plan.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        return self.store.plans.get(plan_id)

    def latest_plan(self) -> str | None:
        """The newest live (not standby) plan's id."""
        stored = self.store.plans.latest_live()
        return stored.id if stored else None

    def history(self, service: str) -> tuple[list[Change], list[StoredPlan]]:
        """A service's recent changes and the newest plans that touched it."""
        changes = self.store.incidents.changes_of(service, limit=10)
        return changes, self.store.plans.touching(service, limit=5)
