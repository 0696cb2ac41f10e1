"""The one fake Slack Web API server: the tests, the benchmarks and ``python -m fakes.demo``
point the real ``slack_sdk.WebClient`` at it (``WebClient(base_url=fake.api_url)``).

Built on :class:`fakes.server.LoopbackServer` (127.0.0.1, port 0, so any number of instances run
side by side: bolt's ``MockServerThread`` without the fixed port). It records every call with
its parsed arguments (query, form, JSON or multipart), and keeps the state Backout relies on,
imitating the Web API methods as Slack documents them at https://api.slack.com/methods/<name>:
``chat.postMessage``/``chat.update``/``chat.postEphemeral``/``chat.getPermalink`` (messages,
threads with ``reply_count``, ephemerals), ``conversations.history``/``.replies``/``.info``/
``.members`` (paged), ``users.info``, ``usergroups.users.list``, ``views.open``/``.update``/
``.publish`` (with ``hash`` checks), ``auth.test``, ``apps.connections.open`` and the upload flow
``files.getUploadURLExternal`` → upload → ``files.completeUploadExternal``. This module is the
HTTP side (routing, tokens, faults, the calls recorded); the workspace's state and the methods
are in :mod:`fakes.slack_workspace`, the Block Kit limits Backout can hit in
:mod:`fakes.slack_blocks`.

Failure states it produces, as Slack documents them: ``{"ok": false, "error": ...}`` with HTTP
200 for ``not_authed``, ``invalid_auth``, ``not_allowed_token_type``, ``channel_not_found``,
``message_not_found``, ``thread_not_found``, ``no_text``, ``invalid_blocks``,
``invalid_blocks_format``, ``user_not_found``, ``no_such_subteam``, ``hash_conflict``,
``not_found`` (views), ``invalid_arguments`` and ``unknown_method``; ``not_in_channel`` for a
post or ephemeral in a channel the bot was taken out of (:meth:`FakeSlack.remove_bot`; the
``chat:write.public`` scope is not faked); HTTP 429 ``ratelimited`` with ``Retry-After`` in
whole seconds (https://api.slack.com/apis/rate-limits), for every call
with the ``xoxb-ratelimited`` token as python-slack-sdk's own mock server does, or on demand;
HTTP 500 ``fatal_error`` and 503 ``service_unavailable`` on demand; and answers delayed past a
client's timeout (:meth:`FakeSlack.fail_next`). Where the fake is unsure it says so: the error
for completing an upload whose bytes never arrived (``file_not_found``) and the exact wording of
``invalid_blocks`` messages are not verified against Slack; ``invalid_json`` and
``invalid_<arg>_format`` for undecodable arguments follow Slack's naming but are not checked
either. Incoming webhooks (``POST /services/T…/B…/<secret>``, what Alertmanager's Slack
receiver posts to) and the Events API deliveries of the messages they post, signed, to the bot's
Request URL are in :mod:`fakes.slack_incoming` (:meth:`FakeSlack.incoming_webhook`,
:meth:`FakeSlack.deliver_events`). A slash command's ``response_url``
(:meth:`FakeSlack.response_url`) takes any number of JSON posts and records them
(:meth:`FakeSlack.responses`; Slack's limit of five uses in 30 minutes is not enforced); other
events, interactivity and Socket Mode traffic are not faked here (:mod:`fakes.signing` signs
the requests Slack would send the bot).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias
from urllib.parse import parse_qsl

from fakes.server import JSON, Faults, Incoming, LoopbackServer, Reply
from fakes.slack_blocks import SlackError
from fakes.slack_incoming import Delivery, IncomingWebhooks
from fakes.slack_workspace import UploadedFile, User, Workspace

__all__ = ["RATELIMITED_TOKEN", "Call", "FakeSlack", "UploadedFile", "User"]

RATELIMITED_TOKEN = "xoxb-ratelimited"  # noqa: S105 - python-slack-sdk's well-known fake token
"""Every call made with this token is answered 429 ``ratelimited``."""
_JSON_ARGS = ("attachments", "blocks", "files", "metadata", "view")
_STATUS_ERRORS = {429: "ratelimited", 500: "fatal_error", 503: "service_unavailable"}
_JSON_UTF8 = "application/json; charset=utf-8"
_TEXT_UTF8 = "text/plain; charset=utf-8"

_Json: TypeAlias = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One Web API request the fake received.

    ``args`` merges the query string and the body (form, JSON or multipart); arguments that
    Slack takes as JSON (``blocks``, ``attachments``, ``view``, ``files``, ``metadata``) are
    decoded, so a test sees the same lists and dicts whatever encoding the client chose.
    """

    method: str
    args: dict[str, Any]
    token: str | None
    at: datetime


