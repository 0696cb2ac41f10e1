"""A real Alertmanager (the Debian package ``prometheus-alertmanager``) on loopback, for the
end-to-end tests of alert delivery.

:func:`running_alertmanager` starts ``prometheus-alertmanager`` on a free ``127.0.0.1`` port with
clustering off (``--cluster.listen-address=``), its own temporary storage, and a configuration
whose only receiver discards everything; it waits for ``/-/ready`` and stops the process on exit.
The test then points it at the bot with :meth:`Alertmanager.configure` (the file is rewritten and
``POST /-/reload`` applied, so the bot and the fake Slack can be started first and their ports
known), and drives it through its API (https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml):
:meth:`Alertmanager.fire` posts alerts to ``POST /api/v2/alerts`` with ``startsAt`` and a future
``endsAt``; :meth:`Alertmanager.resolve` posts them again with ``endsAt`` now, which is how a
Prometheus resolves an alert. The route has short timers (``group_wait`` 1 s, ``group_interval``
1 s) so a notification leaves within about two seconds; ``group_wait`` is long enough that alerts
posted together are in one notification even on a loaded machine (at 100 ms, a group was once
split in two under load, and its first half named a service). Tests wait for outcomes by
polling, and :meth:`Alertmanager.sent` (the notifications an integration has finished sending,
read from Alertmanager's own ``/metrics``) tells them when Alertmanager has done its part.

Without the binary the tests are skipped locally, but fail when ``CI`` is set: CI must run them,
never skip them (as for Prometheus in :mod:`tests.support.prometheus`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.daemons import log_tail, serving
from tests.support.prometheus import IN_CI

__all__ = ["Alertmanager", "alertmanager_binary", "running_alertmanager"]

_DEBIAN_BINARY = "/usr/bin/prometheus-alertmanager"
_NULL = {"name": "null"}
"""A receiver without integrations: what Alertmanager routes to, it drops."""


@dataclass(frozen=True)
class Alertmanager:
    """A running Alertmanager: where it listens, its working folder and its log file."""

    base_url: str
    port: int
    workdir: Path
    log_path: Path

    @property
    def config_path(self) -> Path:
        """The configuration file it runs on."""
        return self.workdir / "alertmanager.yml"

    def configure(
        self,
        *,
        receivers: Sequence[Mapping[str, Any]],
        templates: Sequence[Path] = (),
        routes: Sequence[Mapping[str, Any]] = (),
        repeat_interval: str = "1h",
        resolve_timeout: str = "1m",
    ) -> None:
        """Route every alert to the first of ``receivers`` on the default route (no
        ``group_by``: one group for everything), with short timers, and reload.

        Args:
            receivers: Alertmanager ``receivers`` entries; the first is the route's.
            templates: template files to load (``templates:``).
            routes: child routes (``matchers`` and ``receiver``), tried before the default.
            repeat_interval: how soon an unchanged firing group is notified again.
            resolve_timeout: when an alert posted without ``endsAt`` counts as resolved.
        """
        config = {
            "global": {"resolve_timeout": resolve_timeout},
            "route": {
                "receiver": receivers[0]["name"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": repeat_interval,
                "routes": [dict(r) for r in routes],
            },
            "receivers": [dict(r) for r in receivers],
            "templates": [str(path) for path in templates],
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        with self._client() as http:
            answer = http.post("/-/reload")
        if answer.status_code != 200:
            pytest.fail(f"alertmanager refused its configuration: {answer.text}", pytrace=False)

    def fire(
        self,
        *labels: Mapping[str, str],
        annotations: Mapping[str, str] | None = None,
        started: timedelta = timedelta(minutes=2),
    ) -> None:
        """Post firing alerts (one per label set), started ``started`` ago, ending in an hour
        unless posted again (as Prometheus keeps re-sending a firing alert)."""
        now = datetime.now(UTC)
        self._post(labels, annotations, starts=now - started, ends=now + timedelta(hours=1))

    def resolve(
        self,
        *labels: Mapping[str, str],
        annotations: Mapping[str, str] | None = None,
        started: timedelta = timedelta(minutes=2),
    ) -> None:
        """Post the alerts again with ``endsAt`` now: Alertmanager marks them resolved."""
        now = datetime.now(UTC)
        self._post(labels, annotations, starts=now - started, ends=now)

    def active(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts that have not ended."""
        with self._client() as http:
            answer = http.get("/api/v2/alerts")
        answer.raise_for_status()
        alerts: list[dict[str, Any]] = answer.json()
        return alerts

    def sent(self, integration: str) -> int:
        """How many notifications ``integration`` (``webhook``, ``slack``) has finished sending,
        successfully or not: the count of ``alertmanager_notification_latency_seconds``, which
        Alertmanager observes once the receiver has answered."""
        with self._client() as http:
            answer = http.get("/metrics")
        answer.raise_for_status()
        pattern = re.compile(
            r'^alertmanager_notification_latency_seconds_count\{integration="'
            + re.escape(integration)
            + r'"\}\s+(\S+)$',
            re.MULTILINE,
        )
        match = pattern.search(answer.text)
        return int(float(match.group(1))) if match else 0

    def failed(self, integration: str) -> int:
        """How many notifications ``integration`` failed to deliver."""
        with self._client() as http:
            answer = http.get("/metrics")
        answer.raise_for_status()
        pattern = re.compile(
            r'^alertmanager_notifications_failed_total\{integration="'
            + re.escape(integration)
            + r'"\}\s+(\S+)$',
            re.MULTILINE,
        )
        match = pattern.search(answer.text)
        return int(float(match.group(1))) if match else 0

    def log(self) -> str:
        """The end of its log, for failure messages."""
        return log_tail(self.log_path)

    def _post(
        self,
        labels: Sequence[Mapping[str, str]],
        annotations: Mapping[str, str] | None,
        *,
        starts: datetime,
        ends: datetime,
    ) -> None:
        body = [
            {
                "labels": dict(labelset),
                "annotations": dict(annotations or {}),
                "startsAt": _iso(starts),
                "endsAt": _iso(ends),
                "generatorURL": "http://prometheus.example.com:9090/graph",
            }
            for labelset in labels
        ]
        with self._client() as http:
            answer = http.post("/api/v2/alerts", content=json.dumps(body).encode())
        if answer.status_code != 200:
            pytest.fail(f"alertmanager refused the alerts: {answer.text}", pytrace=False)

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            timeout=5.0,
            trust_env=False,
            headers={"Content-Type": "application/json"},
        )


