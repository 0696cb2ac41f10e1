"""Alert webhook parsers: vendor payloads in, normalised :class:`planners.model.Alert` out.

The inbound adapter for alerts (DESIGN.md, "Flow of data"). The format is recognised from the body
alone, never from a header, URL or file name, and each vendor module turns it into alerts whose
service is the first present label of a configurable list, taken verbatim. Alert text is
untrusted data: it is stored as strings and never evaluated. Supported: Alertmanager (webhook v4),
Grafana unified alerting, PagerDuty V3, Datadog and Opsgenie webhooks. :class:`AlertmanagerAPI`
reads Alertmanager's API for the alerts behind a notification that does not carry their labels.
"""

from __future__ import annotations

from integrations.alerts.alertmanager_api import AlertmanagerAPI, GroupAlert
from integrations.alerts.errors import AlertFormatError
from integrations.alerts.formats import (
    DEFAULT_SERVICE_LABELS,
    FORMATS,
    GROUP_SIZE_LABEL,
    detect_format,
    parse_alerts,
)

__all__ = [
    "DEFAULT_SERVICE_LABELS",
    "FORMATS",
    "GROUP_SIZE_LABEL",
    "AlertFormatError",
    "AlertmanagerAPI",
    "GroupAlert",
    "detect_format",
    "parse_alerts",
]
