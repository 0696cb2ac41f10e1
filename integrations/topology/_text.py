"""Small text helpers shared by the topology loaders of ``integrations/topology/``.

Names reach the topology from hand-edited YAML, Kubernetes env vars and trace exports, and a
name that only looks like another (a Cyrillic small a, U+0430; a zero-width space) must never be
matched to the real service. These helpers describe such characters so that loaders can warn
about them, describe any value briefly (never a whole nested structure) for problem messages,
and read the host of an address-like env value, hiding URL credentials from the evidence.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["address_host", "close_match", "describe", "lookalike_warning", "redact"]

# Common look-alikes of ASCII letters (Cyrillic and Greek), for "did you mean" hints only.
_CONFUSABLES = str.maketrans(
    "аеорсхуіјѕԁһӏАВЕКМНОРСТХУІЈЅοαν",
    "aeopcxyijsdhlABEKMHOPCTXYIJSoav",
)

_PLAIN = re.compile(r"[!-~]*")  # printable ASCII, no spaces
_HOST_PORT = re.compile(r"(?P<host>[^\s:/@?#]+)(?::\d{1,5})?/?")
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def lookalike_warning(name: str) -> str | None:
    """Say which characters of ``name`` are not printable ASCII, or None when all are.

    Args:
        name: a service name as written in a source.

    Returns:
        A sentence such as ``'cartservic\\u0435' contains U+0435 CYRILLIC SMALL LETTER IE at
        position 10; it is not matched to 'cartservice'``, or None.
    """
    if _PLAIN.fullmatch(name):
        return None
    odd = [
        f"U+{ord(ch):04X} {unicodedata.name(ch, 'UNNAMED CHARACTER')} at position {index}"
        for index, ch in enumerate(name)
        if not (ch.isascii() and ch.isprintable() and not ch.isspace())
    ]
    if not odd:
        return None
    shown = ", ".join(odd[:3]) + (f" and {len(odd) - 3} more" if len(odd) > 3 else "")
    plain = "".join(
        ch for ch in name.translate(_CONFUSABLES) if ch.isascii() and ch.isprintable()
    ).strip()
    hint = f"; it is not matched to {plain!r}" if plain and plain != name else ""
    return f"{name!r} contains {shown}{hint}"


def describe(value: object) -> str:
    """A short description of a YAML/JSON value: scalars shown, containers only by type."""
    if isinstance(value, bool):
        return f"{value!r} (YAML reads unquoted yes/no/on/off/true/false as booleans; quote it)"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str | int | float):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def close_match(word: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f" (did you mean {found[0]!r}?)" if found else ""


def address_host(value: str) -> str | None:
    """The host of an address-like value (``host``, ``host:port``, a URL), else None."""
    if "://" in value:
        try:
            return urlsplit(value).hostname
        except ValueError:
            return None
    found = _HOST_PORT.fullmatch(value)
    return found["host"] if found else None


def redact(value: str) -> str:
    """A value fit to show as evidence: URL credentials and query strings hidden."""
    shown = _USERINFO.sub("***@", value)
    return shown.split("?", 1)[0] + "?..." if "://" in shown and "?" in shown else shown
