"""Safe text for Slack: escaping untrusted values, safe links, limit-aware truncation.

Every view in :mod:`bot.slack.views` sends text that came from outside (alert names, deploy
messages, change ids, service names, executor output, LLM output) through :func:`escape` before
it reaches a Block Kit text object, so nothing a sender wrote can mention a channel, a user or a
group, or hide a link behind friendly words, and no credential (a token in a webhook URL, a
password in an executor's error) is shown: :func:`escape` redacts secrets first
(:func:`prompts.redact_secrets`, the same redaction the audit log records through).

The Slack limits the views respect are declared here too, and :func:`truncate`
shortens already-escaped text to them without ever cutting an escape sequence in half.
Lengths are counted in UTF-16 code units (:func:`text_length`), which is never less than the
number of characters, so a text within our limit is within Slack's however Slack counts.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from bot.slack import messages
from prompts import redact_secrets

__all__ = [
    "MAX_BLOCKS",
    "MAX_BUTTON_TEXT",
    "MAX_BUTTON_VALUE",
    "MAX_CONFIRM_BUTTON",
    "MAX_CONFIRM_TEXT",
    "MAX_CONFIRM_TITLE",
    "MAX_CONTEXT_ELEMENTS",
    "MAX_CONTEXT_TEXT",
    "MAX_FALLBACK_TEXT",
    "MAX_HEADER_TEXT",
    "MAX_SECTION_TEXT",
    "clean",
    "code",
    "escape",
    "safe_link",
    "text_length",
    "truncate",
]

MAX_BLOCKS: Final = 50
"""Blocks per message."""
MAX_SECTION_TEXT: Final = 3000
"""Characters in a section block's text."""
MAX_HEADER_TEXT: Final = 150
"""Characters in a header block's plain text."""
MAX_BUTTON_TEXT: Final = 75
"""Characters in a button's label."""
MAX_BUTTON_VALUE: Final = 2000
"""Characters in a button's value."""
MAX_CONTEXT_ELEMENTS: Final = 10
"""Elements in a context block."""
MAX_CONTEXT_TEXT: Final = 2000
"""Characters we allow in one context element (Slack allows 3,000 in a text object)."""
MAX_CONFIRM_TITLE: Final = 100
"""Characters in a confirmation dialog's title."""
MAX_CONFIRM_TEXT: Final = 300
"""Characters in a confirmation dialog's text."""
MAX_CONFIRM_BUTTON: Final = 30
"""Characters in a confirmation dialog's confirm or deny label."""
MAX_FALLBACK_TEXT: Final = 40_000
"""Characters in a message's top-level ``text`` (Slack truncates beyond this)."""

_LINE_BREAKS = frozenset("\n\r\t\v\f\x1c\x1d\x1e\x85\u2028\u2029")
# Invisible characters that reorder or hide text (bidi overrides and isolates, BOM): a sender can
# use them to make one thing look like another. Zero-width joiners stay: emoji sequences use them.
_INVISIBLE = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
)
# "@here" and friends notify a whole channel when a message is sent with link_names or parse=full.
# A zero-width joiner after the "@" keeps the text readable and makes it a plain word.
_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone|group))", re.IGNORECASE)
_ZWJ = "\u200d"
# str.translate tables: control characters (category Cc: U+0000-001F, U+007F-009F), surrogates
# (category Cs: U+D800-DFFF) and invisible marks are deleted; line breaks become spaces.
_ONE_LINE_TABLE: dict[int, str | None] = {
    **dict.fromkeys((*range(0x20), *range(0x7F, 0xA0), *range(0xD800, 0xE000))),
    **dict.fromkeys(map(ord, _INVISIBLE)),
    **{ord(ch): " " for ch in _LINE_BREAKS},
}
_MULTILINE_TABLE: dict[int, str | None] = {**_ONE_LINE_TABLE, ord("\n"): "\n"}
# A cut that ends in one of these has cut an entity (&amp; &lt; &gt;) in half.
_PARTIAL_ENTITY = re.compile(r"&(?:a|am|amp|l|lt|g|gt)?$")
_HTTP_SCHEMES = frozenset({"http", "https"})
_MAX_URL = 2000


