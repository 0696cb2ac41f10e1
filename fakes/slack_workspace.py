"""The state of the fake Slack workspace and the Web API methods over it, for :mod:`fakes.slack`.

:class:`Workspace` is what :class:`fakes.slack.FakeSlack` serves: channels with their messages and
threads, ephemerals, views, uploaded files and the transcript, and one function per Web API
method Backout calls, each imitating the method as Slack documents it at
https://api.slack.com/methods/<name> (the arguments Backout sends, the fields it reads, the
errors named in the method's docs). The HTTP side (routing, tokens, faults, the calls recorded)
stays in :mod:`fakes.slack`; the Block Kit checks and the transcript rendering are in
:mod:`fakes.slack_blocks`.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from fakes.slack_blocks import MAX_MODAL_BLOCKS, MAX_TEXT, SlackError, check_blocks, render

__all__ = ["UploadedFile", "User", "Workspace"]

_Json: TypeAlias = dict[str, Any]


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


class Workspace:
    """One workspace's state; thread-safe (every method takes its lock).

    Args:
        url: the fake's ``base_url`` (read when an upload or Socket Mode URL is handed out).
        team_id, team, team_domain, bot_user_id, bot_id, users, usergroups, channels: as for
            :class:`fakes.slack.FakeSlack`.
    """

    def __init__(
        self,
        *,
        url: Callable[[], str],
        team_id: str,
        team: str,
        team_domain: str,
        bot_user_id: str,
        bot_id: str,
        users: Iterable[User],
        usergroups: Mapping[str, Iterable[str]] | None,
        channels: Mapping[str, str] | None,
    ) -> None:
        self.team_id, self.team, self.bot_user_id, self.bot_id = team_id, team, bot_user_id, bot_id
        self.team_url = f"https://{team_domain}.slack.com/"
        self._url = url
        self.socket_url: str | None = None  # apps.connections.open's, see fakes.slack_socket
        bot = User(id=bot_user_id, name="backout", real_name="Backout", is_bot=True)
        self._users = {u.id: u for u in (bot, *users)}
        self._usergroups = {k: list(v) for k, v in (usergroups or {}).items()}
        self._channels = dict(channels) if channels is not None else None
        self._away: dict[str, bool] = {}  # channels the bot is not in -> whether private
        self._members: dict[str, list[str]] = {}  # channel -> members, where set
        self._lock = threading.Lock()
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
            "conversations.members": self._conversations_members,
            "conversations.replies": self._conversations_replies,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "usergroups.users.list": self._usergroups_users_list,
            "users.info": self._users_info,
            "views.open": self._views_open,
            "views.publish": self._views_publish,
            "views.update": self._views_update,
        }

    def set_group_members(self, group_id: str, members: Iterable[str]) -> None:
        """Change a user group's members (Slack then sends ``subteam_members_changed``)."""
        with self._lock:
            self._usergroups[group_id] = list(members)

    def remove_bot(self, channel: str, *, private: bool = False) -> None:
        """The bot is not a member of ``channel`` (by default it is of every channel): posts and
        ephemerals there fail with ``not_in_channel``; a private channel is invisible to it
        (``channel_not_found`` for everything)."""
        with self._lock:
            self._away[channel] = private

    def set_members(self, channel: str, members: Iterable[str]) -> None:
        """Who is in ``channel`` (``conversations.members``); by default every known user, and
        the bot unless :meth:`remove_bot` took it out."""
        with self._lock:
            self._members[channel] = list(members)

    def knows(self, method: str) -> bool:
        """Whether ``method`` is a Web API method the fake serves."""
        return method in self._methods

    def call(self, method: str, args: _Json, token: str) -> _Json:
        """Run a Web API method; its answer without ``ok``.

        Raises:
            SlackError: the method's own errors (``channel_not_found``, ``no_text``, ...).
            KeyError: a method the fake does not serve (ask :meth:`knows` first).
        """
        with self._lock:
            return self._methods[method](args, token)

    def upload(self, file_id: str, content: bytes) -> bool:
        """Store the bytes sent to a file's upload URL; false if no such file was announced."""
        with self._lock:
            file = self._files.get(file_id)
            if file is None:
                return False
            self._files[file_id] = dataclasses.replace(file, content=content)
            return True

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

    def views(self) -> dict[str, dict[str, Any]]:
        """The views opened, updated or published, by view id (copies)."""
        with self._lock:
            return copy.deepcopy(self._views)

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

    def post_as_integration(self, channel: str, content: _Json, *, author: _Json) -> _Json:
        """Post a message an integration wrote (an incoming webhook, :mod:`fakes.slack_incoming`)
        as a ``bot_message`` by ``author`` (``bot_id``, ``username``, ``icons``...); the stored
        message (a copy), with its ``ts``.

        Raises:
            SlackError: ``channel_not_found``, ``no_text``, or the Block Kit errors.
        """
        with self._lock:
            channel = self._channel({"channel": channel})
            message: _Json = {"type": "message", "subtype": "bot_message", "text": ""} | author
            message |= self._content(content) | {"ts": self._next_ts()}
            attachments = message.get("attachments")
            titles = [
                str(a.get("title") or a.get("fallback") or "")
                for a in (attachments if isinstance(attachments, list) else [])
                if isinstance(a, dict)
            ]
            what = " | ".join(t for t in (render(message), *titles) if t)
            who = str(message.get("username") or author.get("bot_id") or "integration")
            self._store(channel, message, "posted", who, what)
            return copy.deepcopy(message)

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
            raise SlackError("channel_not_found")
        return channel

    def _find(self, channel: str, ts: str) -> _Json | None:
        return next((m for m in self._messages.get(channel, []) if m["ts"] == ts), None)

    def _existing(self, channel: str, ts: str, *, error: str) -> _Json:
        message = self._find(channel, ts)
        if message is None:
            raise SlackError(error)
        return message

    def _content(self, args: _Json) -> _Json:
        text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
        if not (text or blocks or attachments):
            raise SlackError("no_text")
        if blocks is not None:
            check_blocks(blocks)
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
        socket_url = self.socket_url or self._url().replace("http://", "ws://", 1)
        return {"url": f"{socket_url}/link/?ticket={self._next_id('ticket-')}"}

    def _present(self, args: _Json) -> str:
        """The channel, where the bot is a member (the chat:write.public scope is not faked)."""
        channel = self._visible(args)
        if channel in self._away:
            raise SlackError("not_in_channel")
        return channel

    def _visible(self, args: _Json) -> str:
        channel = self._channel(args)
        if self._away.get(channel):
            raise SlackError("channel_not_found")
        return channel

    def _chat_post_message(self, args: _Json, token: str) -> _Json:
        channel = self._present(args)
        message = self._author(args) | self._content(args) | {"ts": self._next_ts()}
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        who = message.get("username", self.bot_user_id)
        self._store(channel, message, "posted", who, render(message))
        return {"channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_update(self, args: _Json, token: str) -> _Json:
        channel = self._channel(args)
        message = self._existing(channel, str(args.get("ts") or ""), error="message_not_found")
        message.update(self._content(args))
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        number = self._numbers[(channel, message["ts"])]
        who = message.get("username", self.bot_user_id)
        self._say(channel, message, number, "edited", who, render(message))
        text = message.get("text", "")
        reply = {"channel": channel, "ts": message["ts"], "text": text}
        return reply | {"message": copy.deepcopy(message)}

    def _chat_post_ephemeral(self, args: _Json, token: str) -> _Json:
        channel, user = self._present(args), str(args.get("user") or "")
        if not user:
            raise SlackError("user_not_in_channel")
        message = self._author(args) | self._content(args) | {"ts": self._next_ts()}
        message["channel"] = channel
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        self._ephemerals.setdefault(user, []).append(message)
        self._transcript.append(f"{channel} {self.bot_user_id} to {user} only: {render(message)}")
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
        channel = self._visible(args)
        name = self._channels[channel] if self._channels is not None else channel.lower()
        info = {"id": channel, "name": name, "is_channel": True, "is_private": False}
        return {"channel": info | {"is_archived": False, "is_member": channel not in self._away}}

    def _conversations_members(self, args: _Json, token: str) -> _Json:
        channel = self._visible(args)
        everyone = [u for u in self._users if u != self.bot_user_id or channel not in self._away]
        members = self._members.get(channel, everyone)
        start = int(str(args.get("cursor") or "0").removeprefix("members:") or 0)
        limit = int(args.get("limit") or 100)
        more = start + limit < len(members)
        cursor = f"members:{start + limit}" if more else ""
        page = members[start : start + limit]
        return {"members": list(page), "response_metadata": {"next_cursor": cursor}}

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
            raise SlackError("user_not_found")
        profile = {"real_name": user.real_name, "display_name": user.name}
        info = dataclasses.asdict(user) | {"team_id": self.team_id, "profile": profile}
        return {"user": info}

    def _usergroups_users_list(self, args: _Json, token: str) -> _Json:
        members = self._usergroups.get(str(args.get("usergroup") or ""))
        if members is None:
            raise SlackError("no_such_subteam")
        return {"users": list(members)}

    def _store_view(self, view_id: str, args: _Json, **extra: str) -> _Json:
        view = args.get("view")
        if not isinstance(view, dict) or "type" not in view:
            raise SlackError("invalid_arguments")
        check_blocks(view.get("blocks", []), limit=MAX_MODAL_BLOCKS)
        stored = copy.deepcopy(view) | extra | {"id": view_id, "hash": self._next_id("hash-")}
        self._views[view_id] = stored
        return {"view": copy.deepcopy(stored)}

    def _views_open(self, args: _Json, token: str) -> _Json:
        if not args.get("trigger_id"):
            raise SlackError("invalid_arguments")
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
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != self._views[view_id]["hash"]:
            raise SlackError("hash_conflict")
        return self._store_view(str(view_id), args)

    def _views_publish(self, args: _Json, token: str) -> _Json:
        user = str(args.get("user_id") or "")
        if not user:
            raise SlackError("invalid_arguments")
        home = (k for k, v in self._views.items() if v.get("published_to") == user)
        return self._store_view(next(home, None) or self._next_id("V"), args, published_to=user)

    def _files_get_upload_url_external(self, args: _Json, token: str) -> _Json:
        filename, length = str(args.get("filename") or ""), str(args.get("length") or "")
        if not filename or not length.isdigit():
            raise SlackError("invalid_arguments")
        file = UploadedFile(id=self._next_id("F"), filename=filename, length=int(length))
        self._files[file.id] = file
        return {"upload_url": f"{self._url()}/upload/{file.id}", "file_id": file.id}

    def _files_complete_upload_external(self, args: _Json, token: str) -> _Json:
        wanted = args.get("files")
        if not isinstance(wanted, list) or not wanted:
            raise SlackError("invalid_arguments")
        channels = [self._channel(args, "channel_id")] if args.get("channel_id") else []
        channels += [c for c in str(args.get("channels") or "").split(",") if c]
        done: list[UploadedFile] = []
        for item in wanted:
            file = self._files.get(str(item.get("id"))) if isinstance(item, dict) else None
            if file is None or file.content is None:  # Slack's exact error name is unverified
                raise SlackError("file_not_found")
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
