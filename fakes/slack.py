"""The one fake Slack Web API server: the tests and ``python -m fakes.demo`` point the real
``slack_sdk.WebClient`` at it (``WebClient(base_url=fake.api_url)``). It lives in layer 3 (``bot``)
because only ``bot`` knows Slack. It is a stdlib ``ThreadingHTTPServer`` on 127.0.0.1, port 0, so
any number of instances can run side by side (bolt's ``MockServerThread`` without the fixed port).
It records every call with its parsed arguments, keeps the state Backout relies on (messages,
threads, ephemerals, views, uploaded files), checks the Slack limits Backout can hit (50 blocks,
3,000-character section text, 40,000-character text) and fails on demand, either through
:meth:`FakeSlack.fail_next` or through the ``xoxb-ratelimited`` token, as python-slack-sdk's own
mock server does.
"""

from __future__ import annotations

import copy
import dataclasses
import email.parser
import email.policy
import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, TypeAlias
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Call", "FakeSlack", "UploadedFile", "User"]

log = logging.getLogger(__name__)

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_TEXT = 40_000
RATELIMITED_TOKEN = "xoxb-ratelimited"  # noqa: S105 - python-slack-sdk's well-known fake token
_JSON_ARGS = ("attachments", "blocks", "files", "metadata", "view")
_STATUS_ERRORS = {429: "ratelimited", 500: "fatal_error", 503: "service_unavailable"}

_Json: TypeAlias = dict[str, Any]
_Answer: TypeAlias = tuple[int, dict[str, str], _Json]


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


@dataclass(frozen=True)
class User:
    """A workspace member as ``users.info`` describes it."""

    id: str
    name: str
    real_name: str = ""
    is_bot: bool = False
    deleted: bool = False


@dataclass(frozen=True)
class UploadedFile:
    """A file from the ``files.getUploadURLExternal`` → upload → ``completeUploadExternal`` flow."""

    id: str
    filename: str
    length: int
    content: bytes | None = None
    title: str | None = None
    channels: tuple[str, ...] = ()
    completed: bool = False


@dataclass
class _Fault:
    status: int
    error: str | None
    retry_after: int | None
    delay: float
    times: int


class _SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.body: _Json = {"ok": False, "error": error, **extra}