class FakeSlack(LoopbackServer):
    """A fake Slack Web API server for the real ``slack_sdk.WebClient``.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`)::

        with FakeSlack() as slack:
            client = WebClient(base_url=slack.api_url, token="xoxb-test")
            client.chat_postMessage(channel="C0INC", text="hello")
            assert slack.messages("C0INC")[0]["text"] == "hello"

    ``api_url`` is ``base_url + "/api/"``: ``WebClient`` joins its ``base_url`` and the method
    name with ``urllib.parse.urljoin`` (after adding a missing trailing slash), so the bare
    ``base_url`` would reach ``/auth.test``, which the fake answers with a 404.

    Args:
        tokens: the tokens accepted; by default any token starting ``xoxb-`` or ``xapp-``.
            App-level (``xapp-``) tokens may only call ``apps.connections.open``.
        team_id: the workspace id, team: its name, team_domain: its ``<domain>.slack.com``.
        bot_user_id: the bot's user id, bot_id: its bot id (``auth.test``, message authors).
        users: members known to ``users.info`` (the bot user is added).
        usergroups: user group id → member ids, for ``usergroups.users.list``.
        channels: channel id → name. By default every channel id exists (named after its id);
            when given, any other channel answers ``channel_not_found``.
    """

    methods = frozenset({"GET", "POST"})

    def __init__(
        self,
        *,
        tokens: Collection[str] | None = None,
        team_id: str = "T0BACKOUT",
        team: str = "Backout",
        team_domain: str = "backout-demo",
        bot_user_id: str = "U0BACKOUT",
        bot_id: str = "B0BACKOUT",
        users: Iterable[User] = (),
        usergroups: Mapping[str, Iterable[str]] | None = None,
        channels: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.team_id, self.team, self.bot_user_id, self.bot_id = team_id, team, bot_user_id, bot_id
        self.team_url = f"https://{team_domain}.slack.com/"
        self._tokens = frozenset(tokens) if tokens is not None else None
        self._workspace = Workspace(
            url=lambda: self.base_url,
            team_id=team_id,
            team=team,
            team_domain=team_domain,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            users=users,
            usergroups=usergroups,
            channels=channels,
        )
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._responses: list[tuple[str, dict[str, Any]]] = []  # (response_url, message)
        self._response_urls = 0
        self._faults = Faults()
        self._incoming = IncomingWebhooks(
            workspace=self._workspace, base_url=lambda: self.base_url, team_id=team_id
        )

    @property
    def api_url(self) -> str:
        """The value for ``WebClient(base_url=...)``: ``base_url + "/api/"``."""
        return f"{self.base_url}/api/"

    def serve_socket_mode(self, url: str) -> None:
        """Make ``apps.connections.open`` hand out ``url`` (a
        :class:`fakes.slack_socket.FakeSlackSocket`'s) instead of a URL nothing listens on."""
        self._workspace.socket_url = url

    # -- fault injection ------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``times`` calls to ``method`` fail; faults for one method queue up.

        Args:
            method: a Web API method, e.g. ``"chat.postMessage"``.
            status: the HTTP status. 429 answers ``ratelimited`` with ``Retry-After``
                (``retry_after``, default 1); 500 ``fatal_error``; 503 ``service_unavailable``.
            error: the ``error`` of the ``{"ok": false}`` body (with status 200: a Slack error
                such as ``channel_not_found``).
            retry_after: seconds for the ``Retry-After`` header. slack_sdk parses it with
                ``int()``, so it is whole seconds.
            times: how many consecutive calls the fault applies to.
            delay: seconds to wait before answering, to make a client time out. A delayed call
                without ``status``/``error`` still takes effect after the delay, as it would on
                Slack after the client gave up.

        Raises:
            ValueError: ``times`` is below 1, or the fault would change nothing.
        """
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times}")
        if status == 200 and error is None and delay <= 0:
            raise ValueError("fail_next needs a status other than 200, an error or a delay")
        body = None
        headers: dict[str, str] = {}
        if status != 200 or error is not None:
            body = {"ok": False, "error": error or _STATUS_ERRORS.get(status, "internal_error")}
        if status == 429:
            headers["Retry-After"] = str(1 if retry_after is None else retry_after)
        path = re.compile(f"^/api/{re.escape(method)}$")
        with self._lock:
            self._faults.add(
                status, path=path, body=body, headers=headers, delay=delay, times=times
            )

    # -- what the fake saw ----------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every Web API call received, in order (failed and rejected ones included)."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """The calls to one Web API method, in order."""
        return [call for call in self.calls if call.method == method]

    # -- incoming webhooks and event deliveries ---------------------------------------------------

    def incoming_webhook(
        self,
        channel: str,
        *,
        name: str = "incoming-webhook",
        bot_id: str = "B0WEBHOOK",
        app_id: str | None = None,
    ) -> str:
        """Create an incoming webhook that posts in ``channel``; its secret URL.

        Args:
            channel: the channel id its messages go to (whatever the message says).
            name: its default author; bot_id: the ``bot_id`` its messages carry.
            app_id: the app it belongs to; ``None`` makes a legacy custom integration, whose
                messages may set ``username`` and icons.
        """
        return self._incoming.create(channel, name=name, bot_id=bot_id, app_id=app_id).url

    def deliver_events(self, request_url: str, *, signing_secret: str) -> None:
        """Send the messages the incoming webhooks post, as signed Events API ``message``
        events, to ``request_url`` (the bot's ``/slack/events``)."""
        self._incoming.subscribe(request_url, signing_secret=signing_secret)

    @property
    def webhook_posts(self) -> list[dict[str, Any]]:
        """The messages the incoming webhooks accepted, as their senders sent them."""
        return self._incoming.received

    @property
    def deliveries(self) -> list[Delivery]:
        """The Events API deliveries made, in order, with the bot's answers."""
        return self._incoming.deliveries

    def stop(self) -> None:
        """Finish the queued event deliveries, then stop serving; safe to call twice."""
        self._incoming.close()
        super().stop()

    def set_group_members(self, group_id: str, members: Iterable[str]) -> None:
        """Change a user group's members, as an admin would in Slack."""
        self._workspace.set_group_members(group_id, members)

    def remove_bot(self, channel: str, *, private: bool = False) -> None:
        """The bot is not a member of ``channel`` (it is of every other): ``chat.postMessage``
        and ``chat.postEphemeral`` there answer ``not_in_channel``, ``conversations.info`` says
        ``is_member: false``; in a ``private`` channel everything answers ``channel_not_found``."""
        self._workspace.remove_bot(channel, private=private)

    def set_channel_members(self, channel: str, members: Iterable[str]) -> None:
        """Who is in ``channel`` for ``conversations.members`` (by default every known user)."""
        self._workspace.set_members(channel, members)

    def response_url(self) -> str:
        """A fresh ``response_url`` for a slash command (:func:`fakes.signing.slash_command`)."""
        with self._lock:
            self._response_urls += 1
            return f"{self.base_url}/commands/{self.team_id}/{self._response_urls}/secret"

    def responses(self, url: str | None = None) -> list[dict[str, Any]]:
        """The messages posted to ``response_url`` s (to ``url`` alone, if given), in order."""
        with self._lock:
            return [copy.deepcopy(m) for u, m in self._responses if url is None or u == url]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """The messages of a channel, thread replies included, oldest first (copies)."""
        return self._workspace.messages(channel)

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """One stored message (a copy).

        Raises:
            LookupError: no message with that ``ts`` in the channel.
        """
        return self._workspace.message(channel, ts)

    def ephemerals(self, user: str) -> list[dict[str, Any]]:
        """The ephemeral messages shown to a user, oldest first (copies); each has ``channel``."""
        return self._workspace.ephemerals(user)

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """The views opened, updated or published, by view id (copies)."""
        return self._workspace.views()

    @property
    def files(self) -> dict[str, UploadedFile]:
        """The files announced through ``files.getUploadURLExternal``, by file id."""
        return self._workspace.files()

    def transcript(self) -> list[str]:
        """The conversation as compact lines, one per post, edit, ephemeral or file share.

        Messages are numbered in posting order (``#1``); a reply names its parent's number, an
        edit repeats the number. Blocks are rendered compactly: ``# header``, section text,
        ``[button]``; newlines become `` / `` and blocks are joined with `` | ``.
        """
        return self._workspace.transcript()

    # -- HTTP (called by the request handler threads) -------------------------------------------

    def _respond(self, request: Incoming) -> Reply:
        if request.path.startswith("/services/") and request.method == "POST":
            return self._incoming.answer(request)
        if request.path.startswith("/commands/") and request.method == "POST":
            if request.malformed or not isinstance(request.body, dict):
                return Reply(400, "invalid_payload", content_type=_TEXT_UTF8)
            with self._lock:
                self._responses.append((f"{self.base_url}{request.path}", dict(request.body)))
            return Reply(200, "ok", content_type=_TEXT_UTF8)
        if request.path.startswith("/upload/") and request.method == "POST":
            status, text = self._upload(request.path.removeprefix("/upload/"), request)
            return Reply(status, text, content_type=_TEXT_UTF8)
        if not request.path.startswith("/api/"):
            hint = {
                "ok": False,
                "error": "not_found",
                "hint": "use WebClient(base_url=fake.api_url)",
            }
            return Reply(404, hint, content_type=_JSON_UTF8)
        try:
            args = request.query | _arguments(request)
        except SlackError as exc:
            return Reply(200, exc.body, content_type=_JSON_UTF8)
        auth = request.headers.get("authorization") or ""
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        token = token or args.pop("token", None)
        status, headers, answer = self._answer(request, args, token)
        return Reply(status, answer, headers, content_type=_JSON_UTF8)

    def _crashed(self, request: Incoming) -> Reply:
        return Reply(500, {"ok": False, "error": "fake_slack_failed"}, content_type=_JSON_UTF8)

    def _answer(
        self, request: Incoming, args: _Json, token: str | None
    ) -> tuple[int, dict[str, str], _Json]:
        method = request.path.removeprefix("/api/")
        with self._lock:
            self._calls.append(Call(method, copy.deepcopy(args), token, datetime.now(UTC)))
            fault = self._faults.take(request.method, request.path)
        if fault is not None:
            self._pause(fault.delay)
            if fault.body is not None:
                return fault.status, fault.headers, fault.body
        if token == RATELIMITED_TOKEN:
            return 429, {"Retry-After": "1"}, {"ok": False, "error": "ratelimited"}
        if not self._workspace.knows(method):
            return 200, {}, {"ok": False, "error": "unknown_method"}
        try:
            token = self._authorize(method, token)
            return 200, {}, {"ok": True, **self._workspace.call(method, args, token)}
        except SlackError as exc:
            return 200, {}, exc.body

    def _upload(self, file_id: str, request: Incoming) -> tuple[int, str]:
        body = request.raw
        if request.content_type == "multipart/form-data":
            body = next((v for v in request.form().values() if isinstance(v, bytes)), b"")
        if not self._workspace.upload(file_id, body):
            return 404, "file_not_found"
        return 200, f"OK - {len(body)}"

    def _authorize(self, method: str, token: str | None) -> str:
        if not token:
            raise SlackError("not_authed")
        known = (
            token.startswith(("xoxb-", "xapp-")) if self._tokens is None else token in self._tokens
        )
        if not known:
            raise SlackError("invalid_auth")
        if token.startswith("xapp-") != (method == "apps.connections.open"):
            raise SlackError("not_allowed_token_type")
        return token


def _arguments(request: Incoming) -> _Json:
    """The body's arguments, whatever the encoding, with Slack's JSON-valued ones decoded."""
    if not request.raw:
        return {}
    if request.content_type == JSON:
        if request.malformed or not isinstance(request.body, dict):
            raise SlackError("invalid_json")
        args: _Json = dict(request.body)
    elif request.content_type == "multipart/form-data":
        args = request.form()
    else:
        args = dict(parse_qsl(request.raw.decode(), keep_blank_values=True))
    for key in _JSON_ARGS:
        if isinstance(args.get(key), str):
            try:
                args[key] = json.loads(args[key])
            except ValueError:
                raise SlackError(f"invalid_{key}_format") from None
    return args
