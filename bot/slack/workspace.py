"""One workspace: Backout holds one bot token and no installation store, so it serves the
workspace that token belongs to and nothing else.

The workspace is learned once, at start, from ``auth.test`` (its ``team_id`` and, in an
Enterprise Grid organisation, ``enterprise_id``). :func:`only_this_workspace` is the Bolt
middleware that refuses every request from another ``team_id`` or enterprise, in one place: a
slash command gets a short answer (Slack shows it to the one who typed it), anything else (an
event, a click) is acknowledged with an empty 200 and dropped, and each refusal is logged in one
line. Which team a request is from is Bolt's reading (``context.team_id``,
``context.enterprise_id``): an event's ``authorizations[0]`` before its ``team_id`` (so events of
a Slack Connect channel count as this workspace's installation), a click's ``team.id``, a
command's ``team_id``. Slack's ``url_verification`` and ``ssl_check`` never get here: Bolt
answers them before any middleware of ours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt import BoltContext, BoltResponse

__all__ = ["REFUSAL", "Workspace", "WorkspaceError", "only_this_workspace"]

log = logging.getLogger(__name__)

REFUSAL = "Backout serves one Slack workspace, and not this one: nothing was done."
"""The answer to a slash command from another workspace (plain text; nothing in it to escape)."""


class WorkspaceError(ValueError):
    """``auth.test`` did not name one workspace (an organisation-wide token, or no team)."""


@dataclass(frozen=True)
class Workspace:
    """The one workspace Backout serves."""

    team_id: str
    enterprise_id: str | None = None

    @classmethod
    def from_auth_test(cls, answer: Mapping[str, Any]) -> Workspace:
        """The workspace of the bot token that ``answer`` (``auth.test``'s) describes.

        Raises:
            WorkspaceError: an organisation-wide installation, or no ``team_id``.
        """
        if answer.get("is_enterprise_install"):
            raise WorkspaceError(
                "the bot token belongs to an organisation-wide (Enterprise Grid) installation; "
                "Backout serves one workspace: install it in one workspace and use that "
                "workspace's bot token"
            )
        team = answer.get("team_id")
        if not isinstance(team, str) or not team:
            raise WorkspaceError("auth.test named no team_id for the bot token")
        enterprise = answer.get("enterprise_id")
        return cls(team_id=team, enterprise_id=str(enterprise) if enterprise else None)

    def admits(self, team_id: str | None, enterprise_id: str | None) -> bool:
        """Whether a request from ``team_id`` (in ``enterprise_id``, if any) is this workspace's.

        A request that names no team is not; one that names another enterprise is not either.
        """
        return team_id == self.team_id and enterprise_id in (None, self.enterprise_id)


def only_this_workspace(workspace: Workspace) -> Callable[..., BoltResponse]:
    """The Bolt middleware refusing requests from any other workspace (see the module)."""

    def middleware(
        context: BoltContext, body: dict[str, Any], next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        team, enterprise = context.team_id, context.enterprise_id
        if workspace.admits(team, enterprise):
            return next()
        command = body.get("command")
        what = f"command {command}" if command else str(body.get("type") or "request")
        log.warning(
            "refused a %s from team %s%s: Backout serves team %s only",
            what,
            team or "(none)",
            f" in enterprise {enterprise}" if enterprise else "",
            workspace.team_id,
        )
        if command:
            return BoltResponse(status=200, body=REFUSAL)
        return BoltResponse(status=200, body="")

    return middleware
