"""Replaying recorded incidents through the current planner: how would its suspect ranking have
done on a team's own history?

A :class:`Case` is one recorded incident as the planner saw it: its alerts, the changes recorded
up to the moment its plan was drafted, the ranking that plan gave, and the culprit responders
confirmed (the summary's feedback), if any. :func:`replay` drafts each case again with today's
planner and :func:`score` says how often the confirmed culprit came first, in the first three, or
not at all, and where today's ranking differs from the recorded one. Pure: no clock, no I/O; the
cases come from the store or from exported files (``backout replay``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from planners.model import Alert, Change, UtcDatetime
from planners.planner import PlanningOptions, plan_rollback
from planners.topology import Topology

__all__ = ["Case", "Replayed", "Score", "replay", "score"]

CASE_SCHEMA: Literal["backout.replay-case/v1"] = "backout.replay-case/v1"


class Case(BaseModel):
    """One recorded incident, as exported by ``backout replay --export`` (one JSON file each).

    Attributes:
        incident: the incident's id.
        drafted_at: when its plan was drafted: the planner's "now" on replay.
        alerts: its alerts, as recorded.
        changes: the changes recorded up to ``drafted_at`` (the planner leaves out the ones
            outside its window itself).
        recorded: the change ids the recorded plan ranked, best first.
        culprit: the change responders confirmed as the cause, or None (no feedback, or the
            feedback said the recorded top suspect was wrong and named no other).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["backout.replay-case/v1"] = Field(default=CASE_SCHEMA, alias="schema")
    incident: str
    drafted_at: UtcDatetime
    alerts: tuple[Alert, ...]
    changes: tuple[Change, ...] = ()
    recorded: tuple[str, ...] = ()
    culprit: str | None = None


@dataclass(frozen=True, kw_only=True)
class Replayed:
    """One case drafted again.

    Attributes:
        case: the recorded incident.
        ranking: today's suspects, best first (empty when today's planner abstains).
        abstained: whether today's planner abstained.
    """

    case: Case
    ranking: tuple[str, ...]
    abstained: bool

    @property
    def rank(self) -> int | None:
        """Where today's ranking puts the confirmed culprit (1 = first), None if absent."""
        culprit = self.case.culprit
        return self.ranking.index(culprit) + 1 if culprit in self.ranking else None

    @property
    def recorded_rank(self) -> int | None:
        """Where the recorded ranking put the confirmed culprit, None if absent."""
        culprit = self.case.culprit
        recorded = self.case.recorded
        return recorded.index(culprit) + 1 if culprit in recorded else None

    @property
    def changed(self) -> bool:
        """Whether today's top three differ from the recorded top three."""
        return self.ranking[:3] != self.case.recorded[:3]


@dataclass(frozen=True, kw_only=True)
class Score:
    """How a ranking did over the cases with a confirmed culprit (``judged``), and overall."""

    cases: int
    judged: int
    top1: int
    top3: int
    missed: int
    abstained: int
    changed: int
    recorded_top1: int
    recorded_top3: int


def replay(
    topology: Topology,
    cases: Iterable[Case],
    *,
    options: PlanningOptions | None = None,
    history: Mapping[str, int] | None = None,
) -> list[Replayed]:
    """Draft every case again with today's planner, in the order given."""
    replayed = []
    for case in cases:
        plan = plan_rollback(
            topology,
            changes=case.changes,
            alerts=case.alerts,
            now=case.drafted_at,
            options=options,
            history=history,
        )
        ranking = () if plan.abstained else tuple(s.change_id for s in plan.suspects)
        replayed.append(Replayed(case=case, ranking=ranking, abstained=plan.abstained))
    return replayed


def score(replayed: Sequence[Replayed]) -> Score:
    """Top-1 and top-3 counts (today's and recorded) over the cases with a confirmed culprit;
    abstentions and changed rankings over all cases."""
    judged = [r for r in replayed if r.case.culprit is not None]
    return Score(
        cases=len(replayed),
        judged=len(judged),
        top1=sum(1 for r in judged if r.rank == 1),
        top3=sum(1 for r in judged if r.rank is not None and r.rank <= 3),
        missed=sum(1 for r in judged if r.rank is None),
        abstained=sum(1 for r in replayed if r.abstained),
        changed=sum(1 for r in replayed if r.changed),
        recorded_top1=sum(1 for r in judged if r.recorded_rank == 1),
        recorded_top3=sum(
            1 for r in judged if r.recorded_rank is not None and r.recorded_rank <= 3
        ),
    )
