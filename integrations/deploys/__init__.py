"""Change sources: records of deploys, config and flag changes, migrations, in normalised form.

The inbound adapter for changes (DESIGN.md, "Flow of data"). Today it reads Backout's own
normalised change list (``backout plan --changes FILE``, :mod:`.normalised`): a JSON list of
objects with the fields of :class:`planners.model.Change`. Vendor deploy events (GitHub, Argo CD,
Slack announcements) will plug in beside it.
"""

from __future__ import annotations

from integrations.deploys.errors import ChangeFormatError
from integrations.deploys.normalised import parse_changes

__all__ = ["ChangeFormatError", "parse_changes"]
