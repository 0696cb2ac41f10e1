"""``manifest.yml`` says what the code does: its commands and events are those the handlers
register, and its bot scopes are exactly those needed by the Slack methods the code calls and
the events it subscribes to (no scope asked for "just in case", none missing)."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import yaml
from slack_bolt import App
from slack_sdk import WebClient

from bot.slack.handlers import UseCases, Watch, register
from bot.slack.notifier import SlackNotifier
from tests.support.paths import ROOT

METHOD_SCOPES: dict[str, set[str]] = {
    "auth.test": set(),
    # chat:write.public lets the notifier post a plan into a public channel the bot is not in.
    "chat.postMessage": {"chat:write", "chat:write.public"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    # files_upload_v2 calls files.getUploadURLExternal and files.completeUploadExternal.
    "files.upload_v2": {"files:write"},
    "usergroups.users.list": {"usergroups:read"},
    # Who may read a plan (its channel's members) and whether the bot is in a channel: on public
    # channels (channels:read) and private ones (groups:read).
    "conversations.members": {"channels:read", "groups:read"},
    "conversations.info": {"channels:read", "groups:read"},
}
"""Each Slack Web API method Backout calls → the bot scopes it needs (Slack's method pages)."""

EVENT_SCOPES: dict[str, str] = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "subteam_members_changed": "usergroups:read",
}
"""Each subscribed event → its scope; ``message.*`` subscriptions deliver ``message`` events."""

_METHOD = re.compile(r"(auth|chat|files|usergroups|users|conversations|reactions|views|pins)\.\w+")


def _manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    return loaded


def called_methods() -> dict[str, str]:
    """Slack methods called anywhere in ``bot`` → one file calling each: ``WebClient`` methods
    called by name (``client.chat_postEphemeral(…)``) and method names given as strings
    (``api_call("chat.update", …)``)."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and "_" in node.func.attr
                and not node.func.attr.startswith("_")
                and node.func.attr != "api_call"
                and callable(getattr(WebClient, node.func.attr, None))
            ):
                # chat_postEphemeral -> chat.postEphemeral; files_upload_v2 keeps its _v2
                found.setdefault(re.sub(r"_(?!v2$)", ".", node.func.attr), where)
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and _METHOD.fullmatch(node.value)
            ):
                found.setdefault(node.value, where)
    return found


class _Registrations:
    """Stands in for the Bolt app and records what the handlers register."""

    def __init__(self) -> None:
        self.commands: set[str] = set()
        self.events: set[str] = set()
        self.actions: set[str] = set()

    def _record(self, into: set[str]) -> Callable[[str], Callable[..., None]]:
        def listen(name: str, **options: Any) -> Callable[..., None]:
            into.add(name)
            return lambda *args, **kwargs: None

        return listen

    def __getattr__(self, name: str) -> Any:
        kinds = {"command": self.commands, "event": self.events, "action": self.actions}
        if name not in kinds:
            raise AttributeError(name)
        return self._record(kinds[name])


def registered() -> _Registrations:
    recorder = _Registrations()
    nothing = SimpleNamespace(
        planning=None, decisions=None, execution=None, queries=None, answering=None
    )
    register(
        cast(App, recorder),
        use_cases=cast(UseCases, nothing),
        notifier=cast(SlackNotifier, None),
        watch=cast(Watch, None),
        clock=cast(Any, None),
        forget_group=lambda group: None,
    )
    return recorder


def test_the_scan_finds_the_calls_it_should():
    """The scan reads the code: the calls known to exist are found where they are."""
    found = called_methods()
    assert found["usergroups.users.list"] == "bot/runtime/services.py"
    assert found["chat.postMessage"] == "bot/slack/notifier.py"
    assert found["conversations.members"] == "bot/runtime/services.py"
    assert found["conversations.info"] == "bot/slack/handlers/commands.py"
    assert "files.upload_v2" in found


def test_every_called_method_has_its_scope_listed_here():
    """A new Slack method in the code fails here until its scope is written down above."""
    unknown = {m: where for m, where in called_methods().items() if m not in METHOD_SCOPES}
    assert unknown == {}


def test_the_bot_scopes_are_exactly_those_used():
    """The manifest's bot scopes = the called methods' + the subscribed events' + ``commands``
    for the slash command; nothing more (``users:read`` is not used)."""
    manifest = _manifest()
    used = set().union(*(METHOD_SCOPES[m] for m in called_methods()))
    used |= {EVENT_SCOPES[e] for e in manifest["settings"]["event_subscriptions"]["bot_events"]}
    if manifest["features"].get("slash_commands"):
        used.add("commands")
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == used


def test_commands_events_and_interactivity_match_the_registered_handlers():
    """Every command and event the manifest asks Slack to send has a listener, and every
    listener's command or event is asked for; buttons need interactivity."""
    manifest = _manifest()
    handlers = registered()
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    subscribed = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    delivered = {e.split(".", 1)[0] if e.startswith("message.") else e for e in subscribed}
    assert commands == handlers.commands
    assert delivered == handlers.events
    assert subscribed <= set(EVENT_SCOPES)
    assert manifest["settings"]["interactivity"]["is_enabled"] is bool(handlers.actions)


def test_one_workspace_only():
    """The manifest does not offer organisation-wide installation (Backout serves one team)."""
    assert _manifest()["settings"]["org_deploy_enabled"] is False
