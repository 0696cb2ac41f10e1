"""The built-in executors, by kind: the registry the composition root starts from.

``bot/runtime/services.py`` builds the executors the settings name from this registry at startup;
a plugin's executors can be registered on it beside them.
"""

from __future__ import annotations

from integrations.base import Executor
from integrations.executors.argocd import ArgoCDExecutor
from integrations.executors.feature_flags import HttpFlagExecutor
from integrations.executors.helm import HelmExecutor
from integrations.executors.kubernetes import KubernetesExecutor
from integrations.executors.simulated import SimulatedExecutor
from integrations.executors.webhook import WebhookExecutor
from integrations.registry import Registry

__all__ = ["builtin_executors"]


def builtin_executors() -> Registry[Executor]:
    """A new registry holding every built-in executor factory under its ``kind``."""
    registry: Registry[Executor] = Registry(port="executor")
    for cls in (
        ArgoCDExecutor,
        HelmExecutor,
        HttpFlagExecutor,
        KubernetesExecutor,
        SimulatedExecutor,
        WebhookExecutor,
    ):
        registry.register(cls.kind, cls.from_config)
    return registry
