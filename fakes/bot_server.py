"""The bot's real ASGI app served by uvicorn on a free loopback port, in a background thread,
for the tests, the demo and the benchmarks."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette

__all__ = ["BotServer"]


class BotServer:
    """``with BotServer(web) as server: httpx.post(server.url + "/slack/events", …)``."""

    def __init__(self, web: Starlette) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            web,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="bot-server", daemon=True)

    def __enter__(self) -> BotServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the bot's HTTP server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
