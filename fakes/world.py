"""A whole running Backout for the tests, the demo and the benchmarks: the fake Slack, the bot's
real HTTP server, a SQLite store, the bundled Online Boutique topology, simulated executors and a
scripted health gate. Everything on 127.0.0.1; nothing talks to the internet.

``with BotWorld(tmp_path) as world:`` then drive it with :meth:`BotWorld.post` (signed requests
built by :mod:`fakes.signing`) and read what Slack received from ``world.slack``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from bot.core.health import HealthResult
from bot.runtime.scheduler import start_scheduler
from bot.runtime.services import Services, build_services, slack_app, web_app
from bot.runtime.settings import Settings
from fakes.bot_server import BotServer
from fakes.signing import SignedRequest
from fakes.slack import FakeSlack
from integrations.executors.simulated import SimulatedExecutor
from planners.model import Action

__all__ = ["BotWorld", "ScriptedHealth"]

EXAMPLE = Path(str(resources.files("fakes") / "onlineboutique"))
"""The bundled Online Boutique (topology, changes, alert, config): package data of ``fakes``."""
SECRET = "8e3f0b6c2a9d4e17b5c0f1a2d3e4b5c6"  # noqa: S105 - the fixtures' fake test secret
TOKEN = "xoxb-backout-test"  # noqa: S105 - accepted by the fake Slack only
ALERTS = "C0ALERTS"
DEPLOYS = "C0DEPLOYS"
ONCALL = "U0ONCALL1"
ONCALL_2 = "U0ONCALL2"
STRANGER = "U0STRANGER"


@dataclass
class ScriptedHealth:
    """A health gate that reads the simulated cluster: a service is healthy once none of the
    ``bad`` versions runs on it. Records what it was asked."""

    executor: SimulatedExecutor
    bad: Mapping[str, str]
    asked: list[tuple[str, ...]] = field(default_factory=list)

    def __call__(self, services: Sequence[str]) -> HealthResult:
        self.asked.append(tuple(services))
        still_bad = [s for s, v in self.bad.items() if self.executor.version(s) == v]
        if still_bad:
            return HealthResult(
                healthy=False, reason=f"errors while {', '.join(still_bad)} runs the bad version"
            )
        return HealthResult(healthy=True, reason="error ratio back under 5 %")


class BotWorld:
    """A running bot with its fakes; see the module docstring."""

    def __init__(
        self,
        workdir: Path,
        *,
        mode: str = "approve",
        versions: Mapping[str, str] | None = None,
        bad: Mapping[str, str] | None = None,
        approvers: Sequence[str] = (ONCALL, ONCALL_2),
        clock: Callable[[], datetime] | None = None,
        step_seconds: float = 0.05,
        extra: Mapping[str, Any] | None = None,
        alert_senders: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.slack = FakeSlack(usergroups={"S0ONCALL": list(approvers)})
        self.executor = SimulatedExecutor(
            versions=dict(versions or {"cartservice": "v1.4.3", "currencyservice": "v2.3.1"}),
            durations={Action.ROLLBACK_DEPLOY: step_seconds},
        )
        self.health = ScriptedHealth(self.executor, dict(bad or {"cartservice": "v1.4.3"}))
        self.mode = mode
        self.clock = clock or (lambda: datetime.now(UTC))
        self.extra = dict(extra or {})
        self.alert_senders = list(alert_senders)
        self.secret = SECRET
        self.alerts_channel, self.deploys_channel = ALERTS, DEPLOYS

    def __enter__(self) -> BotWorld:
        self.slack.start()
        settings = Settings(
            slack_bot_token=TOKEN,
            slack_signing_secret=SECRET,
            slack_api_url=self.slack.api_url,
            database_url=f"sqlite:///{self.workdir / 'backout.db'}",
            mode=self.mode,
            topology=[str(EXAMPLE / "topology.yaml")],
            channels={
                "alerts": [ALERTS],
                "deploys": [DEPLOYS],
                "alert_senders": self.alert_senders,
            },
            policy={"approvers": ["S0ONCALL"]},
            engine={"lease_seconds": 10, "backoff_seconds": 0.05},
            # The example catalog's checks are bare PromQL and the world has no Prometheus:
            # deploy watches are off unless a test turns them on (with a prometheus_url).
            **{"watches": {"enabled": False}, **self.extra},
        )
        self.services: Services = build_services(
            settings,
            clock=self.clock,
            health=self.health,
            executors={"kubernetes": self.executor},
        )
        self.services.notifier.graphs = False
        app = slack_app(settings, self.services)
        self.server = BotServer(web_app(app, self.services, settings=settings)).__enter__()
        self.scheduler = start_scheduler(self.services, seconds=0.5)
        self.http = httpx.Client(base_url=self.server.url, timeout=10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.http.close()
        self.scheduler.shutdown(wait=True)
        self.server.__exit__()
        self.services.close()
        self.slack.stop()

    def post(self, request: SignedRequest, **headers: str) -> httpx.Response:
        """POST a signed request to the bot's ``/slack/events``."""
        return self.http.post(
            "/slack/events", content=request.body, headers={**request.headers, **headers}
        )

    def settle(self, *, timeout: float = 10.0) -> None:
        """Wait until the bot has nothing left to do: no handler running, no plan run going, no
        step move waiting to be shown, no step queued or running, nothing in the outbox and no
        outbox flush under way (fails after ``timeout``)."""
        services = self.services

        def idle() -> bool:
            return (
                services.listeners.idle
                and services.runner.idle
                and services.deliveries.idle
                and not services.notifier.flushing
                and not services.store.steps.in_status(["queued", "running"], limit=1)
                and services.store.conversations.pending_count() == 0
            )

        # Twice in a row: a handler that just finished may have handed work to the runner.
        self.wait_for(lambda: idle() and idle(), timeout=timeout)

    def wait_for(self, condition: Callable[[], Any], *, timeout: float = 10.0) -> Any:
        """Poll until ``condition()`` is truthy; returns its value (fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError(f"condition not met within {timeout} s")
