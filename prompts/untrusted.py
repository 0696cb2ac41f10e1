"""Untrusted text (alert descriptions, Slack messages, deploy notes) made safe to put in a
prompt (layer 0, stdlib only).

:func:`clean` normalises to NFKC (so a full-width less-than, U+FF1C, becomes ``<`` before
anything looks for tags), drops control, format (bidi overrides, zero-width) and private-use
characters except newline and tab, and caps the length. :func:`fence` then wraps the text in
``<untrusted-NONCE>…</untrusted-NONCE>`` tags: the nonce is fresh for every rendering, so a
text cannot close its own fence, and any ``<untrusted…`` tag already inside it is defanged (its
``<`` becomes U+2039, a single angle quotation mark). Prompts tell the model that fenced text is
data, never instructions; the graph guard, not the fence, makes an obeyed instruction harmless.
"""

from __future__ import annotations

import re
import secrets
import unicodedata

__all__ = ["FENCE_TAG", "clean", "defang", "fence", "new_nonce"]

FENCE_TAG = "untrusted"
"""The fence's tag name; the nonce follows it after a hyphen."""

_KEEP = frozenset("\n\t")
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs"})
_FENCE_LIKE = re.compile(rf"<(\s*/?\s*{FENCE_TAG})", re.IGNORECASE)
_NONCE = re.compile(r"[0-9a-f]{8,64}")


def new_nonce() -> str:
    """A fresh random nonce (12 hex digits)."""
    return secrets.token_hex(6)


def clean(text: str, *, max_chars: int | None = None) -> str:
    """NFKC-normalised ``text`` without control, format or private-use characters, cut to
    ``max_chars`` (with a note of how much was cut)."""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n")
    text = "".join(
        ch for ch in text if ch in _KEEP or unicodedata.category(ch) not in _DROP_CATEGORIES
    )
    if max_chars is not None and len(text) > max_chars:
        cut = len(text) - max_chars
        text = f"{text[:max_chars]}… [{cut} characters cut]"
    return text


def defang(text: str) -> str:
    """``text`` with every ``<untrusted…``/``</untrusted…`` tag made inert."""
    return _FENCE_LIKE.sub(r"‹\1", text)


def fence(text: str, *, nonce: str, max_chars: int | None = None) -> str:
    """``text`` cleaned, defanged and wrapped in this rendering's fence.

    Raises:
        ValueError: ``nonce`` is not 8 to 64 lower-case hex digits.
    """
    if not _NONCE.fullmatch(nonce):
        raise ValueError(f"a fence nonce is 8-64 lower-case hex digits, not {nonce!r}")
    tag = f"{FENCE_TAG}-{nonce}"
    return f"<{tag}>\n{defang(clean(text, max_chars=max_chars))}\n</{tag}>"