class FakeSlack:
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
        self.team_id, self.team, self.bot_user_id, self.bot_id = team_id, team, bot_user_id, bot_id
        self.team_url = f"https://{team_domain}.slack.com/"
        self._tokens = frozenset(tokens) if tokens is not None else None
        bot = User(id=bot_user_id, name="backout", real_name="Backout", is_bot=True)
        self._users = {u.id: u for u in (bot, *users)}
        self._usergroups = {k: list(v) for k, v in (usergroups or {}).items()}
        self._channels = dict(channels) if channels is not None else None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._calls: list[Call] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._messages: dict[str, list[_Json]] = {}  # channel -> messages and replies, post order
        self._numbers: dict[tuple[str, str], int] = {}  # (channel, ts) -> number in transcript
        self._ephemerals: dict[str, list[_Json]] = {}  # user -> ephemeral messages
        self._views: dict[str, _Json] = {}
        self._files: dict[str, UploadedFile] = {}
        self._transcript: list[str] = []
        self._ids = itertools.count(1)
        self._last_ts = (0, 0)
        self._methods: dict[str, Callable[[_Json, str], _Json]] = {
            "apps.connections.open": self._apps_connections_open,
            "auth.test": self._auth_test,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "conversations.history": self._conversations_history,
            "conversations.info": self._conversations_info,
            "conversations.replies": self._conversations_replies,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "usergroups.users.list": self._usergroups_users_list,
            "users.info": self._users_info,
            "views.open": self._views_open,
            "views.publish": self._views_publish,
            "views.update": self._views_update,
        }

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread.

        Raises:
            RuntimeError: the server is already running.
        """
        if self._server is not None:
            raise RuntimeError("FakeSlack is already running")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},  # stop() waits up to one poll interval
            name=f"FakeSlack:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; wakes up delayed answers. Safe to call twice."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        self._stopping.set()
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on.

        Raises:
            RuntimeError: the server is not running.
        """
        if self._server is None:
            raise RuntimeError("FakeSlack is not running; use it as a context manager or start()")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The value for ``WebClient(base_url=...)``: ``base_url + "/api/"``."""
        return f"{self.base_url}/api/"

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
        fault = _Fault(
            status=status, error=error, retry_after=retry_after, delay=delay, times=times
        )
        with self._lock:
            self._faults.setdefault(method, deque()).append(fault)

    # -- what the fake saw ----------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every Web API call received, in order (failed and rejected ones included)."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """The calls to one Web API method, in order."""
        return [call for call in self.calls if call.method == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """The messages of a channel, thread replies included, oldest first (copies)."""
        with self._lock:
            return copy.deepcopy(self._messages.get(channel, []))

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """One stored message (a copy).

        Raises:
            LookupError: no message with that ``ts`` in the channel.
        """
        with self._lock:
            message = self._find(channel, ts)
            if message is None:
                raise LookupError(f"no message {ts} in {channel}")
            return copy.deepcopy(message)

    def ephemerals(self, user: str) -> list[dict[str, Any]]:
        """The ephemeral messages shown to a user, oldest first (copies); each has ``channel``."""
        with self._lock:
            return copy.deepcopy(self._ephemerals.get(user, []))

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """The views opened, updated or published, by view id (copies)."""
        with self._lock:
            return copy.deepcopy(self._views)

    @property
    def files(self) -> dict[str, UploadedFile]:
        """The files announced through ``files.getUploadURLExternal``, by file id."""
        with self._lock:
            return dict(self._files)

    def transcript(self) -> list[str]:
        """The conversation as compact lines, one per post, edit, ephemeral or file share.

        Messages are numbered in posting order (``#1``); a reply names its parent's number, an
        edit repeats the number. Blocks are rendered compactly: ``# header``, section text,
        ``[button]``; newlines become `` / `` and blocks are joined with `` | ``.
        """
        with self._lock:
            return list(self._transcript)

    # -- HTTP entry points (called by the request handler threads) ------------------------------

    def _answer(self, method: str, args: _Json, token: str | None) -> _Answer:
        with self._lock:
            self._calls.append(Call(method, copy.deepcopy(args), token, datetime.now(UTC)))
            queue = self._faults.get(method)
            fault = queue[0] if queue else None
            if queue and fault:
                fault.times -= 1
                if fault.times == 0:
                    queue.popleft()
        if fault is not None:
            if fault.delay > 0:
                self._stopping.wait(fault.delay)
            if fault.status != 200 or fault.error is not None:
                error = fault.error or _STATUS_ERRORS.get(fault.status, "internal_error")
                retry_after = 1 if fault.retry_after is None else fault.retry_after
                headers = {"Retry-After": str(retry_after)} if fault.status == 429 else {}
                return fault.status, headers, {"ok": False, "error": error}
        if token == RATELIMITED_TOKEN:
            return 429, {"Retry-After": "1"}, {"ok": False, "error": "ratelimited"}
        handler = self._methods.get(method)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        try:
            token = self._authorize(method, token)
            with self._lock:
                return 200, {}, {"ok": True, **handler(args, token)}
        except _SlackError as exc:
            return 200, {}, exc.body

    def _upload(self, file_id: str, content_type: str, body: bytes) -> tuple[int, str]:
        if content_type.startswith("multipart/form-data"):
            parts = _parse_multipart(content_type, body)
            body = next((v for v in parts.values() if isinstance(v, bytes)), b"")
        with self._lock:
            file = self._files.get(file_id)
            if file is None:
                return 404, "file_not_found"
            self._files[file_id] = dataclasses.replace(file, content=body)
        return 200, f"OK - {len(body)}"

    def _authorize(self, method: str, token: str | None) -> str:
        if not token:
            raise _SlackError("not_authed")
        known = (
            token.startswith(("xoxb-", "xapp-")) if self._tokens is None else token in self._tokens
        )
        if not known:
            raise _SlackError("invalid_auth")
        if token.startswith("xapp-") != (method == "apps.connections.open"):
            raise _SlackError("not_allowed_token_type")
        return token

    # -- state helpers (called with the lock held) ----------------------------------------------

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def _next_ts(self) -> str:
        seconds, sequence = self._last_ts
        now = int(time.time())
        if now > seconds:
            seconds, sequence = now, 100
        elif sequence >= 999_900:
            seconds, sequence = seconds + 1, 100
        else:
            sequence += 100
        self._last_ts = (seconds, sequence)
        return f"{seconds}.{sequence:06d}"

    def _channel(self, args: _Json, key: str = "channel") -> str:
        channel = str(args.get(key) or "")
        if not channel or (self._channels is not None and channel not in self._channels):
            raise _SlackError("channel_not_found")
        return channel

    def _find(self, channel: str, ts: str) -> _Json | None:
        return next((m for m in self._messages.get(channel, []) if m["ts"] == ts), None)

    def _existing(self, channel: str, ts: str, *, error: str) -> _Json:
        message = self._find(channel, ts)
        if message is None:
            raise _SlackError(error)
        return message

    def _content(self, args: _Json) -> _Json:
        text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
        if not (text or blocks or attachments):
            raise _SlackError("no_text")
        if blocks is not None:
            _check_blocks(blocks)
        content: _Json = {}
        if text is not None:
            content["text"] = str(text)[:MAX_TEXT]
        if blocks is not None:
            content["blocks"] = copy.deepcopy(blocks)
        if attachments is not None:
            content["attachments"] = copy.deepcopy(attachments)
        return content

    def _store(self, channel: str, message: _Json, verb: str, who: str, what: str) -> None:
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            parent = self._find(channel, thread_ts)
            if parent is not None:
                parent.update(thread_ts=thread_ts, latest_reply=message["ts"])
                parent["reply_count"] = parent.get("reply_count", 0) + 1
        self._messages.setdefault(channel, []).append(message)
        number = self._numbers[(channel, message["ts"])] = len(self._numbers) + 1
        self._say(channel, message, number, verb, who, what)

    def _say(
        self, channel: str, message: _Json, number: int, verb: str, who: str, what: str
    ) -> None:
        thread_ts = str(message.get("thread_ts") or message["ts"])
        parent = self._numbers.get((channel, thread_ts)) if thread_ts != message["ts"] else None
        where = f"{channel} thread #{parent}" if parent else channel
        self._transcript.append(f"#{number} {where} {who} {verb}: {what}")

    def _author(self, args: _Json) -> _Json:
        author: _Json = {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id}
        if args.get("username"):
            author["username"] = str(args["username"])
        return author | {"team": self.team_id}

    # -- Web API methods (called with the lock held; return the body without "ok") ---------------

    def _auth_test(self, args: _Json, token: str) -> _Json:
        return {
            "url": self.team_url,
            "team": self.team,
            "user": self._users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, args: _Json, token: str) -> _Json:
        return {"url": f"ws://127.0.0.1:{self.port}/link/?ticket={self._next_id('ticket-')}"}

    def _chat_post_message(self, args: _Json, token: str) -> _Json:
        channel = self._channel(args)
        message = self._author(args) | self._content(args) | {"ts": self._next_ts()}
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        who = message.get("username", self.bot_user_id)
        self._store(channel, message, "posted", who, _render(message))
        return {"channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_update(self, args: _Json, token: str) -> _Json:
        channel = self._channel(args)
        message = self._existing(channel, str(args.get("ts") or ""), error="message_not_found")
        message.update(self._content(args))
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        number = self._numbers[(channel, message["ts"])]
        who = message.get("username", self.bot_user_id)
        self._say(channel, message, number, "edited", who, _render(message))
        text = message.get("text", "")
        reply = {"channel": channel, "ts": message["ts"], "text": text}
        return reply | {"message": copy.deepcopy(message)}

    def _chat_post_ephemeral(self, args: _Json, token: str) -> _Json:
        channel, user = self._channel(args), str(args.get("user") or "")
        if not user:
            raise _SlackError("user_not_in_channel")
        message = self._author(args) | self._content(args) | {"ts": self._next_ts()}
        message["channel"] = channel
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        self._ephemerals.setdefault(user, []).append(message)
        self._transcript.append(f"{channel} {self.bot_user_id} to {user} only: {_render(message)}")
        return {"message_ts": message["ts"]}

    def _chat_get_permalink(self, args: _Json, token: str) -> _Json:
        channel = self._channel(args)
        message = self._existing(
            channel, str(args.get("message_ts") or ""), error="message_not_found"
        )
        link = f"{self.team_url}archives/{channel}/p{message['ts'].replace('.', '')}"
        if message.get("thread_ts", message["ts"]) != message["ts"]:
            link += f"?thread_ts={message['thread_ts']}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _conversations_info(self, args: _Json, token: str) -> _Json:
        channel = self._channel(args)
        name = self._channels[channel] if self._channels is not None else channel.lower()
        info = {"id": channel, "name": name, "is_channel": True, "is_private": False}
        return {"channel": info | {"is_archived": False, "is_member": True}}

    def _conversations_history(self, args: _Json, token: str) -> _Json:
        channel = self._channel(args)
        limit = int(args.get("limit") or 100)
        top = [m for m in self._messages.get(channel, []) if m.get("thread_ts", m["ts"]) == m["ts"]]
        newest_first = list(reversed(top))
        page = copy.deepcopy(newest_first[:limit])
        more = len(newest_first) > limit
        return {"messages": page, "has_more": more, "response_metadata": {"next_cursor": ""}}

    def _conversations_replies(self, args: _Json, token: str) -> _Json:
        channel, ts = self._channel(args), str(args.get("ts") or "")
        parent = self._existing(channel, ts, error="thread_not_found")
        thread_ts = parent.get("thread_ts", ts)
        thread = [m for m in self._messages[channel] if m.get("thread_ts", m["ts"]) == thread_ts]
        return {"messages": copy.deepcopy(thread), "has_more": False}

    def _users_info(self, args: _Json, token: str) -> _Json:
        user = self._users.get(str(args.get("user") or ""))
        if user is None:
            raise _SlackError("user_not_found")
        profile = {"real_name": user.real_name, "display_name": user.name}
        info = dataclasses.asdict(user) | {"team_id": self.team_id, "profile": profile}
        return {"user": info}

    def _usergroups_users_list(self, args: _Json, token: str) -> _Json:
        members = self._usergroups.get(str(args.get("usergroup") or ""))
        if members is None:
            raise _SlackError("no_such_subteam")
        return {"users": list(members)}

    def _store_view(self, view_id: str, args: _Json, **extra: str) -> _Json:
        view = args.get("view")
        if not isinstance(view, dict) or "type" not in view:
            raise _SlackError("invalid_arguments")
        _check_blocks(view.get("blocks", []), limit=100)
        stored = copy.deepcopy(view) | extra | {"id": view_id, "hash": self._next_id("hash-")}
        self._views[view_id] = stored
        return {"view": copy.deepcopy(stored)}

    def _views_open(self, args: _Json, token: str) -> _Json:
        if not args.get("trigger_id"):
            raise _SlackError("invalid_arguments")
        return self._store_view(self._next_id("V"), args)

    def _views_update(self, args: _Json, token: str) -> _Json:
        view_id = args.get("view_id")
        if not view_id:
            external = args.get("external_id")
            found = (
                k for k, v in self._views.items() if external and v.get("external_id") == external
            )
            view_id = next(found, None)
        if view_id not in self._views:
            raise _SlackError("not_found")
        if args.get("hash") and args["hash"] != self._views[view_id]["hash"]:
            raise _SlackError("hash_conflict")
        return self._store_view(str(view_id), args)

    def _views_publish(self, args: _Json, token: str) -> _Json:
        user = str(args.get("user_id") or "")
        if not user:
            raise _SlackError("invalid_arguments")
        home = (k for k, v in self._views.items() if v.get("published_to") == user)
        return self._store_view(next(home, None) or self._next_id("V"), args, published_to=user)

    def _files_get_upload_url_external(self, args: _Json, token: str) -> _Json:
        filename, length = str(args.get("filename") or ""), str(args.get("length") or "")
        if not filename or not length.isdigit():
            raise _SlackError("invalid_arguments")
        file = UploadedFile(id=self._next_id("F"), filename=filename, length=int(length))
        self._files[file.id] = file
        return {"upload_url": f"{self.base_url}/upload/{file.id}", "file_id": file.id}

    def _files_complete_upload_external(self, args: _Json, token: str) -> _Json:
        wanted = args.get("files")
        if not isinstance(wanted, list) or not wanted:
            raise _SlackError("invalid_arguments")
        channels = [self._channel(args, "channel_id")] if args.get("channel_id") else []
        channels += [c for c in str(args.get("channels") or "").split(",") if c]
        done: list[UploadedFile] = []
        for item in wanted:
            file = self._files.get(str(item.get("id"))) if isinstance(item, dict) else None
            if file is None or file.content is None:  # Slack's exact error name is unverified
                raise _SlackError("file_not_found")
            title = item.get("title") or file.filename
            done.append(dataclasses.replace(file, title=title, completed=True))
        infos = [{"id": f.id, "name": f.filename, "title": f.title, "size": f.length} for f in done]
        for channel in channels:
            message = self._author(args) | {"text": str(args.get("initial_comment") or "")}
            message |= {"files": copy.deepcopy(infos), "upload": True, "ts": self._next_ts()}
            if args.get("thread_ts"):
                message["thread_ts"] = str(args["thread_ts"])
            shared = ", ".join(f"{f.filename} ({len(f.content or b'')} bytes)" for f in done)
            comment = f": {message['text']}" if message["text"] else ""
            self._store(channel, message, "shared", self.bot_user_id, shared + comment)
        for file in done:
            self._files[file.id] = dataclasses.replace(file, channels=tuple(channels))
        return {"files": infos}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops bursts of connections, and clients stall 1 s

    def __init__(self, fake: FakeSlack) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out has hung up before a delayed answer; that is expected here.
        log.debug("FakeSlack: error answering %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        self._serve(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("FakeSlack: " + format, *args)

    def _serve(self, body: bytes) -> None:
        url, fake = urlsplit(self.path), self.server.fake
        content_type = self.headers.get("Content-Type") or ""
        if url.path.startswith("/upload/") and self.command == "POST":
            status, text = fake._upload(url.path.removeprefix("/upload/"), content_type, body)
            self._send(status, {}, text.encode(), "text/plain; charset=utf-8")
            return
        if not url.path.startswith("/api/"):
            hint = {
                "ok": False,
                "error": "not_found",
                "hint": "use WebClient(base_url=fake.api_url)",
            }
            self._send(404, {}, json.dumps(hint).encode(), "application/json")
            return
        try:
            args = dict(parse_qsl(url.query)) | _parse_body(content_type, body)
            auth = self.headers.get("Authorization") or ""
            token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
            token = token or args.pop("token", None)
            status, headers, answer = fake._answer(url.path.removeprefix("/api/"), args, token)
        except _SlackError as exc:
            status, headers, answer = 200, {}, exc.body
        except Exception:
            # A bug in the fake (or arguments it cannot digest) must reach the test as an answer,
            # not as a dropped connection that slack_sdk's connection retry handler would repeat.
            log.exception("FakeSlack failed on %s", self.path)
            status, headers, answer = 500, {}, {"ok": False, "error": "fake_slack_failed"}
        self._send(status, headers, json.dumps(answer).encode(), "application/json; charset=utf-8")

    def _send(self, status: int, headers: dict[str, str], body: bytes, content_type: str) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": content_type, **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _parse_body(content_type: str, body: bytes) -> _Json:
    kind = content_type.split(";")[0].strip().lower()
    if not body:
        return {}
    if kind == "application/json":
        try:
            parsed = json.loads(body)
        except ValueError:
            raise _SlackError("invalid_json") from None
        if not isinstance(parsed, dict):
            raise _SlackError("invalid_json")
        args: _Json = parsed
    elif kind == "multipart/form-data":
        args = _parse_multipart(content_type, body)
    else:
        args = dict(parse_qsl(body.decode(), keep_blank_values=True))
    for key in _JSON_ARGS:
        if isinstance(args.get(key), str):
            try:
                args[key] = json.loads(args[key])
            except ValueError:
                raise _SlackError(f"invalid_{key}_format") from None
    return args


def _parse_multipart(content_type: str, body: bytes) -> _Json:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    args: _Json = {}
    for part in message.walk():
        name = part.get_param("name", header="content-disposition")
        if part.is_multipart() or not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        args[name] = data if part.get_filename() else data.decode()
    return args


def _check_blocks(blocks: Any, *, limit: int = MAX_BLOCKS) -> None:
    if not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b for b in blocks):
        raise _SlackError("invalid_blocks_format")
    errors = []
    if len(blocks) > limit:
        errors.append(f"no more than {limit} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        text = block.get("text")
        too_long = isinstance(text, dict) and len(str(text.get("text", ""))) > MAX_SECTION_TEXT
        if block["type"] == "section" and too_long:
            pointer = f"/blocks/{i}/text/text"
            errors.append(
                f"must be less than {MAX_SECTION_TEXT + 1} characters [json-pointer:{pointer}]"
            )
    if errors:
        messages = [f"[ERROR] {e}" for e in errors]
        raise _SlackError("invalid_blocks", errors=errors, response_metadata={"messages": messages})


def _render(message: _Json) -> str:
    """A message as one compact line: its blocks if any, else its text."""
    blocks = message.get("blocks")
    if not blocks:
        return _plain(message.get("text", ""))
    parts: list[str] = []
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            parts.append("# " + _plain(block.get("text")))
        elif kind == "section":
            bits = [_plain(block.get("text")), *map(_plain, block.get("fields", []))]
            if block.get("accessory"):
                bits.append(_element(block["accessory"]))
            parts.append(" ".join(b for b in bits if b))
        elif kind in ("actions", "context"):
            parts.append(" ".join(_element(e) for e in block.get("elements", [])))
        elif kind == "divider":
            parts.append("---")
        elif kind == "image":
            parts.append(f"<image: {block.get('alt_text', '')}>")
        else:
            parts.append(f"<{kind}>")
    return " | ".join(p for p in parts if p)


def _element(element: _Json) -> str:
    kind = element.get("type")
    if kind == "button":
        return f"[{_plain(element.get('text'))}]"
    if kind in ("plain_text", "mrkdwn"):
        return _plain(element)
    if kind == "image":
        return f"<image: {element.get('alt_text', '')}>"
    return f"<{kind}>"


def _plain(text: Any) -> str:
    value = text.get("text", "") if isinstance(text, dict) else text or ""
    return " / ".join(line.strip() for line in str(value).splitlines() if line.strip())
