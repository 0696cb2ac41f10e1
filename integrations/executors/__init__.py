"""Executors: the adapters that change things (DESIGN.md, "Real parts and their fakes").

Each module implements :class:`integrations.base.Executor` for one kind of target and has a
``from_config`` factory. :func:`builtin_executors` returns a fresh registry of them by kind; the
composition root (``bot/runtime/services.py``) builds the configured ones at startup.
"""

from __future__ import annotations

from integrations.executors.argocd import ArgoCDExecutor
from integrations.executors.builtin import builtin_executors
from integrations.executors.feature_flags import HttpFlagExecutor
from integrations.executors.helm import HelmExecutor
from integrations.executors.kubernetes import KubernetesExecutor
from integrations.executors.simulated import SimulatedExecutor
from integrations.executors.webhook import WebhookExecutor

__all__ = [
    "ArgoCDExecutor",
    "HelmExecutor",
    "HttpFlagExecutor",
    "KubernetesExecutor",
    "SimulatedExecutor",
    "WebhookExecutor",
    "builtin_executors",
]
