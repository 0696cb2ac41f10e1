"""Waiting for an outcome in tests: poll a condition until it holds, never sleep a fixed time and
then look."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["wait_until"]


def wait_until(condition: Callable[[], Any], *, timeout: float = 10.0, every: float = 0.01) -> Any:
    """Poll ``condition`` until it returns something truthy, and return that.

    Raises:
        AssertionError: it did not within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout:.0f} s: {condition}")
        time.sleep(every)
