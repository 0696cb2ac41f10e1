"""Health checks, and verifying that a service stays healthy after a rollback step.

Adapters: :class:`PrometheusHealthCheck` (``prometheus.py``) and :class:`HttpProbe`
(``http_probe.py``); :func:`verify` and :class:`AllOf` (``verify.py``) read them until healthy;
:func:`checks_from_catalog` (``catalog.py``) builds a service's checks from its catalog entry.
"""

from __future__ import annotations

from integrations.health.catalog import ServiceHealth, checks_from_catalog
from integrations.health.http_probe import HttpProbe
from integrations.health.prometheus import PrometheusHealthCheck
from integrations.health.verify import (
    DEFAULT_CONSECUTIVE,
    DEFAULT_INTERVAL,
    DEFAULT_TIMEOUT,
    AllOf,
    Verdict,
    verify,
)

__all__ = [
    "DEFAULT_CONSECUTIVE",
    "DEFAULT_INTERVAL",
    "DEFAULT_TIMEOUT",
    "AllOf",
    "HttpProbe",
    "PrometheusHealthCheck",
    "ServiceHealth",
    "Verdict",
    "checks_from_catalog",
    "verify",
]
