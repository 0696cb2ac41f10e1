"""``backout replay``: recorded incidents drafted again by the current planner, so a team can see
how a new version or a scoring change would have ranked the suspects of its own history before
deploying it (issue 12, :mod:`planners.replay`).

    backout replay                         the store's incidents (BACKOUT_DATABASE_URL)
    backout replay --cases DIR             a folder of exported cases (one JSON file each)
    backout replay --export DIR            write the store's incidents as case files
    backout replay --format json           the score and every case, for a CI job to compare

The topology is the configured one (``topology:`` in the settings) unless ``--topology`` names
others. Exit codes: 0 done, 2 bad input (a case file that is not a case names the file).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError

from bot.cli.inputs import InputError, read_topology
from bot.runtime.settings import Settings, load_settings
from planners.planner import PlanningOptions
from planners.replay import Case, Replayed, Score, replay, score

__all__ = ["add_parser"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``replay`` to the command line's sub-commands."""
    parser = commands.add_parser(
        "replay", help="replay recorded incidents through the current planner and score it"
    )
    parser.add_argument("--cases", metavar="DIR", help="exported case files instead of the store")
    parser.add_argument("--export", metavar="DIR", help="write the store's incidents as cases")
    parser.add_argument(
        "--topology", action="append", metavar="PATH", help="topology sources (default: settings)"
    )
    parser.add_argument("--limit", type=int, default=1000, help="recent plans to look through")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if args.cases and args.export:
        raise InputError("replay: --cases reads exported cases, --export writes them; not both")
    settings = load_settings()
    window = PlanningOptions().window
    cases = read_cases(Path(args.cases)) if args.cases else _stored_cases(settings, args, window)
    if args.export:
        written = export_cases(cases, Path(args.export))
        print(f"backout: wrote {written} case(s) to {args.export}", file=sys.stderr)
        return 0
    topology_paths = args.topology or settings.topology
    if not topology_paths:
        raise InputError("replay: no topology (set topology: in backout.yaml or give --topology)")
    # No history factor: the store's history already counts these very incidents' culprits.
    replayed = replay(read_topology(topology_paths), cases)
    if args.format == "json":
        json.dump(_as_json(replayed), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_replay(replayed))
    return 0


def _stored_cases(settings: Settings, args: argparse.Namespace, window: timedelta) -> list[Case]:
    from bot.core.usecases.replay import recorded_cases  # the database loads only when needed
    from bot.store import Store

    url = settings.database_url.get_secret_value()
    with Store.from_url(url, upgrade=settings.auto_upgrade) as store:
        return recorded_cases(store, window=window, limit=args.limit)


def read_cases(folder: Path) -> list[Case]:
    """Every ``*.json`` case in ``folder``, oldest first.

    Raises:
        InputError: the folder cannot be read, or a file is not a case (names the file).
    """
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of case files")
    cases = []
    for path in sorted(folder.glob("*.json")):
        try:
            cases.append(Case.model_validate_json(path.read_bytes()))
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the file"
            raise InputError(f"{path}: not a replay case: {where}: {first['msg']}") from exc
    return sorted(cases, key=lambda case: case.drafted_at)


def export_cases(cases: Sequence[Case], folder: Path) -> int:
    """Write each case as ``<incident>.json`` in ``folder`` (made if missing)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for case in cases:
            name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in case.incident)
            text = case.model_dump_json(by_alias=True, indent=2)
            (folder / f"{name}.json").write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{folder}: cannot write: {exc.strerror or exc}") from exc
    return len(cases)


def render_replay(replayed: Sequence[Replayed]) -> str:
    """The score, then one line per case."""
    total = score(replayed)
    if not replayed:
        return "No recorded incidents to replay.\n"
    lines = [
        f"Replayed {total.cases} incident(s); {total.judged} with a confirmed culprit.",
        "",
        f"{'':24}{'today':>8}{'recorded':>10}",
        *_score_lines(total),
        "",
        f"{'INCIDENT':32}{'CULPRIT':24}{'RECORDED':>9}{'TODAY':>7}  NOTE",
    ]
    for item in replayed:
        note = "abstains" if item.abstained else ("ranking changed" if item.changed else "")
        lines.append(
            f"{item.case.incident[:31]:32}{(item.case.culprit or '-')[:23]:24}"
            f"{_rank(item.recorded_rank, item.case.culprit):>9}"
            f"{_rank(item.rank, item.case.culprit):>7}  {note}".rstrip()
        )
    return "\n".join(lines) + "\n"


def _score_lines(total: Score) -> list[str]:
    return [
        f"{'top-1':24}{total.top1:>8}{total.recorded_top1:>10}",
        f"{'top-3':24}{total.top3:>8}{total.recorded_top3:>10}",
        f"{'culprit not ranked':24}{total.missed:>8}",
        f"{'abstained':24}{total.abstained:>8}",
        f"{'ranking changed':24}{total.changed:>8}",
    ]


def _rank(rank: int | None, culprit: str | None) -> str:
    if culprit is None:
        return "-"
    return f"#{rank}" if rank is not None else "missed"


def _as_json(replayed: Sequence[Replayed]) -> dict[str, object]:
    total = score(replayed)
    return {
        "score": dataclasses.asdict(total),
        "cases": [
            {
                "incident": r.case.incident,
                "culprit": r.case.culprit,
                "recorded": list(r.case.recorded),
                "today": list(r.ranking),
                "recorded_rank": r.recorded_rank,
                "rank": r.rank,
                "abstained": r.abstained,
                "changed": r.changed,
            }
            for r in replayed
        ],
    }
