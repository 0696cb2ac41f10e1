"""Breach to plan posted for a deploy watch (issue 12): the part Backout adds, and the worst case.

Run from the repository root as ``python -m benchmarks.watch`` (``make bench`` does). A real
Prometheus (the Debian package ``prometheus``) scrapes :class:`fakes.metrics_app.HealthApp` every
second; cartservice's catalog health check (the bundled Online Boutique topology, its checks
pointed at the app) is ``error ratio < 0.05`` over a 10 s rate. The bot's parts are the real
ones, in this process, on a SQLite file: the planning use case, the notifier on the fake Slack,
the deploy watch use case and the job runner, on a clock that jumps ahead by a watch interval
instead of waiting it out.

Once Prometheus shows cartservice breaching, each trial records a new deploy of cartservice
(which starts its watch; the one before is superseded and its incident resolved), jumps the
clock to the watch's first reading and ticks the job runner as the scheduler does. **Backout's
part** runs from that tick's start (the tick that sees the breach) to the plan's
``chat.postMessage`` arriving at the fake Slack: claiming the job, one Prometheus query, filing
the alert into a new incident, drafting, storing and posting the plan. The first trials warm up
and are left out.

The worst case adds what the clock costs before that tick: a breach that starts just after a
reading waits a whole watch interval for the next one, whose job then waits up to one scheduler
tick (``start_scheduler``'s 5 s) to be claimed. How long Prometheus takes to show the breach
(scrape interval, rate window) is the monitoring's, before "the breach" as Backout can see it.

The markdown table is printed and written to ``benchmarks/results-watch.md``; nothing here
asserts a time.
"""

from __future__ import annotations

import logging
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from slack_sdk import WebClient

from benchmarks.planning import machine
from bot.core.engine import Engine
from bot.core.policy import Policy, PolicyConfig
from bot.core.runner import ThreadRunner
from bot.core.usecases import Execution, Planning
from bot.core.usecases.watches import DeployWatches, WatchSchedule
from bot.lifecycle import Mode
from bot.runtime.jobs import JobRunner
from bot.runtime.settings import WatchSettings
from bot.slack.notifier import SlackNotifier
from bot.slack.reminders import SlackReminders
from bot.store import Store, create_engine, upgrade
from fakes.metrics_app import HealthApp
from fakes.slack import FakeSlack
from fakes.world import EXAMPLE
from integrations.health.once import CatalogReadings, Snapshot
from integrations.topology import load_topology
from planners.model import Alert, AlertStatus, Change
from planners.topology import Topology

RESULTS = Path(__file__).with_name("results-watch.md")
TRIALS = 30
WARMUP = 3
INTERVAL_S = WatchSettings().interval_seconds
"""The watch's default interval (``watches.interval_seconds``)."""
TICK_S = 5.0
"""How often the scheduler ticks the job runner (``start_scheduler``'s default)."""
TARGET_S = 30.0
SERVICE = "cartservice"
CHANNEL = "C0INCIDENT"
PROMETHEUS = "/usr/bin/prometheus"
_PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: health_app
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


def ratio(service: str) -> str:
    sel = f'{{service="{service}"}}'
    return f"sum(rate(app_errors_total{sel}[10s])) / sum(rate(app_requests_total{sel}[10s]))"


@dataclass
class Trial:
    """One breach seen by a watch: Backout's part, and the reading within it, in seconds."""

    part: float
    reading: float
    tick: float


@dataclass
class TimedReadings:
    """The catalog readings, timed."""

    readings: CatalogReadings
    took: list[float] = field(default_factory=list)

    def __call__(self, service: str) -> Snapshot | None:
        started = time.perf_counter()
        try:
            return self.readings(service)
        finally:
            self.took.append(time.perf_counter() - started)


