"""The alert package names its formats (``__all__`` is checked in test_exported_members)."""

from __future__ import annotations

import integrations.alerts as alerts


def test_formats_lists_the_five_vendors() -> None:
    """FORMATS names every supported format once."""
    assert sorted(alerts.FORMATS) == ["alertmanager", "datadog", "grafana", "opsgenie", "pagerduty"]
