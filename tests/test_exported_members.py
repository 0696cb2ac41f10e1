"""Each package's public surface: ``__all__`` is sorted and names only what exists (httpx style).

Sorted the way ruff's RUF022 sorts: constants, then classes, then functions, each alphabetically.
"""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "planners",
    "planners.model",
    "planners.topology",
    "planners.graph",
    "planners.suspects",
    "planners.steps",
    "planners.schedule",
    "planners.planner",
    "planners.explain",
    "planners.errors",
    "planners.evidence",
    "planners.answers",
    "planners.validate",
    "planners.refine",
    "planners.llm",
    "integrations.alerts",
    "integrations.topology",
    "integrations.deploys",
    "integrations.executors",
    "integrations.health",
    "integrations.errors",
    "integrations.llm",
    "prompts",
    "bot.lifecycle",
    "bot.store",
    "bot.core.ports",
    "bot.core.policy",
    "bot.core.usecases",
    "bot.slack.handlers",
    "bot.slack.views",
    "bot.slack.channels",
    "fakes",
    "tests.support",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name):
    """``__all__`` is sorted, and every name in it is defined in the module."""
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=_isort_key)
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == []


def _isort_key(name: str) -> tuple[int, str]:
    if name.isupper():
        return (0, name)
    return (1 if name[:1].isupper() else 2, name)
