"""Flattening a Slack message event to plain text, for the parsers of ``bot.slack.channels``.

Alerting and CI bots put their words in several places of a message event: the top-level
``text``, legacy ``attachments`` (pretext, title, text, fields, even blocks), and Block Kit
``blocks`` (header, section, context, rich text). The parsers in
:mod:`bot.slack.channels.alerts` and :mod:`bot.slack.channels.deploys` read those words through
the helpers here. Every helper is pure and
total: it reads any decoded JSON without raising, and it never normalises characters (a zero-width
space or a Cyrillic letter stays exactly where it was, so a look-alike name stays distinct). Slack
markup is turned into the words it displays (``<https://x|runbook>`` becomes ``runbook``,
``<@U123>`` becomes ``@U123``), which is a reading aid only: nothing here acts on the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_TEXT",
    "Field",
    "MessageParts",
    "inner_event",
    "is_bot_message",
    "message_parts",
    "plain_text",
    "strip_emphasis",
]

MAX_TEXT = 20_000
"""Characters of one text piece that are read; the rest is ignored (bounds the regex work)."""

_MAX_ITEMS = 100  # attachments, blocks, fields or elements read from one list

_ANGLE = re.compile(r"<([^<>\n]{1,2000})>")
_EMPHASIS = re.compile(r"[*`~]+")
_UNDERSCORE = re.compile(r"(?<!\w)_(\S(?:[^_\n]{0,500}\S)?)_(?!\w)")
_BROADCASTS = {"channel", "here", "everyone"}


@dataclass(frozen=True)
class Field:
    """A legacy attachment field or a Block Kit section field: a title and a plain value."""

    title: str
    value: str


@dataclass(frozen=True)
class MessageParts:
    """The words of one message, in reading order.

    ``lines`` are plain text (markup resolved); ``raw_body`` is the message body exactly as sent
    (attachment texts, else the block texts, else the top-level text), for storing as data.
    ``fields`` come from attachments and section blocks; ``colors`` from attachments.
    """

    lines: tuple[str, ...]
    titles: tuple[str, ...]
    fields: tuple[Field, ...]
    colors: tuple[str, ...]
    raw_body: str
    names: tuple[str, ...]

    @property
    def text(self) -> str:
        """All plain lines joined by newlines."""
        return "\n".join(self.lines)


def inner_event(event: object) -> Mapping[str, Any] | None:
    """The ``message`` event itself, whether given bare or inside an ``event_callback`` envelope."""
    if not isinstance(event, Mapping):
        return None
    inner = event.get("event")
    if event.get("type") == "event_callback" and isinstance(inner, Mapping):
        return inner
    return event


def is_bot_message(event: Mapping[str, Any]) -> bool:
    """Whether an app or integration posted the message (legacy ``bot_message`` or a ``bot_id``)."""
    bot_id = event.get("bot_id")
    return event.get("subtype") == "bot_message" or (isinstance(bot_id, str) and bot_id != "")


def plain_text(mrkdwn: object) -> str:
    """Slack ``mrkdwn`` as the words a reader sees; anything but a string is the empty string.

    Links show their label (or their address), mentions their user id (``<@U123|ann>`` →
    ``@U123``),
    channels their name, ``<!channel>`` becomes ``@channel``; HTML entities are decoded. The
    result is inert text: there is no markup left to ping or to mask a link.
    """
    if not isinstance(mrkdwn, str):
        return ""
    text = _ANGLE.sub(_resolve_angle, mrkdwn[:MAX_TEXT])
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def strip_emphasis(text: str) -> str:
    """Text without Slack's bold, code, strike and italic markers (for pattern matching only).

    Underscores inside words (``app_kubernetes_io_name``) stay: only ``_word_`` italics go.
    """
    return _UNDERSCORE.sub(r"\1", _EMPHASIS.sub("", text))


def message_parts(event: Mapping[str, Any]) -> MessageParts:
    """Every piece of text of a message event, plain and raw, with its fields and colours."""
    lines: list[str] = []
    titles: list[str] = []
    fields: list[Field] = []
    colors: list[str] = []
    raw_attachment_texts: list[str] = []
    raw_block_texts: list[str] = []
    names = _names(event)

    top = _string(event.get("text"))
    lines.extend(_split(plain_text(top)))
    for attachment in _mappings(event.get("attachments")):
        color = _string(attachment.get("color"))
        if color:
            colors.append(color)
        names.extend(
            name for name in (_string(attachment.get(k)) for k in ("author_name", "footer")) if name
        )
        title = plain_text(attachment.get("title"))
        if title.strip():
            titles.append(title.strip())
        raw_text = _string(attachment.get("text"))
        if raw_text.strip():
            raw_attachment_texts.append(raw_text.strip())
        for key in ("pretext", "title", "text"):
            lines.extend(_split(plain_text(attachment.get(key))))
        for item in _mappings(attachment.get("fields")):
            field = Field(plain_text(item.get("title")).strip(), plain_text(item.get("value")))
            fields.append(field)
            lines.append(f"{field.title}: {field.value}" if field.title else field.value)
        block_lines, block_fields, _ = _blocks(attachment.get("blocks"))
        lines.extend(block_lines)
        fields.extend(block_fields)
        if not (title.strip() or raw_text.strip() or block_lines):
            lines.extend(_split(plain_text(attachment.get("fallback"))))
    block_lines, block_fields, raw_blocks = _blocks(event.get("blocks"))
    if block_lines and not top.strip():
        lines.extend(block_lines)
    elif block_lines:
        # ``text`` is the notification fallback of the blocks: read both, the blocks first.
        lines[:0] = block_lines
    fields.extend(block_fields)
    raw_block_texts.extend(raw_blocks)
    raw_body = ("\n".join(raw_attachment_texts) or "\n".join(raw_block_texts) or top.strip())[
        :MAX_TEXT
    ]
    return MessageParts(
        lines=tuple(line for line in lines if line.strip()),
        titles=tuple(titles),
        fields=tuple(fields),
        colors=tuple(colors),
        raw_body=raw_body,
        names=tuple(names),
    )


def _names(event: Mapping[str, Any]) -> list[str]:
    """Who says they posted: the legacy ``username`` and the app's ``bot_profile`` name."""
    names = [_string(event.get("username"))]
    profile = event.get("bot_profile")
    if isinstance(profile, Mapping):
        names.append(_string(profile.get("name")))
    return [name for name in names if name]


