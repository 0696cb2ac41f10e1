"""Read-only lookups over the planner, for questions in the incident thread (pure).

A model answering a responder's question (:mod:`planners.questions`) may ask for these, and the
bot asks some itself for the services and changes a question names (:meth:`Lookups.seed`). Each
returns a :class:`Finding`: a JSON-able result, and a sentence in the planner's own words
(``says``) that is shown as is when no model answers. None of them changes anything:

* ``path``: the dependency path between two services of the topology, either way;
* ``change``: a recorded change of the window, and what the plan made of it (suspect, excluded,
  rolled back by which step, or not considered);
* ``replan``: the planner's plan from the same inputs without some changes ("what if we only
  roll back the flag?" is the plan without the other suspects);
* ``schedule``: the plan's steps in time (critical path, what runs side by side).

Arguments are ids the plan's inputs hold (:attr:`Lookups.services`, :attr:`Lookups.changes`);
the question's schema restricts them to those, and :meth:`Lookups.run` checks again and answers
an unknown one with a finding that says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import networkx as nx

from planners.explain import format_seconds
from planners.model import Plan
from planners.refine import PlanningInputs
from planners.schedule import critical_chain, parallel_groups

__all__ = ["MAX_SERVICES", "TOOLS", "Finding", "Lookups", "Tool"]

Tool = Literal["path", "change", "replan", "schedule"]
TOOLS: tuple[Tool, ...] = ("path", "change", "replan", "schedule")

MAX_SERVICES = 100
"""A topology larger than this offers the model only the services the plan and its changes
touch and those the question names (a schema enum of thousands helps no one)."""

_SEEDS = 4


@dataclass(frozen=True)
class Finding:
    """What one lookup returned: ``id`` (``L1``…) to cite, ``says`` in the planner's words."""

    id: str
    tool: str
    query: str
    says: str
    result: dict[str, Any] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        """The finding as the model sees it."""
        return {
            "id": self.id,
            "tool": self.tool,
            "query": self.query,
            "says": self.says,
            **self.result,
        }


