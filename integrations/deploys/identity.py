"""When two change records are one deploy: the same release told by several sources.

Part of the change sources (:mod:`integrations.deploys`). CI (a GitHub ``deployment_status``),
the GitOps controller (an Argo CD notification) and a bot's message in Slack may all announce
the deploy of ``checkoutservice`` ``v1.8.2``, each with its own id and a slightly different
time. They are one deploy when different sources name the same service and version (``v1.8.2``
and ``1.8.2`` agree, and so do a short and a full commit sha), the same environment when both
name one, and lie within :data:`SAME_DEPLOY_WINDOW` of each other. One source's own records are
always distinct (it tells them apart by their ids). The store keeps the first record and notes
the others (:mod:`bot.store.changes`).
"""

from __future__ import annotations

import re
from datetime import timedelta

from integrations.deploys.environment import environment_of, same_environment
from planners.model import Change, ChangeKind

__all__ = ["SAME_DEPLOY_WINDOW", "same_deploy", "same_version"]

SAME_DEPLOY_WINDOW = timedelta(minutes=15)
"""How far apart two sources may date one deploy (CI marks it done; Argo CD syncs later)."""

_SHA = re.compile(r"[0-9a-f]{7,40}")
_TAG = re.compile(r"^[vV](?=\d)")


def same_version(first: str, second: str) -> bool:
    """Whether two sources name the same version: equal ignoring case and a leading ``v``
    before a digit, or one commit sha a prefix of the other (both at least 7 hex digits)."""
    a, b = _TAG.sub("", first, count=1).casefold(), _TAG.sub("", second, count=1).casefold()
    if a == b:
        return True
    if _SHA.fullmatch(a) and _SHA.fullmatch(b):
        return a.startswith(b) or b.startswith(a)
    return False


def same_deploy(first: Change, second: Change, *, window: timedelta = SAME_DEPLOY_WINDOW) -> bool:
    """Whether two change records are the same deploy told twice, by two sources.

    Both must be deploys of one service to one known version, dated within ``window`` of each
    other, in the same environment when both records name one, from different sources: one
    source's two records with two ids are two of its events (a failed attempt and its retry).
    """
    if first.kind != ChangeKind.DEPLOY or second.kind != ChangeKind.DEPLOY:
        return False
    if first.source == second.source:  # a source tells its own events apart by their ids
        return False
    if first.service != second.service or not first.to_version or not second.to_version:
        return False
    if abs(first.at - second.at) > window:
        return False
    if not same_version(first.to_version, second.to_version):
        return False
    here, there = environment_of(first), environment_of(second)
    return here is None or there is None or same_environment(here, there)