def _blocks(value: object) -> tuple[list[str], list[Field], list[str]]:
    """Plain lines, section fields and raw texts of a list of Block Kit blocks."""
    lines: list[str] = []
    fields: list[Field] = []
    raw: list[str] = []
    for block in _mappings(value):
        kind = block.get("type")
        if kind in ("header", "section"):
            text = _text_object(block.get("text"))
            if text:
                raw.append(text.strip())
                lines.extend(_split(plain_text(text)))
            for item in _list(block.get("fields")):
                field = _section_field(_text_object(item))
                if field is not None:
                    fields.append(field)
                    lines.append(f"{field.title}: {field.value}")
        elif kind == "context":
            for element in _mappings(block.get("elements")):
                lines.extend(_split(plain_text(_string(element.get("text")))))
        elif kind == "rich_text":
            text = "".join(_rich_text(block.get("elements"), depth=0))
            if text.strip():
                raw.append(text.strip())
                lines.extend(_split(text))
    return lines, fields, raw


def _section_field(text: str) -> Field | None:
    """A section field such as ``*Service:*\\ncheckoutservice`` as a title and a value."""
    plain = plain_text(text).strip()
    if not plain:
        return None
    head, sep, rest = strip_emphasis(plain).partition(":")
    if sep and head.strip() and "\n" not in head and len(head) <= 60:
        return Field(head.strip(), rest.strip())
    return Field("", plain)


def _rich_text(value: object, *, depth: int) -> Iterator[str]:
    """The displayed words of ``rich_text`` elements, lists and quotes on their own lines."""
    if depth > 8:
        return
    for element in _mappings(value):
        kind = element.get("type")
        if kind in ("rich_text_section", "rich_text_preformatted", "rich_text_quote"):
            yield from _rich_text(element.get("elements"), depth=depth + 1)
            yield "\n"
        elif kind == "rich_text_list":
            for item in _mappings(element.get("elements")):
                yield "- "
                yield from _rich_text(item.get("elements"), depth=depth + 1)
                yield "\n"
        elif kind == "text":
            yield _string(element.get("text"))[:MAX_TEXT]
        elif kind == "link":
            yield _string(element.get("text")) or _string(element.get("url"))
        elif kind == "user":
            yield f"@{_string(element.get('user_id'))}"
        elif kind == "usergroup":
            yield f"@{_string(element.get('usergroup_id'))}"
        elif kind == "channel":
            yield f"#{_string(element.get('channel_id'))}"
        elif kind == "broadcast":
            yield f"@{_string(element.get('range'))}"
        elif kind == "emoji":
            yield f":{_string(element.get('name'))}:"


def _text_object(value: object) -> str:
    """The ``text`` of a Block Kit text object (or a bare string)."""
    if isinstance(value, Mapping):
        return _string(value.get("text"))
    return _string(value)


def _resolve_angle(match: re.Match[str]) -> str:
    """What Slack shows for one ``<…>`` markup."""
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return target  # the user id, never the display name: ids cannot be spoofed
    if target.startswith("#"):
        return f"#{label}" if label else target
    if target.startswith("!"):
        command = target[1:].split("^", 1)[0]
        if command in _BROADCASTS:
            return f"@{command}"
        return label or f"@{command}"
    return label or target


def _split(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _list(value: object) -> Sequence[object]:
    if isinstance(value, list | tuple):
        return value[:_MAX_ITEMS]
    return ()


def _mappings(value: object) -> Iterator[Mapping[str, Any]]:
    for item in _list(value):
        if isinstance(item, Mapping):
            yield item