def alertmanager_binary() -> str:
    """The Alertmanager executable; skips the test (fails it in CI) when it is missing."""
    found = (
        shutil.which("prometheus-alertmanager")
        or shutil.which("alertmanager")
        or (_DEBIAN_BINARY if os.access(_DEBIAN_BINARY, os.X_OK) else None)
    )
    if found is None:
        reason = (
            "the alertmanager binary is missing; install the Debian package: "
            "apt-get install -y --no-install-recommends prometheus-alertmanager"
        )
        if IN_CI:
            pytest.fail(f"CI is set, so the Alertmanager tests must run: {reason}", pytrace=False)
        pytest.skip(reason)
    return found


@contextmanager
def running_alertmanager() -> Iterator[Alertmanager]:
    """Run Alertmanager (dropping every alert until :meth:`Alertmanager.configure`), until the
    block ends."""
    binary = alertmanager_binary()
    with tempfile.TemporaryDirectory(prefix="backout-alertmanager-") as tmp:
        workdir = Path(tmp)
        log_path = workdir / "alertmanager.log"
        config = workdir / "alertmanager.yml"
        config.write_text(yaml.safe_dump({"route": {"receiver": "null"}, "receivers": [_NULL]}))
        argv = [
            binary,
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]
        with serving(
            "alertmanager",
            lambda port: [
                *argv,
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url=http://127.0.0.1:{port}",
            ],
            workdir=workdir,
            log=log_path,
        ) as port:
            yield Alertmanager(
                base_url=f"http://127.0.0.1:{port}", port=port, workdir=workdir, log_path=log_path
            )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