def clean(text: str, *, multiline: bool = False) -> str:
    """``text`` without control characters, lone surrogates or invisible reordering marks.

    Line breaks and tabs become spaces (with ``multiline``, ``\\n`` stays a line break).
    """
    table = _MULTILINE_TABLE if multiline else _ONE_LINE_TABLE
    return text.replace("\r\n", "\n").translate(table)


def escape(text: str, *, multiline: bool = False) -> str:
    """Untrusted ``text`` made inert for a mrkdwn (or plain text) field.

    Secrets are replaced by ``[REDACTED:<kind>]``; control characters are removed
    (:func:`clean`); ``&``, ``<`` and ``>`` become ``&amp;``,
    ``&lt;`` and ``&gt;`` (Slack's three), so ``<!channel>``, ``<@U123>`` and ``<https://x|y>``
    show as typed and do nothing; ``@channel``, ``@here``, ``@everyone`` and ``@group`` get a
    zero-width joiner after the ``@``.

    Args:
        text: anything that came from outside.
        multiline: keep line breaks (for longer prose); otherwise the result is one line.

    Returns:
        Text that is safe to embed in a Block Kit text object or a message's ``text``.
    """
    safe = clean(redact_secrets(text), multiline=multiline)
    safe = safe.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub("@" + _ZWJ, safe)


def code(text: str, *, limit: int = 200) -> str:
    """Untrusted ``text`` escaped and shown as inline code; backticks inside cannot close it.

    The code span holds at most ``limit`` units of text; an empty value shows as a dash.
    """
    safe = escape(text).replace("`", "ˋ").strip()
    return f"`{truncate(safe, limit=limit)}`" if safe else messages.EMPTY


def safe_link(url: str, label: str) -> str:
    """A masked link ``<url|label>``, only when ``url`` is a plain http(s) URL.

    Any other scheme (``javascript:``, ``slack://``, ``data:``…), a URL without a host, with
    credentials (user info, or a token, key or signature anywhere in it), with whitespace or
    control characters, or longer than 2,000 characters, yields the escaped label alone: the
    reader sees no link rather than a dangerous or leaking one.

    Args:
        url: the link target, trusted or not.
        label: the words to show; escaped here.

    Returns:
        mrkdwn for the link, or the escaped label.
    """
    shown = escape(label)
    if len(url) > _MAX_URL or any(ch.isspace() or not ch.isprintable() for ch in url):
        return shown
    if redact_secrets(url) != url:
        return shown
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return shown
    if parts.scheme.lower() not in _HTTP_SCHEMES or not host or "@" in parts.netloc:
        return shown
    target = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{target}|{shown}>" if shown else f"<{target}>"


def text_length(text: str) -> int:
    """The length of ``text`` in UTF-16 code units: never less than its number of characters."""
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


def truncate(text: str, limit: int) -> str:
    """``text`` (already escaped mrkdwn) cut to at most ``limit`` units, ending with "…".

    The cut never splits an entity such as ``&amp;``, never leaves a link of ours half open
    (``<https://…`` without its ``>``) and drops the whitespace before the ellipsis. Text within
    the limit comes back unchanged.

    Args:
        text: escaped text.
        limit: the maximum :func:`text_length` of the result; at least 1.

    Returns:
        The text, or its start followed by "…".

    Raises:
        ValueError: when ``limit`` is less than 1.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if text_length(text) <= limit:
        return text
    budget = limit - text_length(messages.ELLIPSIS)
    used = 0
    end = len(text)
    for index, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            end = index
            break
    cut = text[:end]
    cut = _PARTIAL_ENTITY.sub("", cut)
    opened = cut.rfind("<")
    if opened > cut.rfind(">"):
        cut = cut[:opened]
    return cut.rstrip() + messages.ELLIPSIS
