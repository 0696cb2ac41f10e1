"""Secret redaction: what every text bound for a model passes through before it is hashed,
cached or sent (layer 0, stdlib only, so the planner, the adapters and the bot share it).

A :class:`Redactor` replaces each match of its patterns with ``[REDACTED:<kind>]``. The built-in
patterns cover Slack tokens and webhook URLs, bearer and basic ``Authorization`` values, API keys
of the common vendors (OpenAI, GitHub, GitLab, Google, AWS, Stripe-like ``sk_live``), JSON Web
Tokens, passwords inside URLs, PEM private keys, and ``password=``/``token:``/``api_key=``
assignments. A deployment adds its own regular expressions (settings ``llm.redact_patterns``);
a pattern with a named group ``secret`` replaces only that group, so the context stays readable.
Redaction is deliberately greedy: a false positive costs a word, a miss leaks a credential.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["BUILTIN_PATTERNS", "Redactor", "redact_secrets"]

_ASSIGNED = (
    r"(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret"
    r"|signature|sig(?==))"
)
_START = r"(?<![A-Za-z0-9_-])"  # a token starts here: one try per run of token characters

# Every pattern starts at a literal or a token start and never rescans a run it has passed
# (possessive quantifiers, bounded spans), so hostile text cannot make redaction quadratic.
BUILTIN_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "private-key",
        r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----[\s\S]*?"
        r"(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----|\Z)",
    ),
    (
        "slack-webhook",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]++",
    ),
    ("slack-token", rf"{_START}x(?:ox[abposre]|app)-[A-Za-z0-9-]{{8,}}+"),
    (
        "jwt",
        rf"{_START}eyJ[A-Za-z0-9_-]{{8,}}+\.eyJ[A-Za-z0-9_-]{{8,}}+\.[A-Za-z0-9_-]{{8,}}+",
    ),
    (
        "authorization",
        r"(?i)(?<![A-Za-z0-9])(?:bearer|basic|token)[ \t]{1,20}+"
        r"(?P<secret>[A-Za-z0-9._~+/=-]{12,}+)",
    ),
    ("openai-key", rf"{_START}sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{{16,}}+"),
    ("stripe-key", rf"{_START}[rs]k_(?:live|test)_[A-Za-z0-9]{{16,}}+"),
    ("github-token", rf"{_START}(?:gh[pousr]_[A-Za-z0-9]{{30,}}+|github_pat_[A-Za-z0-9_]{{40,}}+)"),
    ("gitlab-token", rf"{_START}glpat-[A-Za-z0-9_-]{{20,}}+"),
    ("google-key", rf"{_START}AIza[0-9A-Za-z_-]{{35}}"),
    ("aws-access-key", r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"),
    ("url-password", r"://[^/\s:@]{0,256}+:(?P<secret>(?!\[REDACTED)[^/\s@]{1,256}+)@"),
    (
        "assignment",
        # quotes may be JSON-escaped (\") when the text is already inside a JSON string
        rf"(?i){_ASSIGNED}[A-Za-z0-9_-]{{0,40}}+(?:\\?[\"'])?[ \t]{{0,20}}+[:=][ \t]{{0,20}}+"
        rf"(?:\\?[\"'])?(?P<secret>(?!\[REDACTED)[^\s\"'\\,;&]{{4,}}+)",
    ),
)
"""(kind, pattern) pairs applied in this order; earlier ones win where matches overlap."""


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]


class Redactor:
    """Replaces secrets in text with ``[REDACTED:<kind>]``.

    Args:
        extra: more regular expressions (kind ``custom``); a named group ``secret`` limits the
            replacement to that group.
        builtin: whether to apply :data:`BUILTIN_PATTERNS` (on unless a test says otherwise).

    Raises:
        ValueError: an ``extra`` pattern is not a valid regular expression (the message names it).
    """

    def __init__(self, extra: Iterable[str] = (), *, builtin: bool = True) -> None:
        rules = [_Rule(kind, re.compile(p)) for kind, p in BUILTIN_PATTERNS] if builtin else []
        for pattern in extra:
            try:
                rules.append(_Rule("custom", re.compile(pattern)))
            except re.error as exc:
                raise ValueError(f"redaction pattern {pattern!r} is invalid: {exc}") from exc
        self._rules = tuple(rules)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced; the same text always gives the same result."""
        for rule in self._rules:
            text = rule.pattern.sub(functools.partial(_replace, kind=rule.kind), text)
        return text

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def __repr__(self) -> str:
        return f"Redactor({len(self._rules)} patterns)"


def _replace(match: re.Match[str], kind: str) -> str:
    marker = f"[REDACTED:{kind}]"
    if "secret" in match.re.groupindex and match.group("secret") is not None:
        start, end = match.span("secret")
        whole_start = match.start()
        text = match.group(0)
        return text[: start - whole_start] + marker + text[end - whole_start :]
    return marker


@functools.cache
def _builtin() -> Redactor:
    return Redactor()


def redact_secrets(text: str) -> str:
    """``text`` with every secret the built-in patterns recognise replaced: the one redaction that
    everything the bot shows (Slack messages) or records (the audit log) passes through, as text
    bound for a model passes through a configured :class:`Redactor`."""
    return _builtin().redact(text)
