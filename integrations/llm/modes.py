"""Which structured-output mode each endpoint accepts, learnt from its refusals.

Every endpoint starts at ``json_schema``. When it refuses that (llama.cpp's server answers HTTP
500 "response_format type must be one of \"text\" or \"json_object\"", ggml-org/llama.cpp#9522),
the client steps down to ``json_object`` and remembers it for that endpoint; when it refuses that
too, to ``none`` (no model result). One memory can be shared by several clients of a process.
"""

from __future__ import annotations

import threading

from integrations.llm.outcome import StructuredMode

__all__ = ["ModeMemory"]

_NEXT = {
    StructuredMode.JSON_SCHEMA: StructuredMode.JSON_OBJECT,
    StructuredMode.JSON_OBJECT: StructuredMode.NONE,
    StructuredMode.NONE: StructuredMode.NONE,
}


class ModeMemory:
    """Endpoint → the best mode not (yet) refused there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._modes: dict[str, StructuredMode] = {}

    def get(self, endpoint: str) -> StructuredMode:
        with self._lock:
            return self._modes.get(endpoint, StructuredMode.JSON_SCHEMA)

    def refused(self, endpoint: str, mode: StructuredMode) -> StructuredMode:
        """Record that ``endpoint`` refused ``mode``; returns the mode to try next."""
        step = _NEXT[mode]
        with self._lock:
            current = self._modes.get(endpoint, StructuredMode.JSON_SCHEMA)
            order = list(StructuredMode)
            if order.index(step) > order.index(current):
                self._modes[endpoint] = step
            return self._modes.get(endpoint, step)

    def __repr__(self) -> str:
        with self._lock:
            return f"ModeMemory({dict(self._modes)!r})"