class JumpingClock:
    """The wall clock, plus the jumps the benchmark makes instead of waiting."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def jump(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


class _NoGroups:
    def members(self, group_id: str) -> frozenset[str]:
        raise LookupError(group_id)


class Bench:
    """The bot's parts a deploy watch goes through, on the fake Slack."""

    def __init__(self, *, folder: Path, slack: FakeSlack, topology: Topology, url: str) -> None:
        self.slack = slack
        self.clock = JumpingClock()
        database = create_engine(f"sqlite:///{folder / 'backout.db'}")
        upgrade(database)
        self.store = Store(database, clock=self.clock)
        client = WebClient(base_url=slack.api_url, token="xoxb-bench")  # noqa: S106 - the fake's
        self.notifier = SlackNotifier(client=client, store=self.store, graphs=False)
        policy = Policy(
            PolicyConfig(approvers=["U0ONCALL1"]),
            topology=topology,
            groups=_NoGroups(),
            mode=Mode.APPROVE,
        )
        self.runner = ThreadRunner()
        execution = Execution(
            store=self.store,
            engine=Engine(store=self.store, executors={}),
            executors={},
            notifier=self.notifier,
            runner=self.runner,
        )
        self.planning = Planning(
            store=self.store,
            topology=topology,
            policy=policy,
            execution=execution,
            notifier=self.notifier,
            clock=self.clock,
        )
        self.readings = TimedReadings(CatalogReadings(topology, prometheus_url=url))
        self.schedule = WatchSchedule(store=self.store, topology=topology, clock=self.clock)
        watches = DeployWatches(
            store=self.store,
            incidents=self.planning,
            read=self.readings,
            channel=CHANNEL,
            clock=self.clock,
            notes=SlackReminders(store=self.store),
        )
        self.jobs = JobRunner(self.store, watches.handlers(), worker="bench", clock=self.clock)
        self._open: Alert | None = None

    def close(self) -> None:
        self.runner.shutdown()
        self.readings.readings.close()
        self.store.close()

    def trial(self, number: int) -> Trial:
        """A new deploy of cartservice, breaching already: its first reading posts the plan."""
        if self._open is not None:  # close the previous incident: this breach opens a new one
            resolved = self._open.model_copy(update={"status": AlertStatus.RESOLVED})
            self.planning.alerts_posted([resolved], channel=CHANNEL, ts=None)
        change = Change(
            id=f"chg-bench-{number}",
            service=SERVICE,
            at=self.clock(),
            from_version=f"v1.{number}.0",
            to_version=f"v1.{number + 1}.0",
            source="bench",
        )
        self.planning.deploy_announced(change)
        assert self.schedule.start(change), "the watch did not start"
        self.clock.jump(INTERVAL_S)
        before = len(self.slack.calls_to("chat.postMessage"))
        self.readings.took.clear()
        started = datetime.now(UTC)
        began = time.perf_counter()
        ran = self.jobs.tick()
        tick = time.perf_counter() - began
        posts = [
            call
            for call in self.slack.calls_to("chat.postMessage")[before:]
            if call.args.get("blocks") and not call.args.get("thread_ts")
        ]
        if ran != 1 or len(posts) != 1:
            raise RuntimeError(f"trial {number}: {ran} jobs ran, {len(posts)} plans posted")
        self._open = Alert(
            fingerprint=f"watch:{change.id}",
            service=SERVICE,
            name="resolved",
            started_at=self.clock(),
            source="backout:watch",
        )
        self.notifier.flush_outbox()
        return Trial(
            part=(posts[0].at - started).total_seconds(),
            reading=sum(self.readings.took),
            tick=tick,
        )


def topology_for(folder: Path) -> Topology:
    """The Online Boutique topology, every health check an error ratio the app serves."""
    document = yaml.safe_load((EXAMPLE / "topology.yaml").read_text(encoding="utf-8"))
    for service in document["services"]:
        if "health" in service:
            query = ratio(service["name"])
            check = {"query": query, "op": "<", "threshold": 0.05, "name": "error ratio"}
            service["health"] = {"prometheus": check}
    path = folder / "topology.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    topology, _ = load_topology([path])
    return topology


