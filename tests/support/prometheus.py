"""A real Prometheus (the Debian package ``prometheus``) on loopback, for the health and e2e tests.

:func:`running_prometheus` writes a temporary configuration (1 s scrape interval, one job that
scrapes the given port), starts ``prometheus`` on a free ``127.0.0.1`` port with its own temporary
TSDB directory, waits for ``/-/ready`` and kills it on exit. Without the binary the tests are
skipped locally, but fail when ``CI`` is set: CI must run them, never skip them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.loopback import free_port

__all__ = ["Prometheus", "prometheus_binary", "running_prometheus"]

# Read at import, during collection: an autouse fixture that cleans the environment must not
# make CI look like a laptop.
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")

_DEBIAN_BINARY = "/usr/bin/prometheus"
_READY_TIMEOUT = 30.0
_ATTEMPTS = 3

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
        for attempt in range(1, _ATTEMPTS + 1):
            port = free_port()
            process = _start(binary, config=config, workdir=workdir, port=port, log=log_path)
            try:
                if _wait_ready(process, port=port):
                    yield Prometheus(
                        base_url=f"http://127.0.0.1:{port}", port=port, log_path=log_path
                    )
                    return
            finally:
                _stop(process)
            # It exited before it was ready, most likely because another process took the port
            # between free_port and its bind; try another port.
            if attempt == _ATTEMPTS:
                pytest.fail(f"prometheus did not become ready:\n{_tail(log_path)}", pytrace=False)


def _start(
    binary: str, *, config: Path, workdir: Path, port: int, log: Path
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )


def _wait_ready(process: subprocess.Popen[bytes], *, port: int) -> bool:
    """Poll ``/-/ready``; False when the process exits first. Fails the test on a timeout."""
    deadline = time.monotonic() + _READY_TIMEOUT
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=1.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                if http.get("/-/ready").status_code == 200:
                    return True
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.1)
    pytest.fail(f"prometheus was not ready after {_READY_TIMEOUT:g} s", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _tail(path: Path, *, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
