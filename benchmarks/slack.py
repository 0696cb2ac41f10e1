"""How fast the running bot answers Slack: acknowledgements under a sustained load, and the time
from an alert message to the plan in its thread.

Run from the repository root as ``python -m benchmarks.slack``. The bot is a whole
:class:`fakes.world.BotWorld` (the fake Slack, the bot's real uvicorn server, a SQLite file
in a temporary folder, simulated executors) in this process; the requests come from a second
process (spawned, so the bot and its load do not share a GIL), as Slack's would, each a fresh
signed request (the bot refuses byte-identical replays). Everything is on 127.0.0.1.

1. **Acknowledgement latency at a sustained 50 requests a second.** Open loop: request ``i`` is
   due at ``start + i / 50`` and is handed to a small pool of threads (one ``httpx.Client``
   each) on that schedule, whether or not earlier ones have been answered; its latency runs from
   when it was due to its response, so a client that fell behind would show. The mix, in turn:
   ``/rollback help``, a ``backout_simulate`` click, ``/rollback plan cartservice`` and an
   approve click by a user the policy refuses (so nothing executes), the clicks on a plan drafted
   beforehand. Commands and clicks are reported apart; the target is a p99 under 100 ms (Slack's
   hard limit is 3 s). A slower round, one request every 100 ms, gives the same latencies with
   no queue. The listeners' slow work goes on after the ack (Bolt's lazy listeners): the drain is
   the time from the last ack to the last of its Slack calls (a plan posted per ``plan``
   command, an ephemeral answer per click).
2. **Where the ack time goes.** In this process only (no product file changes), the signature
   check (``bot.slack.web``'s ``is_signed``), ``bot.slack.web``'s ``run_in_threadpool``
   (waiting for
   a worker, then the replay claim's insert and Bolt's ``dispatch``) and the Bolt app's listener
   executor (waiting for a thread, running the ack function) are timed per request, joined to
   the client's measurement by the request's signature. Around them: the CPU the machine, the
   bot and the client used (``/proc/stat``, process times), how late the server's event loop
   wakes from 5 ms sleeps, and the bot process's garbage collections (``gc.callbacks``), with
   the requests that were in flight during a full (generation 2) collection.
3. **Alert to plan.** After a bad deploy is announced, Alertmanager-style bot messages arrive in
   the alerts channel one at a time (each with a new ``ts`` and event id, in a fresh bot); the
   time from sending the event to the fake Slack receiving the ``chat.postMessage`` in that
   message's thread (the fake's own receipt time). No LLM is configured. The target is 2 s.

The markdown table is printed and written to ``benchmarks/results-slack.md``; nothing here
asserts a time.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import multiprocessing
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import starlette.concurrency
from slack_bolt import App

import bot.runtime.services
import bot.slack.app
import bot.slack.web
from benchmarks.planning import machine
from fakes import signing as slack
from fakes.world import ONCALL, STRANGER, BotWorld

RATE = 50.0
"""Requests a second during the load."""
LOAD_SECONDS = 20.0
LOAD_REQUESTS = int(RATE * LOAD_SECONDS)
QUIET_RATE = 10.0
QUIET_REQUESTS = 40
CLIENT_THREADS = 16
CLIENT_TIMEOUT_S = 10.0
SCHEDULE_SLACK_S = 15.0
"""The load stops scheduling this long after its planned end, however far behind it is."""
DRAIN_TIMEOUT_S = 40.0
ALERTS = 20
ALERT_TIMEOUT_S = 10.0
ALERT_PAUSE_S = 0.2
LOOP_TICK_S = 0.005
TARGET_ACK_P99_S = 0.100
SLACK_LIMIT_S = 3.0
TARGET_ALERT_S = 2.0
INCIDENT = "C0INCIDENT"
MIX = (
    ("command", "help"),
    ("click", "backout_simulate"),
    ("command", "plan cartservice"),
    ("click", "backout_approve_plan"),
)
"""Request ``i`` is ``MIX[i % 4]``: (kind, command text or button action id)."""
ACK_TASK = "run_ack_function_asynchronously"
"""The name Bolt gives the ack function it runs on its listener executor."""
RESULTS = Path(__file__).with_name("results-slack.md")
SHARED_CLOCK = "CLOCK_MONOTONIC" in time.get_clock_info("perf_counter").implementation


# -- the client (a separate process) ---------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One request as the client saw it; times are the client process's ``perf_counter``."""

    kind: str
    what: str
    signature: str
    due: float
    sent: float
    done: float
    status: int
    error: str = ""

    @property
    def latency(self) -> float:
        """From when the request was due to its response (open loop)."""
        return self.done - self.due

    @property
    def round_trip(self) -> float:
        """From when the client sent it to its response."""
        return self.done - self.sent

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error


