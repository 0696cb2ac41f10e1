"""Slack listeners. :func:`register` is the only place that calls ``app.command``, ``app.action``
or ``app.event`` (STYLE.md anti-pattern A2: never at request time). Each listener module gets the
use cases it calls, nothing more; the command and button listeners also get the
:class:`~bot.slack.limits.Gate` that counts plans and dry runs and runs the dry runs, and both
ask :class:`~bot.core.usecases.Queries` who may read a plan before showing, previewing or
explaining it (the model, when one is configured, is reached through ``Planning.explaining``)."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import App

from bot.core.ports import Clock
from bot.slack.handlers import actions, commands, events
from bot.slack.handlers.context import UseCases, Watch
from bot.slack.limits import Gate
from bot.slack.notifier import SlackNotifier

__all__ = ["UseCases", "Watch", "register"]


def register(
    app: App,
    *,
    use_cases: UseCases,
    notifier: SlackNotifier,
    watch: Watch,
    clock: Clock,
    forget_group: Callable[[str], None],
    gate: Gate | None = None,
) -> None:
    """Register every listener once, at startup.

    ``gate`` holds the rate limits and the dry runs' pool; by default, :class:`Gate`'s own
    defaults (:class:`~bot.slack.limits.Limits`) on ``use_cases.execution``.
    """
    gate = gate or Gate(execution=use_cases.execution)
    commands.register(
        app,
        planning=use_cases.planning,
        decisions=use_cases.decisions,
        queries=use_cases.queries,
        notifier=notifier,
        gate=gate,
    )
    actions.register(
        app,
        decisions=use_cases.decisions,
        queries=use_cases.queries,
        gate=gate,
        planning=use_cases.planning,
    )
    events.register(
        app,
        planning=use_cases.planning,
        watch=watch,
        clock=clock,
        forget_group=forget_group,
        answering=use_cases.answering,
        gate=gate,
    )