@dataclass(frozen=True, kw_only=True)
class Lookups:
    """The lookups over one plan and the inputs it was drafted from."""

    plan: Plan
    inputs: PlanningInputs

    @property
    def changes(self) -> list[str]:
        """The change ids a lookup may name: the window's."""
        return [c.id for c in self.inputs.changes]

    def services(self, question: str = "") -> list[str]:
        """The services a lookup may name (all of a small topology's)."""
        topology = self.inputs.topology
        if len(topology.services) <= MAX_SERVICES:
            return sorted(topology.services)
        plan = self.plan
        touched = {*plan.incident.services, *plan.impacted, *(s.service for s in plan.steps)}
        touched |= {s.service for s in plan.suspects} | {c.service for c in self.inputs.changes}
        touched |= set(self.named_services(question))
        return sorted(s for s in touched if s in topology)

    def named_services(self, text: str) -> list[str]:
        """The topology's services that ``text`` names as words, in order of appearance."""
        return _named(text, self.inputs.topology.services)

    def seed(self, question: str) -> list[Finding]:
        """The lookups the bot asks itself for what the question names: each change named by
        id, and for each service named, its changes in the window and its path to the first
        alerting service (at most four findings)."""
        calls: list[tuple[Tool, tuple[str, ...]]] = []
        calls += [("change", (c,)) for c in _named(question, self.changes)]
        alerting = self.plan.incident.services
        for service in self.named_services(question):
            calls += [("change", (c.id,)) for c in self.inputs.changes if c.service == service]
            if alerting and service != alerting[0]:
                calls.append(("path", (service, alerting[0])))
        return self.run(list(dict.fromkeys(calls))[:_SEEDS])

    def run(self, calls: Iterable[tuple[str, Sequence[str]]], *, first: int = 1) -> list[Finding]:
        """Run ``calls`` (tool, arguments), numbering the findings from ``L<first>``."""
        found = []
        for n, (tool, args) in enumerate(calls, start=first):
            query, says, result = self._one(tool, tuple(args))
            found.append(Finding(f"L{n}", tool, query, says, result))
        return found

    # -- the tools ------------------------------------------------------------------------------

    def _one(self, tool: str, args: tuple[str, ...]) -> tuple[str, str, dict[str, Any]]:
        query = f"{tool} {' '.join(args)}".strip()
        if tool == "path":
            unknown = [a for a in args if a not in self.inputs.topology]
            if len(args) != 2 or unknown:
                return query, "a path lookup takes two services of the topology", {}
            return query, *self._path(args[0], args[1])
        if tool == "change":
            if len(args) != 1 or args[0] not in self.inputs.by_id:
                return query, "a change lookup takes one change id of the window", {}
            return query, *self._change(args[0])
        if tool == "replan":
            unknown = [a for a in args if a not in self.inputs.by_id]
            if not args or unknown:
                return query, "a replan takes the change ids of the window to leave out", {}
            return query, *self._replan(args)
        if tool == "schedule":
            return "schedule", *self._schedule()
        return query, f"there is no lookup called {tool!r}", {}

    def _path(self, a: str, b: str) -> tuple[str, dict[str, Any]]:
        graph = self.inputs.topology.graph
        for source, target in ((a, b), (b, a)):
            if source != target and nx.has_path(graph, source, target):
                hops = nx.shortest_path(graph, source, target)
                via = f" through {', '.join(hops[1:-1])}" if len(hops) > 2 else " directly"
                return f"{source} depends on {target}{via}", {"path": hops}
        if a == b:
            return f"{a} is one service", {"path": [a]}
        return f"no dependency path between {a} and {b}", {"path": None}

    def _change(self, change_id: str) -> tuple[str, dict[str, Any]]:
        change = self.inputs.by_id[change_id]
        plan = self.plan
        record: dict[str, Any] = {
            "service": change.service,
            "kind": change.kind.value,
            "at": change.at.isoformat(),
            "from_version": change.from_version,
            "to_version": change.to_version,
            "failed": change.failed,
        }
        what = f"{change_id} ({change.kind.value} on {change.service}"
        what += f" to {change.to_version})" if change.to_version else ")"
        ranks = [s.change_id for s in plan.suspects]
        steps = [s.id for s in plan.steps if s.change_id == change_id]
        excluded = {e.change_id: e.why for e in plan.excluded}
        if change_id in ranks:
            suspect = plan.suspects[ranks.index(change_id)]
            role = f"suspect {ranks.index(change_id) + 1} of {len(ranks)}"
            rolled = f", rolled back by {', '.join(steps)}" if steps else ", no step rolls it back"
            says = f"{what} is {role} (score {suspect.score:.2f}){rolled}"
            record |= {"role": role, "score": round(suspect.score, 2), "steps": steps}
        elif change_id in excluded:
            says = f"{what} was excluded: {excluded[change_id]}"
            record |= {"role": "excluded", "why": excluded[change_id]}
        else:
            says = f"{what} was not considered by the plan"
            record |= {"role": "not considered"}
        return says, record

    def _replan(self, without: Sequence[str]) -> tuple[str, dict[str, Any]]:
        inputs = self.inputs
        left_out = set(without)
        options = replace(inputs.options, consider=inputs.options.consider - left_out)
        kept = [c for c in inputs.changes if c.id not in left_out]
        again = replace(inputs, changes=kept).draft(options)
        steps = [f"{s.action.value} {s.service} ({s.change_id})" for s in again.steps]
        result: dict[str, Any] = {
            "left_out": sorted(left_out),
            "abstains": again.abstained,
            "suspects": [s.change_id for s in again.suspects],
            "steps": steps,
            "critical_path_seconds": again.critical_path_seconds,
        }
        if again.abstained:
            reasons = "; ".join(again.abstain_reasons)
            return f"without {', '.join(sorted(left_out))} the planner abstains: {reasons}", result
        says = (
            f"without {', '.join(sorted(left_out))} the plan has {len(steps)} "
            f"step{'' if len(steps) == 1 else 's'} "
            f"({'; '.join(steps)}), about {format_seconds(again.critical_path_seconds)}"
        )
        return says, result

    def _schedule(self) -> tuple[str, dict[str, Any]]:
        steps = self.plan.steps
        if not steps:
            return "the plan has no steps", {"steps": []}
        stages: dict[str, list[list[str]]] = {}
        for stage in dict.fromkeys(s.stage for s in steps):
            stages[stage.value] = parallel_groups([s for s in steps if s.stage == stage])
        chain = critical_chain(steps)
        total = self.plan.critical_path_seconds
        side = [g for groups in stages.values() for g in groups if len(g) > 1]
        together = "; ".join(" with ".join(g) for g in side) or "none"
        says = (
            f"the longest chain is {' then '.join(chain)}, about {format_seconds(total)}; "
            f"side by side: {together}"
        )
        return says, {"stages": stages, "critical_chain": chain, "critical_path_seconds": total}


def _named(text: str, names: Iterable[str]) -> list[str]:
    """The ``names`` that occur in ``text`` as whole words (case-insensitive), in text order."""
    folded = text.casefold()
    found = []
    for name in names:
        match = re.search(rf"(?<![\w-]){re.escape(name.casefold())}(?![\w-])", folded)
        if match:
            found.append((match.start(), name))
    return [name for _, name in sorted(found)]
