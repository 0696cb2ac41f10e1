"""What the fake Slack (:mod:`fakes.slack`) checks in Block Kit payloads, and how its
transcript draws a message as one line.

The limits come from Slack's Block Kit reference (https://api.slack.com/reference/block-kit/blocks:
at most 50 blocks in a message, 100 in a modal or Home tab; a section's ``text`` at most 3,000
characters) and from the ``chat.postMessage`` docs (https://api.slack.com/methods/chat.postMessage:
``text`` is truncated past 40,000 characters). The ``invalid_blocks`` answer carries ``errors``
and ``response_metadata.messages`` with JSON pointers, in the shape of Slack's answers to
oversized payloads; the wording of the messages is not verified against Slack. Other Block Kit
rules (element limits, text lengths of buttons and fields) are not checked.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MAX_BLOCKS",
    "MAX_MODAL_BLOCKS",
    "MAX_SECTION_TEXT",
    "MAX_TEXT",
    "SlackError",
    "check_blocks",
    "render",
]

MAX_BLOCKS = 50
"""Blocks in one message."""
MAX_MODAL_BLOCKS = 100
"""Blocks in one modal or Home tab view."""
MAX_SECTION_TEXT = 3000
"""Characters in a section block's ``text``."""
MAX_TEXT = 40_000
"""Characters of a message's ``text`` that Slack keeps (the rest is cut off)."""


class SlackError(Exception):
    """A Web API error: answered with HTTP 200 and ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.body: dict[str, Any] = {"ok": False, "error": error, **extra}


def check_blocks(blocks: Any, *, limit: int = MAX_BLOCKS) -> None:
    """Refuse blocks Slack would refuse.

    Raises:
        SlackError: ``invalid_blocks_format`` (not a list of typed objects) or
            ``invalid_blocks`` (too many blocks, a section text too long).
    """
    if not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b for b in blocks):
        raise SlackError("invalid_blocks_format")
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
        raise SlackError("invalid_blocks", errors=errors, response_metadata={"messages": messages})


def render(message: dict[str, Any]) -> str:
    """A message as one compact line: its blocks if any, else its text.

    ``# header``, section text and fields, ``[button]``, ``---`` for a divider; newlines become
    `` / `` and blocks are joined with `` | ``.
    """
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


def _element(element: dict[str, Any]) -> str:
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
