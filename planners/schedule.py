"""How a plan's steps unfold in time: its critical path, and what may run side by side.

Pure functions over :class:`~planners.model.Step` sequences in a valid order (every step after
the steps its ``after`` names). :mod:`planners.steps` measures a new plan's
``critical_path_seconds`` with :func:`critical_path`; the Slack plan view and the terminal
renderer show :func:`critical_chain` and :func:`parallel_groups`. One walk
(:func:`_longest_chains`) serves all three, so the duration shown and the chain drawn agree.

The functions are lenient about plans read back from JSON: an ``after`` naming a step that is
not in the sequence counts as already done, and a negative estimate counts as zero.
"""

from __future__ import annotations

from collections.abc import Sequence

from planners.model import Step

__all__ = ["critical_chain", "critical_path", "parallel_groups"]


def critical_path(steps: Sequence[Step]) -> int:
    """The longest chain of ``estimated_seconds`` through ``after``, in seconds.

    Args:
        steps: the steps, in a valid order.

    Returns:
        The total estimated time of :func:`critical_chain`; 0 for no steps.
    """
    return max((finish for finish, _ in _longest_chains(steps).values()), default=0)


def critical_chain(steps: Sequence[Step]) -> list[str]:
    """The ids of the longest chain of steps through ``after``, by estimated time.

    Args:
        steps: the steps, in a valid order.

    Returns:
        Step ids from first to last; empty for no steps. Ties go to the earliest-listed end
        step, and, among the steps it waits for, to the greatest id.
    """
    longest = _longest_chains(steps)
    if not longest:
        return []
    current: str | None = max(longest, key=lambda s: longest[s][0])
    chain: list[str] = []
    seen: set[str] = set()
    while current is not None and current not in seen:
        seen.add(current)
        chain.append(current)
        current = longest[current][1]
    return chain[::-1]


def parallel_groups(steps: Sequence[Step]) -> list[list[str]]:
    """Steps grouped by depth: no path through ``after`` joins two steps of one group.

    Args:
        steps: the steps, in a valid order (callers pass one stage's steps; an ``after``
            outside the sequence is ignored).

    Returns:
        Groups of step ids, shallowest first, each in the steps' order.
    """
    depth: dict[str, int] = {}
    ids = {s.id for s in steps}
    for step in steps:
        depth[step.id] = 1 + max((depth[a] for a in step.after if a in ids), default=0)
    groups: dict[int, list[str]] = {}
    for step_id, level in depth.items():
        groups.setdefault(level, []).append(step_id)
    return [groups[level] for level in sorted(groups)]


def _longest_chains(steps: Sequence[Step]) -> dict[str, tuple[int, str | None]]:
    """For each step: when the longest chain ending at it finishes, and the step before it."""
    best: dict[str, tuple[int, str | None]] = {}
    for step in steps:
        before = max(((best[a][0], a) for a in step.after if a in best), default=(0, ""))
        best[step.id] = (before[0] + max(step.estimated_seconds, 0), before[1] or None)
    return best