@dataclass(frozen=True)
class Load:
    """What the client process returns."""

    samples: list[Sample]
    rate: float
    """Requests actually sent per second, first to last."""
    last_response_at: datetime
    """Wall clock of the last response, to compare with the fake Slack's receipt times."""
    cpu_s: float
    """CPU time of the client process while it sent."""


def _request(
    index: int, *, secret: str, plan_id: str, message_ts: str
) -> tuple[str, str, slack.SignedRequest]:
    kind, what = MIX[index % len(MIX)]
    if kind == "command":
        request = slack.slash_command(what, user=ONCALL, channel=INCIDENT, secret=secret)
    else:
        user = ONCALL if what == "backout_simulate" else STRANGER
        request = slack.block_action(
            what, plan_id, user=user, channel=INCIDENT, message_ts=message_ts, secret=secret
        )
    return kind, what, request


def run_load(url: str, secret: str, plan_id: str, message_ts: str, count: int, rate: float) -> Load:
    """Send ``count`` fresh signed requests at ``rate`` a second, open loop (in the client)."""
    requests = [
        _request(i, secret=secret, plan_id=plan_id, message_ts=message_ts) for i in range(count)
    ]
    # One client (and one kept-alive connection) per thread, made and connected beforehand:
    # making an httpx.Client costs milliseconds (its SSL context) that are not the bot's.
    clients: queue.LifoQueue[httpx.Client] = queue.LifoQueue()
    for _ in range(CLIENT_THREADS):
        made = httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT_S)
        made.get("/healthz").raise_for_status()
        clients.put(made)

    def send(kind: str, what: str, request: slack.SignedRequest, due: float) -> Sample:
        signature = request.headers["X-Slack-Signature"]
        client = clients.get()
        sent = time.perf_counter()
        try:
            response = client.post("/slack/events", content=request.body, headers=request.headers)
        except httpx.HTTPError as exc:
            return Sample(kind, what, signature, due, sent, time.perf_counter(), 0, repr(exc))
        finally:
            clients.put(client)
        return Sample(kind, what, signature, due, sent, time.perf_counter(), response.status_code)

    futures: list[Future[Sample]] = []
    cpu_before = time.process_time()
    with ThreadPoolExecutor(max_workers=CLIENT_THREADS, thread_name_prefix="slack") as pool:
        start = time.perf_counter() + 0.2
        give_up = start + count / rate + SCHEDULE_SLACK_S
        for index, (kind, what, request) in enumerate(requests):
            due = start + index / rate
            now = time.perf_counter()
            if now > give_up:
                break
            if due > now:
                time.sleep(due - now)
            futures.append(pool.submit(send, kind, what, request, due))
        samples = [f.result() for f in futures]
    cpu_s = time.process_time() - cpu_before
    while not clients.empty():
        clients.get().close()
    first = min(s.sent for s in samples)
    last = max(s.sent for s in samples)
    return Load(
        samples=samples,
        rate=(len(samples) - 1) / (last - first) if last > first else 0.0,
        last_response_at=datetime.now(UTC)
        - timedelta(seconds=time.perf_counter() - max(s.done for s in samples)),
        cpu_s=cpu_s,
    )


def load_from_another_process(
    url: str, secret: str, plan_id: str, message_ts: str, count: int, rate: float
) -> Load:
    """:func:`run_load` in a spawned process, so the client does not compete for the bot's GIL."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        pending = pool.submit(run_load, url, secret, plan_id, message_ts, count, rate)
        return pending.result(timeout=count / rate + SCHEDULE_SLACK_S + 60)


# -- the probe (in the bot's process) --------------------------------------------------------


@dataclass
class Span:
    """The server side of one request, ``perf_counter`` marks (0.0 when not seen)."""

    verify_start: float = 0.0
    verify_end: float = 0.0
    marks: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    """name -> (queued, started, ended): ``claim_event`` and ``dispatch`` in the server's thread
    pool, ``ack`` on Bolt's listener executor."""


@dataclass(frozen=True)
class Lazy:
    """A task run after the ack on Bolt's listener executor (``perf_counter`` marks)."""

    name: str
    signature: str
    """Of the request that started it ("" for event listeners)."""
    queued: float
    started: float
    ended: float


