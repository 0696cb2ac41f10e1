"""Running a real server binary (Prometheus, Alertmanager) on a free loopback port for a test:
start it, poll its ``/-/ready`` until it answers, stop it at the end. A server that exits before
it is ready most likely lost its port to another process between :func:`free_port` and its bind,
so it is started again on another port, up to three times."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.loopback import free_port

__all__ = ["log_tail", "serving"]

_READY_TIMEOUT = 30.0
_ATTEMPTS = 3


@contextmanager
def serving(
    name: str, argv: Callable[[int], Sequence[str]], *, workdir: Path, log: Path
) -> Iterator[int]:
    """Run ``argv(port)`` in ``workdir`` (output appended to ``log``) until it is ready, and
    yield the port; stop the process when the block ends. Fails the test when it never is."""
    for attempt in range(1, _ATTEMPTS + 1):
        port = free_port()
        with log.open("ab") as out:
            process = subprocess.Popen(
                list(argv(port)),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )
        try:
            if _ready(name, process, port=port, log=log):
                yield port
                return
        finally:
            _stop(process)
        if attempt == _ATTEMPTS:
            pytest.fail(f"{name} did not become ready:\n{log_tail(log)}", pytrace=False)


def log_tail(path: Path, *, lines: int = 30) -> str:
    """The last lines of a server's log, for a failure message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _ready(name: str, process: subprocess.Popen[bytes], *, port: int, log: Path) -> bool:
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
            time.sleep(0.05)
    pytest.fail(f"{name} was not ready after {_READY_TIMEOUT:g} s:\n{log_tail(log)}", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
