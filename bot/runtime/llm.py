"""The configured model, built once from the ``llm:`` settings for whoever uses it: the command
line (``backout plan --llm``, ``backout explain``) and the running bot (explanations edited into
plan messages, ``/rollback explain``).

:func:`build_client` turns :class:`bot.runtime.settings.LLMSettings` into an
:class:`integrations.llm.OpenAIChatClient` (None without a ``model``); :class:`OneDeadline` is
that client with one deadline (``llm.deadline_seconds``) shared by all of one plan's calls,
which is the :class:`planners.llm.StructuredModel` the planner glue asks.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

import prompts
from bot.runtime.settings import LLMSettings
from integrations.llm import CallRecorder, Deadline, LLMConfig, OpenAIChatClient
from planners.llm import ModelAnswer

__all__ = ["OneDeadline", "build_client"]

M = TypeVar("M", bound=BaseModel)


def build_client(
    settings: LLMSettings, *, recorder: CallRecorder | None = None
) -> OpenAIChatClient | None:
    """The configured model's client, or None when no model is configured.

    Args:
        settings: the ``llm:`` section.
        recorder: receives one record per call (the bot's metrics, the CLI's record).

    Raises:
        integrations.errors.ConfigError: the settings cannot make a client (one line).
    """
    if not settings.enabled:
        return None
    config = LLMConfig(**settings.client_options())
    return OpenAIChatClient(config=config, recorder=recorder)


class OneDeadline:
    """The client with one deadline shared by all of a plan's calls (make one per plan)."""

    def __init__(self, client: OpenAIChatClient) -> None:
        self._client = client
        self._deadline: Deadline = client.deadline()

    def structured(self, prompt: prompts.RenderedPrompt, schema: type[M]) -> ModelAnswer[M]:
        """Ask the model within the plan's deadline."""
        return self._client.structured(prompt, schema, deadline=self._deadline)
