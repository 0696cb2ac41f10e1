"""The plan in plain words, from the graph alone (the LLM may later rephrase it, never change it).

The explanation is short Markdown for people: the most likely cause and its evidence, what the
plan does stage by stage, how long it should take, and the warnings that need a human. Text that
came from outside (change summaries) is not included here; views escape what they show.
"""

from __future__ import annotations

from collections.abc import Sequence

from planners.model import Stage, Step, Suspect

__all__ = ["explain", "format_seconds"]

_STAGE_WORDS = {
    Stage.CONTAIN: "contain (flags and config first)",
    Stage.PARTIAL: "partial (the top suspect and what is coupled to it)",
    Stage.FULL: "full (the remaining suspects, only if health has not recovered)",
}


def explain(
    *,
    suspects: Sequence[Suspect],
    steps: Sequence[Step],
    critical_path_seconds: int,
    abstain_reasons: Sequence[str],
    causes: Sequence[str] = (),
) -> str:
    """A few lines of Markdown that an on-call engineer can read at 3 a.m.

    ``causes`` names the change ids of two independent causes, when there are two.
    """
    if abstain_reasons:
        lines = [
            "**No rollback proposed.** "
            + " ".join(r[0].upper() + r[1:] + "." for r in abstain_reasons)
        ]
        if suspects:
            lines.append(f"The closest candidate was {_describe(suspects[0])}.")
        lines.append("Look at the alerts and recent changes by hand, or widen the window.")
        return "\n".join(lines)
    top = suspects[0]
    lines = [f"**Most likely cause:** {_describe(top)}: " + "; ".join(top.reasons) + "."]
    other = next((s for s in suspects if len(causes) > 1 and s.change_id == causes[1]), None)
    if other is not None:
        lines[0] = "**Two independent causes.** " + lines[0]
        lines.append(
            f"**Second cause:** {_describe(other)}, for the alerting services the first leaves "
            "unexplained; each has its own steps."
        )
    for stage in Stage:
        in_stage = [s for s in steps if s.stage == stage]
        if in_stage:
            lines.append(f"- **{_STAGE_WORDS[stage]}**: {len(in_stage)} step(s)")
    approvals = max((s.approvals_required for s in steps), default=0)
    lines.append(
        f"Estimated time if every stage runs: {format_seconds(critical_path_seconds)} "
        f"(critical path). Up to {approvals} approver(s) per step."
    )
    lines.extend(f"⚠️ {s.id} {s.service}: {s.warning}" for s in steps if s.warning)
    return "\n".join(lines)


def format_seconds(seconds: int) -> str:
    """``90`` → ``1 min 30 s``."""
    minutes, secs = divmod(seconds, 60)
    if not minutes:
        return f"{secs} s"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"


def _describe(suspect: Suspect) -> str:
    kind = suspect.kind.value.replace("_", " ")
    return f"the {kind} of {suspect.service} ({suspect.change_id}, score {suspect.score:.2f})"
