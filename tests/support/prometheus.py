"""A real Prometheus (the Debian package ``prometheus``) on loopback, for the health and e2e tests.

:func:`running_prometheus` writes a temporary configuration (1 s scrape interval, one job that
scrapes the given port), starts ``prometheus`` on a free ``127.0.0.1`` port with its own temporary
TSDB directory, waits for ``/-/ready`` and kills it on exit. Without the binary the tests are
skipped locally, but fail when ``CI`` is set: CI must run them, never skip them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.daemons import serving

__all__ = ["Prometheus", "prometheus_binary", "running_prometheus"]

# Read at import, during collection: an autouse fixture that cleans the environment must not
# make CI look like a laptop.
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")

_DEBIAN_BINARY = "/usr/bin/prometheus"

_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: health_app
    static_configs:
      - targets: ["127.0.0.1:{target_port}"]
"""


@dataclass(frozen=True)
class Prometheus:
    """A running Prometheus: where it listens, and its log file (for failure messages)."""

    base_url: str
    port: int
    log_path: Path


def prometheus_binary() -> str:
    """The ``prometheus`` executable; skips the test (fails it in CI) when it is missing."""
    found = shutil.which("prometheus") or (
        _DEBIAN_BINARY if os.access(_DEBIAN_BINARY, os.X_OK) else None
    )
    if found is None:
        reason = (
            "the prometheus binary is missing; install the Debian package: "
            "apt-get install -y --no-install-recommends prometheus"
        )
        if IN_CI:
            pytest.fail(f"CI is set, so the Prometheus tests must run: {reason}", pytrace=False)
        pytest.skip(reason)
    return found


@contextmanager
def running_prometheus(*, scrape_port: int) -> Iterator[Prometheus]:
    """Run Prometheus scraping ``127.0.0.1:scrape_port`` every second, until the block ends."""
    binary = prometheus_binary()
    with tempfile.TemporaryDirectory(prefix="backout-prometheus-") as tmp:
        workdir = Path(tmp)
        config = workdir / "prometheus.yml"
        config.write_text(_CONFIG.format(target_port=scrape_port))
        log_path = workdir / "prometheus.log"
        argv = [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}"]
        with serving(
            "prometheus",
            lambda port: [*argv, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            workdir=workdir,
            log=log_path,
        ) as port:
            yield Prometheus(base_url=f"http://127.0.0.1:{port}", port=port, log_path=log_path)
