"""Change sources: records of deploys, config and flag changes, migrations, in normalised form.

The inbound adapter for changes (DESIGN.md, "Flow of data"). It reads Backout's own normalised
change list (``backout plan --changes FILE`` and ``POST /webhooks/changes``,
:mod:`.normalised`): JSON objects with the fields of :class:`planners.model.Change`; and the
deploy events of two vendors, each in its module: a GitHub ``deployment_status``
(:func:`.github.parse_deployment_status`) and an Argo CD notification made by Backout's template
(:func:`.argocd.parse_notification`). An event that is well formed but records nothing (a
deployment still queued) is :class:`Ignored`. One deploy told by several sources is recognised
by :func:`same_deploy`; its environment is the label :func:`environment_of` reads.
"""

from __future__ import annotations

from integrations.deploys.environment import (
    PRODUCTION_ENVIRONMENTS,
    environment_of,
    is_production,
)
from integrations.deploys.errors import ChangeFormatError
from integrations.deploys.identity import SAME_DEPLOY_WINDOW, same_deploy
from integrations.deploys.ignored import Ignored
from integrations.deploys.normalised import parse_changes

__all__ = [
    "PRODUCTION_ENVIRONMENTS",
    "SAME_DEPLOY_WINDOW",
    "ChangeFormatError",
    "Ignored",
    "environment_of",
    "is_production",
    "parse_changes",
    "same_deploy",
]