@contextmanager
def prometheus(binary: str, *, scrape_port: int, folder: Path) -> Iterator[str]:
    """A Prometheus scraping ``scrape_port`` every second, until the block ends; its URL."""
    config = folder / "prometheus.yml"
    config.write_text(_PROMETHEUS_CONFIG.format(port=scrape_port), encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (folder / "prometheus.log").open("ab")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=folder,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _ready(url), what="prometheus ready")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def _until(condition: Any, *, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise RuntimeError(f"not {what} within {timeout:g} s")


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def table(trials: Sequence[Trial]) -> str:
    parts = [t.part for t in trials]
    readings = [t.reading for t in trials]
    rest = [t.part - t.reading for t in trials]
    worst_part = max(parts)

    def row(what: str, values: Sequence[float]) -> str:
        return (
            f"| {what} | {_ms(statistics.median(values))} | {_ms(_quantile(values, 0.95))} | "
            f"{_ms(max(values))} |"
        )

    def case(interval: float, note: str) -> str:
        worst = interval + TICK_S + worst_part
        typical = interval / 2 + TICK_S / 2 + statistics.median(parts)
        verdict = "meets" if worst <= TARGET_S else "MISSES"
        return (
            f"| {interval:g} s{note} | {TICK_S:g} s | {typical:.1f} s | **{worst:.1f} s** | "
            f"{verdict} |"
        )

    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "# Deploy watch benchmark",
            "",
            f"Generated by `python -m benchmarks.watch` on {generated}.",
            f"Machine: {machine()}.",
            "A real Prometheus (1 s scrapes) on the test app, the Online Boutique topology, "
            "SQLite in a temporary folder, the fake Slack; the planning, notifier, watch and "
            f"job runner of the bot in one process. {len(trials)} trials after {WARMUP} "
            "left out to warm up.",
            "",
            "## Backout's part: from the tick that sees the breach to the plan posted",
            "",
            "| | median | p95 | max |",
            "|---|---|---|---|",
            row(
                "tick start → the plan's `chat.postMessage` at the fake Slack",
                parts,
            ),
            row("of which the reading (one Prometheus query)", readings),
            row("of which the rest (claim, incident, draft, store, post)", rest),
            row(
                "the whole tick (plus audit, thread note queued, job done)",
                [t.tick for t in trials],
            ),
            "",
            "## Breach to plan posted, the clock included",
            "",
            "Typical: half an interval and half a scheduler tick of waiting, plus Backout's "
            "median part. Worst: a breach just after a reading waits the whole interval, then up "
            "to a whole tick to be claimed, plus Backout's slowest part.",
            "",
            f"| watch interval | scheduler tick | typical | worst case | target ≤ {TARGET_S:g} s |",
            "|---|---|---|---|---|",
            *(
                case(seconds, " (default)" if seconds == INTERVAL_S else "")
                for seconds in sorted({30.0, 25.0, INTERVAL_S}, reverse=True)
            ),
            "",
        ]
    )


def main() -> int:
    """Run the trials, print the table and write ``benchmarks/results-watch.md``."""
    logging.getLogger("bot.core.usecases.watches").setLevel(logging.ERROR)  # one line a breach
    binary = shutil.which("prometheus") or PROMETHEUS
    if not Path(binary).exists():
        print("the prometheus binary is missing (apt-get install prometheus)", file=sys.stderr)
        return 2
    with (
        tempfile.TemporaryDirectory(prefix="backout-bench-watch-") as tmp,
        HealthApp() as app,
        FakeSlack() as slack,
    ):
        folder = Path(tmp)
        app.set_error_ratio(SERVICE, 0.0)
        with prometheus(binary, scrape_port=app.port, folder=folder) as url:
            bench = Bench(folder=folder, slack=slack, topology=topology_for(folder), url=url)
            try:
                reader = bench.readings.readings
                _until(
                    lambda: (s := reader(SERVICE)) is not None and s.state == "healthy",
                    what="healthy",
                )
                app.set_error_ratio(SERVICE, 0.4)
                _until(lambda: (s := reader(SERVICE)) is not None and s.breached, what="breached")
                trials = [bench.trial(number) for number in range(WARMUP + TRIALS)][WARMUP:]
            finally:
                bench.close()
    result = table(trials)
    print(result)
    RESULTS.write_text(result, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