class Probe:
    """Times the ack path of every request by its signature, by wrapping (in this process only)
    ``bot.slack.web``'s signature verifier and ``run_in_threadpool`` and the Bolt app's executor."""

    def __init__(self) -> None:
        self.spans: dict[str, Span] = {}
        self.lazy: list[Lazy] = []
        self.backlog = 0
        """The most tasks seen waiting in Bolt's listener executor."""
        self.loop: asyncio.AbstractEventLoop | None = None
        """The server's event loop (seen by the first request)."""
        self.loop_lags: list[float] = []
        self.collections: list[tuple[int, float, float]] = []
        """(generation, started, ended) of the garbage collections in this process."""
        self._gc_started = 0.0
        self._local = threading.local()
        self._lock = threading.Lock()

    def span(self, signature: str) -> Span:
        with self._lock:
            return self.spans.setdefault(signature, Span())

    def reset(self) -> None:
        with self._lock:
            self.spans.clear()
            self.lazy.clear()
            self.backlog = 0
            self.loop_lags.clear()
            self.collections.clear()

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.collections.append((info["generation"], self._gc_started, time.perf_counter()))

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Meanwhile, record the process's garbage collections and measure how late the
        server's event loop wakes from 5 ms sleeps."""
        gc.callbacks.append(self._on_gc)
        try:
            with self._watching_the_loop():
                yield
        finally:
            gc.callbacks.remove(self._on_gc)

    @contextmanager
    def _watching_the_loop(self) -> Iterator[None]:
        if self.loop is None:
            yield
            return
        stop = threading.Event()

        async def watch() -> None:
            while not stop.is_set():
                before = time.perf_counter()
                await asyncio.sleep(LOOP_TICK_S)
                self.loop_lags.append(time.perf_counter() - before - LOOP_TICK_S)

        watcher = asyncio.run_coroutine_threadsafe(watch(), self.loop)
        try:
            yield
        finally:
            stop.set()
            watcher.result(timeout=5)

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Patch ``bot.slack.web`` and the runtime's ``build_app`` while the bot runs."""
        probe = self
        original_run = starlette.concurrency.run_in_threadpool
        original_build_app = bot.slack.app.build_app
        original_is_signed = bot.slack.web.is_signed

        def timed_is_signed(
            body: bytes, headers: Mapping[str, str], *, key: bytes, now: float
        ) -> bool:
            started = time.perf_counter()
            try:
                return original_is_signed(body, headers, key=key, now=now)
            finally:
                span = probe.span(str(headers.get("x-slack-signature", "")))
                span.verify_start, span.verify_end = started, time.perf_counter()

        async def timed_run(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            name = getattr(func, "__name__", "?")
            signature = _signature_of(args[0]) if args else ""
            probe.loop = asyncio.get_running_loop()
            queued = time.perf_counter()

            def work() -> Any:
                started = time.perf_counter()
                probe._local.signature = signature
                try:
                    return func(*args, **kwargs)
                finally:
                    probe._local.signature = ""
                    if signature:
                        probe.span(signature).marks[name] = (queued, started, time.perf_counter())

            return await original_run(work)

        def capturing_build_app(*args: Any, **kwargs: Any) -> App:
            app = original_build_app(*args, **kwargs)
            probe._wrap_executor(app)
            return app

        patches: tuple[tuple[ModuleType, str, object], ...] = (
            (bot.slack.web, "is_signed", timed_is_signed),
            (bot.slack.web, "run_in_threadpool", timed_run),
            (bot.runtime.services, "build_app", capturing_build_app),  # the composition root's
        )
        originals = [(module, name, getattr(module, name)) for module, name, _ in patches]
        for module, name, value in patches:
            setattr(module, name, value)
        try:
            yield
        finally:
            for module, name, value in originals:
                setattr(module, name, value)

    def _wrap_executor(self, app: App) -> None:
        """Time every task on the app's listener executor (acks and lazy listeners share it)."""
        executor = app._listener_runner.listener_executor
        if not isinstance(executor, ThreadPoolExecutor):
            return
        original_submit = executor.submit
        probe = self

        def submit(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            signature = getattr(probe._local, "signature", "")
            name = getattr(fn, "__name__", "?")
            queued = time.perf_counter()
            probe.backlog = max(probe.backlog, executor._work_queue.qsize())

            def task() -> Any:
                started = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    ended = time.perf_counter()
                    if name == ACK_TASK and signature:
                        probe.span(signature).marks["ack"] = (queued, started, ended)
                    elif name != ACK_TASK:
                        with probe._lock:
                            probe.lazy.append(Lazy(name, signature, queued, started, ended))

            return original_submit(task)

        executor.submit = submit  # type: ignore[method-assign]


def _signature_of(argument: object) -> str:
    """The Slack signature of what ``bot.slack.web`` hands its thread pool: ``"sig:<signature>"``
    for
    the replay claim, the ``BoltRequest`` for ``dispatch``."""
    if isinstance(argument, str):
        return argument.removeprefix("sig:") if argument.startswith("sig:") else ""
    headers = getattr(argument, "headers", None)
    if isinstance(headers, dict):
        values = headers.get("x-slack-signature") or [""]
        return str(values[0])
    return ""


STAGES = (
    ("verify", "signature check (event loop)"),
    ("claim_wait", "replay claim: wait for a server thread"),
    ("claim_run", "replay claim: SQLite insert + commit"),
    ("dispatch_wait", "Bolt dispatch: wait for a server thread"),
    ("ack_wait", "ack function: wait for a Bolt listener thread"),
    ("ack_run", "ack function: run"),
    ("dispatch_rest", "rest of dispatch (Bolt middleware, `ack` polling every 10 ms)"),
    ("handler_rest", "rest of the handler (event loop hand-offs, parsing)"),
    ("outside", "outside the handler (HTTP, uvicorn, client)"),
)


def breakdown(sample: Sample, span: Span | None) -> dict[str, float] | None:
    """The stages of one request's round trip (seconds), or None if the probe missed a part."""
    if span is None or not span.verify_start or not {"claim_event", "dispatch"} <= set(span.marks):
        return None
    claim_q, claim_s, claim_e = span.marks["claim_event"]
    disp_q, disp_s, disp_e = span.marks["dispatch"]
    ack_q, ack_s, ack_e = span.marks.get("ack", (disp_s, disp_s, disp_s))
    server = disp_e - span.verify_start
    stages = {
        "verify": span.verify_end - span.verify_start,
        "claim_wait": claim_s - claim_q,
        "claim_run": claim_e - claim_s,
        "dispatch_wait": disp_s - disp_q,
        "ack_wait": ack_s - ack_q,
        "ack_run": ack_e - ack_s,
    }
    stages["dispatch_rest"] = (disp_e - disp_s) - stages["ack_wait"] - stages["ack_run"]
    stages["handler_rest"] = (
        server
        - sum(stages[k] for k in ("verify", "claim_wait", "claim_run", "dispatch_wait"))
        - (disp_e - disp_s)
    )
    stages["outside"] = sample.round_trip - server
    return stages


# -- the runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latencies:
    """One kind of request in one round."""

    label: str
    count: int
    errors: int
    values: list[float]

    def at(self, percent: float) -> float:
        return percentile(self.values, percent)


@dataclass
class AckRound:
    """One round of requests: the client's samples and the probe's spans."""

    name: str
    load: Load
    spans: dict[str, Span]
    drain_s: float | None = None
    drained: str = ""
    last_output_s: float = math.nan
    """From the last response to the last Slack call of the lazy listeners (may be < 0)."""
    lazy: list[Lazy] = field(default_factory=list)
    backlog: int = 0
    loop_lags: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    wall_s: float = math.nan
    machine_cpus: float = math.nan
    """How many CPUs the whole machine kept busy on average during the round."""
    collections: list[tuple[int, float, float]] = field(default_factory=list)

    def in_gc(self, sample: Sample, generation: int = 2) -> bool:
        """Whether the request was in flight while the bot collected ``generation``. The client's
        and the bot's ``perf_counter`` are the same clock on Linux (``CLOCK_MONOTONIC``)."""
        return SHARED_CLOCK and any(
            g >= generation and sample.sent < ended and sample.done > started
            for g, started, ended in self.collections
        )

    """CPU time of the bot's process (all its threads) during the round."""

    def kind(self, kind: str) -> Latencies:
        chosen = [s for s in self.load.samples if s.kind == kind]
        return Latencies(
            label=kind,
            count=len(chosen),
            errors=sum(not s.ok for s in chosen),
            values=[s.latency for s in chosen if s.ok],
        )

    def stages(self) -> list[tuple[Sample, dict[str, float]]]:
        rows = []
        for sample in self.load.samples:
            split = breakdown(sample, self.spans.get(sample.signature)) if sample.ok else None
            if split is not None:
                rows.append((sample, split))
        return rows


@dataclass(frozen=True)
class AlertRun:
    """The alert-to-plan round."""

    latencies: list[float]
    acks: list[float]
    missing: int
    with_suspect: int


def machine_jiffies() -> tuple[int, int] | None:
    """(busy, total) CPU time of the whole machine from ``/proc/stat``, None elsewhere."""
    try:
        fields = Path("/proc/stat").read_text(encoding="utf-8").splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def percentile(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile (``nan`` for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def record_bad_deploy(world: BotWorld) -> None:
    """Announce cartservice v1.4.3 in the deploys channel ten minutes ago, as the tests do."""
    event = {
        "type": "message",
        "channel": world.deploys_channel,
        "bot_id": "B0CI",
        "text": "Deployed cartservice from v1.4.2 to v1.4.3 in production by <@U0DEV>",
        "ts": f"{time.time() - 600:.6f}",
        "username": "ci",
    }
    world.post(slack.event_callback(event, secret=world.secret)).raise_for_status()
    world.wait_for(lambda: world.services.store.incidents.changes_of("cartservice"))


def _posts(world: BotWorld, channel: str) -> list[Any]:
    return [c for c in world.slack.calls_to("chat.postMessage") if c.args.get("channel") == channel]


def draft_plan(world: BotWorld) -> tuple[str, str]:
    """``/rollback plan cartservice`` once; the plan's id and its message's ts, for the clicks."""
    before = len(_posts(world, INCIDENT))
    world.post(
        slack.slash_command("plan cartservice", user=ONCALL, channel=INCIDENT, secret=world.secret)
    ).raise_for_status()
    world.wait_for(lambda: len(_posts(world, INCIDENT)) > before)
    plan = world.services.store.plans.latest_live()
    assert plan is not None
    message = world.wait_for(lambda: world.services.store.conversations.plan_message(plan.id))
    return plan.id, message.ts


def ack_round(
    world: BotWorld, probe: Probe, name: str, *, count: int, rate: float, plan: tuple[str, str]
) -> AckRound:
    """Send one round from the client process, then wait for the lazy listeners to drain."""
    probe.reset()
    posts_before = len(_posts(world, INCIDENT))
    ephemerals_before = len(world.slack.calls_to("chat.postEphemeral"))
    cpu_before, wall_before = time.process_time(), time.monotonic()
    machine_before = machine_jiffies()
    with probe.watching():
        load = load_from_another_process(world.server.url, world.secret, *plan, count, rate)
    sent = [s for s in load.samples if s.ok]
    want_posts = sum(1 for s in sent if s.what == "plan cartservice")
    want_ephemerals = sum(1 for s in sent if s.kind == "click")
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    posts: list[Any] = []
    ephemerals: list[Any] = []
    while time.monotonic() < deadline:
        posts = _posts(world, INCIDENT)[posts_before:]
        ephemerals = world.slack.calls_to("chat.postEphemeral")[ephemerals_before:]
        if len(posts) >= want_posts and len(ephemerals) >= want_ephemerals:
            break
        time.sleep(0.05)
    done = len(posts) >= want_posts and len(ephemerals) >= want_ephemerals
    last = max((c.at for c in [*posts, *ephemerals]), default=load.last_response_at)
    result = AckRound(name=name, load=load, spans=dict(probe.spans))
    result.lazy, result.backlog = list(probe.lazy), probe.backlog
    result.loop_lags, result.cpu_s = list(probe.loop_lags), time.process_time() - cpu_before
    result.wall_s = time.monotonic() - wall_before
    result.collections = list(probe.collections)
    machine_after = machine_jiffies()
    if machine_before and machine_after:
        busy = machine_after[0] - machine_before[0]
        total = machine_after[1] - machine_before[1]
        result.machine_cpus = busy / total * (os.cpu_count() or 1) if total else math.nan
    result.last_output_s = (last - load.last_response_at).total_seconds()
    result.drain_s = max(0.0, result.last_output_s) if done else None
    result.drained = (
        f"{len(posts)}/{want_posts} plans posted, {len(ephemerals)}/{want_ephemerals} click answers"
    )
    return result


def alert_event(
    world: BotWorld, ts: str, number: int, *, status: str = "FIRING:1"
) -> dict[str, Any]:
    """An Alertmanager message, as in ``tests/bot/slack/test_slack_bot.py``."""
    title = f"[{status}] CheckoutHighErrorRate{number} checkoutservice"
    return {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0ALERTMGR",
        "channel": world.alerts_channel,
        "ts": ts,
        "text": "",
        "attachments": [
            {
                "color": "danger" if status.startswith("FIRING") else "good",
                "title": title,
                "text": "*Summary:* checkout errors\n*Labels:* service=checkoutservice",
                "fallback": title,
            }
        ],
    }


def alert_round(world: BotWorld, count: int = ALERTS) -> AlertRun:
    """Alerts one at a time; each: from sending the event to its plan reaching the fake Slack.
    Each alert is resolved (and its incident closed) before the next fires: alerts on one
    service within the grouping window would otherwise join one incident and one plan."""
    latencies, acks, missing, with_suspect = [], [], 0, 0
    for number in range(count):
        ts = f"{time.time():.6f}"
        request = slack.event_callback(alert_event(world, ts, number), secret=world.secret)
        sent_at = datetime.now(UTC)
        started = time.perf_counter()
        response = world.post(request)
        acks.append(time.perf_counter() - started)
        response.raise_for_status()

        def posted(ts: str = ts) -> Any:
            found = [
                c for c in _posts(world, world.alerts_channel) if c.args.get("thread_ts") == ts
            ]
            return found[0] if found else None

        deadline = time.monotonic() + ALERT_TIMEOUT_S
        call = posted()
        while call is None and time.monotonic() < deadline:
            time.sleep(0.005)
            call = posted()
        if call is None:
            missing += 1
            continue
        latencies.append((call.at - sent_at).total_seconds())
        with_suspect += "deploy of *cartservice*" in json.dumps(call.args.get("blocks", []))
        _resolve(world, number)
        time.sleep(ALERT_PAUSE_S)
    return AlertRun(latencies=latencies, acks=acks, missing=missing, with_suspect=with_suspect)


def _resolve(world: BotWorld, number: int) -> None:
    """Resolve alert ``number`` and wait until no incident is open (untimed)."""
    event = alert_event(world, f"{time.time():.6f}", number, status="RESOLVED")
    world.post(slack.event_callback(event, secret=world.secret)).raise_for_status()
    plans = world.services.store.plans

    def resolved() -> bool:
        latest = plans.latest_live()
        incident = (
            world.services.store.incidents.incident(latest.plan.incident.id) if latest else None
        )
        return incident is not None and incident.status == "resolved"

    world.wait_for(resolved, timeout=ALERT_TIMEOUT_S)
    world.settle()


# -- the report --------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def _s(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds:.2f} s"


def _meets(value: float, target: float) -> str:
    return "meets" if value <= target else "MISSES"


def ack_lines(quiet: AckRound, loaded: AckRound) -> list[str]:
    lines = [
        "| round | requests | sent | errors | p50 | p95 | p99 | max | "
        f"target p99 ≤ {_ms(TARGET_ACK_P99_S)} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for round_, label in ((loaded, f"**{RATE:.0f}/s for {LOAD_SECONDS:.0f} s**"), (quiet, "")):
        if not label:
            label = f"one every {1000 / QUIET_RATE:.0f} ms"
        for kind, what in (
            ("command", "slash commands (`help`, `plan cartservice`)"),
            ("click", "button clicks (simulate, refused approve)"),
        ):
            row = round_.kind(kind)
            p99 = row.at(99)
            verdict = _meets(p99, TARGET_ACK_P99_S) if round_ is loaded else "-"
            lines.append(
                f"| {label} | {what} | {row.count} | {row.errors} | {_ms(row.at(50))} | "
                f"{_ms(row.at(95))} | **{_ms(p99)}** | {_ms(max(row.values, default=math.nan))} "
                f"| {verdict} |"
            )
    return lines


def stage_lines(quiet: AckRound, loaded: AckRound) -> list[str]:
    rest = quiet.stages()
    busy = loaded.stages()
    cut = percentile([s.round_trip for s, _ in busy], 99)
    slowest = [(s, split) for s, split in busy if s.round_trip >= cut]

    def mean(rows: list[tuple[Sample, dict[str, float]]], key: str) -> float:
        if not rows:
            return math.nan
        if key == "total":
            return statistics.fmean(s.round_trip for s, _ in rows)
        return statistics.fmean(split[key] for _, split in rows)

    def p99(rows: list[tuple[Sample, dict[str, float]]], key: str) -> float:
        return percentile([split[key] for _, split in rows], 99)

    lines = [
        f"| stage | one every {1000 / QUIET_RATE:.0f} ms, mean | {RATE:.0f}/s, mean | "
        f"{RATE:.0f}/s, p99 of the stage | {RATE:.0f}/s, mean over the slowest 1 % "
        f"({len(slowest)} requests) |",
        "|---|---|---|---|---|",
    ]
    for key, label in STAGES:
        lines.append(
            f"| {label} | {_ms(mean(rest, key))} | {_ms(mean(busy, key))} | "
            f"{_ms(p99(busy, key))} | {_ms(mean(slowest, key))} |"
        )
    lines.append(
        f"| **round trip (sent → response)** | {_ms(mean(rest, 'total'))} | "
        f"{_ms(mean(busy, 'total'))} | {_ms(cut)} | {_ms(mean(slowest, 'total'))} |"
    )
    return lines


LAZY_LABELS = {
    "help": "`help` (nothing to do)",
    "plan cartservice": "`plan cartservice` (draft, save, post the plan)",
    "backout_simulate": "simulate click (simulate, answer ephemerally)",
    "backout_approve_plan": "refused approve click (audit, answer ephemerally)",
}


def lazy_lines(loaded: AckRound) -> list[str]:
    """The lazy listeners' queueing and run times, by the request that started them."""
    what = {s.signature: s.what for s in loaded.load.samples}
    lines = [
        "| lazy work after the ack | runs | wait for a listener thread, p50 / p99 | "
        "run, p50 / p99 / max |",
        "|---|---|---|---|",
    ]
    for key, label in LAZY_LABELS.items():
        rows = [t for t in loaded.lazy if what.get(t.signature) == key]
        if not rows:
            continue
        waits = [t.started - t.queued for t in rows]
        runs = [t.ended - t.started for t in rows]
        lines.append(
            f"| {label} | {len(rows)} | {_ms(percentile(waits, 50))} / "
            f"{_ms(percentile(waits, 99))} | {_ms(percentile(runs, 50))} / "
            f"{_ms(percentile(runs, 99))} / {_ms(max(runs))} |"
        )
    if loaded.lazy:
        busy = sum(t.ended - t.started for t in loaded.lazy)
        first = min(t.queued for t in loaded.lazy)
        last = max(t.ended for t in loaded.lazy)
        lines += [
            "",
            f"Lazy work in all: {busy:.1f} thread-seconds over {last - first:.1f} s; at most "
            f"{loaded.backlog} tasks waited at once for Bolt's 5 listener threads.",
        ]
    return lines


def context_lines(loaded: AckRound) -> list[str]:
    """CPU, event loop and garbage collection during the loaded round."""
    bot_cpus = loaded.cpu_s / loaded.wall_s
    client_cpus = loaded.load.cpu_s / loaded.wall_s
    lags = loaded.loop_lags
    lines = [
        f"CPU over the loaded round ({loaded.wall_s:.1f} s, drain included): the machine kept "
        f"{loaded.machine_cpus:.2f} of its {os.cpu_count()} CPUs busy; the bot's process "
        f"{bot_cpus:.2f}, the client {client_cpus:.2f}, anything else on the machine "
        f"{max(0.0, loaded.machine_cpus - bot_cpus - client_cpus):.2f}.",
        f"The bot's event loop woke from {_ms(LOOP_TICK_S)} sleeps {_ms(percentile(lags, 50))} "
        f"late at the median, {_ms(percentile(lags, 99))} at p99, "
        f"{_ms(max(lags, default=math.nan))} at worst (GIL switch interval "
        f"{_ms(sys.getswitchinterval())}).",
    ]
    per_generation = []
    for generation in (0, 1, 2):
        pauses = [e - s for g, s, e in loaded.collections if g == generation]
        per_generation.append(
            f"generation {generation}: {len(pauses)} ({_ms(sum(pauses))} in all, longest "
            f"{_ms(max(pauses, default=0.0))})"
        )
    line = f"Garbage collections in the bot's process: {'; '.join(per_generation)}."
    if SHARED_CLOCK and any(g == 2 for g, _, _ in loaded.collections):
        hit = [s for s in loaded.load.samples if loaded.in_gc(s)]
        clean = {
            kind: [
                s.latency
                for s in loaded.load.samples
                if s.kind == kind and s.ok and not loaded.in_gc(s)
            ]
            for kind in ("command", "click")
        }
        line += (
            f" {len(hit)} requests were in flight during a generation-2 collection (every thread "
            f"stops); without them the p99 is {_ms(percentile(clean['command'], 99))} for "
            f"commands, {_ms(percentile(clean['click'], 99))} for clicks."
        )
    lines.append(line)
    return lines


def table(quiet: AckRound, loaded: AckRound, alerts: AlertRun) -> str:
    """The results as markdown."""
    samples = loaded.load.samples
    late = [s.sent - s.due for s in samples]
    if loaded.drain_s is None:
        drain = f"had not drained {DRAIN_TIMEOUT_S:.0f} s after the last ack ({loaded.drained})"
    elif loaded.last_output_s <= 0:
        drain = (
            f"kept up: all of it ({loaded.drained}) had reached the fake Slack "
            f"{_ms(-loaded.last_output_s)} before the last ack arrived"
        )
    else:
        drain = f"drained {_ms(loaded.last_output_s)} after the last ack ({loaded.drained})"
    alert_p50 = statistics.median(alerts.latencies) if alerts.latencies else math.nan
    alert_p95 = percentile(alerts.latencies, 95)
    alert_max = max(alerts.latencies, default=math.nan)
    lines = [
        "# Slack bot benchmark",
        "",
        f"Generated by `python -m benchmarks.slack` on "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        f"Machine: {machine()}.",
        "The bot: `fakes.world.BotWorld` (uvicorn + Bolt, SQLite file in WAL mode, the fake "
        "Slack and simulated executors, all in one process); the load: a second process with "
        f"{CLIENT_THREADS} threads, one `httpx.Client` each, on 127.0.0.1; every request freshly "
        "signed.",
        "",
        "## Acknowledgement latency",
        "",
        f"Open loop: request *i* is due at start + *i* / rate, whatever happened to the others; "
        "latency is from when it was due to its response. In turn: `/rollback help`, a simulate "
        "click, `/rollback plan cartservice`, an approve click by a user the policy refuses. "
        f"Slack's hard limit is {SLACK_LIMIT_S:.0f} s.",
        "",
        *ack_lines(quiet, loaded),
        "",
        f"Achieved rate {loaded.load.rate:.1f} requests/s; the client sent "
        f"{_ms(percentile(late, 99))} p99 / {_ms(max(late, default=math.nan))} max after the due "
        "time.",
        *context_lines(loaded),
        "",
        f"The background work (lazy listeners) {drain}.",
        "",
        *lazy_lines(loaded),
        "",
        "## Where the ack time goes",
        "",
        "Server-side marks per request (this process wraps `bot.slack.web`'s signature verifier "
        "and "
        "`run_in_threadpool`, and the Bolt app's listener executor), joined to the client's round "
        "trip by signature. The app runs with `process_before_response=True`: the ack runs on the "
        "request's thread and only the lazy listeners go to Bolt's listener executor "
        "(`ThreadPoolExecutor(max_workers=5)`).",
        "",
        *stage_lines(quiet, loaded),
        "",
        "## Alert message → plan in its thread",
        "",
        f"{ALERTS} Alertmanager-style messages in the alerts channel, one at a time (new ts, new "
        "event id), after a bad cartservice deploy was announced; from sending the event to the "
        "fake Slack receiving the `chat.postMessage` in the alert's thread. No LLM.",
        "",
        f"| alerts | plans posted | plan names the bad deploy | event ack, median | median | "
        f"p95 | max | target ≤ {_s(TARGET_ALERT_S)} |",
        "|---|---|---|---|---|---|---|---|",
        f"| {ALERTS} | {len(alerts.latencies)} | {alerts.with_suspect} | "
        f"{_ms(statistics.median(alerts.acks) if alerts.acks else math.nan)} | {_ms(alert_p50)} | "
        f"{_ms(alert_p95)} | **{_ms(alert_max)}** | "
        f"{_meets(alert_max if alerts.missing == 0 else math.inf, TARGET_ALERT_S)} |",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    """Run both measurements, print the table and write ``benchmarks/results-slack.md``."""
    probe = Probe()
    with probe.installed(), tempfile.TemporaryDirectory(prefix="backout-bench-") as folder:
        acks_dir, alerts_dir = Path(folder) / "acks", Path(folder) / "alerts"
        acks_dir.mkdir()
        alerts_dir.mkdir()
        # The load comes from one user on purpose (the ack path is what is measured), so the
        # per-user allowances that protect a real workspace are lifted here.
        unlimited = {"plans_per_user": 10**6, "plans_per_channel": 10**6}
        with BotWorld(
            acks_dir, extra={"limits": {**unlimited, "simulations_per_user": 10**6}}
        ) as world:
            record_bad_deploy(world)
            plan = draft_plan(world)
            quiet = ack_round(
                world, probe, "quiet", count=QUIET_REQUESTS, rate=QUIET_RATE, plan=plan
            )
            print(f"one at a time: {quiet.drained}", file=sys.stderr)
            loaded = ack_round(world, probe, "load", count=LOAD_REQUESTS, rate=RATE, plan=plan)
            for kind in ("command", "click"):
                row = loaded.kind(kind)
                print(
                    f"{RATE:.0f}/s {kind}s: p50 {_ms(row.at(50))}, p99 {_ms(row.at(99))}, "
                    f"max {_ms(max(row.values, default=math.nan))}, {row.errors} errors",
                    file=sys.stderr,
                )
            print(f"drain: {loaded.drain_s} s ({loaded.drained})", file=sys.stderr)
        with BotWorld(alerts_dir) as world:
            record_bad_deploy(world)
            alerts = alert_round(world)
            middle = statistics.median(alerts.latencies) if alerts.latencies else math.nan
            print(
                f"alerts: median {_ms(middle)}, "
                f"max {_ms(max(alerts.latencies, default=math.nan))}, {alerts.missing} missing",
                file=sys.stderr,
            )
    result = table(quiet, loaded, alerts)
    print(result)
    RESULTS.write_text(result, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
