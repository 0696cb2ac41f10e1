"""Who may read a plan: see it (``/rollback status``, ``history``) or have its steps previewed
(``/rollback simulate``, the *Simulate* button), which runs the executors' dry runs with
production credentials (issue 11, item 1).

A plan is for the people of the channel it is posted in and for those who may approve it: a
user may read it when they are an approver under the policy of any of its steps or services
(whatever mode Backout runs in: in ``suggest`` mode nobody may approve, yet the approvers may
still read), or a member of the plan's channel. A request made in the plan's own channel
counts as membership without asking Slack: the channel comes from Slack's signed payload, and
Slack lets only a private channel's members use it (a public channel can be read by anyone in
the workspace anyway). Otherwise membership comes from Slack (``conversations.members``)
through an injected :class:`ChannelMembers`, which the composition root caches briefly with
:class:`~bot.core.policy.CachingGroupResolver`, as it does for user groups. A plan that is
posted nowhere (one saved from the command line) is for its approvers only.

The rule is pure, like :class:`~bot.core.policy.Policy`: the use cases
(:class:`~bot.core.usecases.Queries`) look up where the plan is posted, ask :meth:`Access.may_read`
and audit the answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, Self

from bot.core.policy import Decision, GroupResolver, Policy, PolicyConfig
from bot.lifecycle import Mode
from planners.model import Action, Plan, Risk, Stage, Step
from planners.topology import Topology

__all__ = ["Access", "ChannelMembers"]


class ChannelMembers(Protocol):
    """Who is in a Slack channel."""

    def members(self, channel_id: str) -> frozenset[str]:
        """The user ids in ``channel_id``.

        Raises:
            LookupError: the channel is unknown or its members cannot be read now; the
                channel then counts as having no members, and the refusal says so.
        """
        ...


class Access:
    """Decides who may read a plan.

    Args:
        approvers: the policy that says who may approve which step; it should run in
            ``approve`` mode (:meth:`from_policy` builds one), since in ``suggest`` mode it
            refuses every approval and would hide the plans from their approvers.
        channels: who is in which channel.
    """

    def __init__(self, *, approvers: Policy, channels: ChannelMembers) -> None:
        self._approvers = approvers
        self._channels = channels

    @classmethod
    def from_policy(
        cls,
        config: PolicyConfig,
        *,
        topology: Topology,
        groups: GroupResolver,
        channels: ChannelMembers,
    ) -> Self:
        """The access rule for the ``policy:`` settings: its approvers (whatever the mode
        Backout runs in) and the channels' members."""
        approvers = Policy(config, topology=topology, groups=groups, mode=Mode.APPROVE)
        return cls(approvers=approvers, channels=channels)

    def may_read(
        self, user_id: str, plan: Plan, *, posted_in: str | None, asked_in: str | None
    ) -> Decision:
        """Whether ``user_id`` may read ``plan`` (see it, or have its steps previewed).

        Args:
            user_id: the user asking, from a signed Slack payload.
            plan: the plan.
            posted_in: the channel the plan is posted in; None when it is posted nowhere.
            asked_in: the channel the request came from (a command's channel, a clicked
                message's channel), from the same signed payload.

        Returns:
            The decision, with a reason for the audit log.
        """
        if posted_in and asked_in == posted_in:
            return Decision(allowed=True, reason=f"asked in the plan's channel {posted_in}")
        for step in _probes(plan):
            decision = self._approvers.may_approve(user_id, step)
            if decision.allowed:
                return Decision(allowed=True, reason=f"an approver: {decision.reason}")
        if posted_in is None:
            return Decision(
                allowed=False,
                reason=f"{user_id} may approve none of the plan's steps, and the plan is "
                "posted in no channel",
            )
        try:
            if user_id in self._channels.members(posted_in):
                return Decision(allowed=True, reason=f"{user_id} is a member of {posted_in}")
            unread = ""
        except LookupError as exc:
            unread = f" (its members could not be read: {exc})"
        return Decision(
            allowed=False,
            reason=f"{user_id} is not a member of {posted_in}, where the plan is posted"
            f"{unread}, and may approve none of its steps",
        )


def _probes(plan: Plan) -> Iterable[Step]:
    """The plan's steps, then one stand-in step for each of its services no step acts on (so
    that a service's approvers may read a plan that abstained, or whose steps act elsewhere).
    The policy judges a step by its service and whether it undoes a security fix, and a
    stand-in carries the service alone."""
    yield from plan.steps
    acted_on = {step.service for step in plan.steps}
    for service in dict.fromkeys(plan.incident.services):
        if service not in acted_on:
            yield Step(
                id="read",
                stage=Stage.FULL,
                action=Action.MANUAL,
                service=service,
                change_id="",
                target_version=None,
                after=(),
                risk=Risk.LOW,
                approvals_required=1,
                executor=None,
                estimated_seconds=0,
                verify={},
                why="stands in for the service when deciding who may read the plan",
            )
