"""Free text a model wrote, checked against what it was shown (part of the guard,
:mod:`planners.validate`).

Two rules. :func:`directive` finds text that tells the reader to approve, run or skip approval,
that approval is not needed (``auto-approved``, ``approval isn't required``) or to go on
(``proceed now``, ``you can proceed``, ``roll it back immediately``): the model explains; only
people decide. Words about approval that only describe it (``the approver``, ``needs two
approvals``, ``once approved``, ``if the rollback proceeds``) are not directives, nor is a
question about going on (``should we proceed now?``).

:func:`ungrounded` finds identifiers and numbers that do not appear in the model's input: a
token counts as an identifier when it holds a digit, an inner ``_ . / : @`` or a lower-to-upper
case change (``v1.4.2``, ``E7``, ``cart_db``, ``CheckoutErrors``, ``12%``); it is grounded when
it occurs in the input with no letter or digit glued to either side (a number may follow a
letter, as ``10:14`` in ``T10:14``; a leading ``v`` of a version may be left out). Plain and
hyphenated words are not checked: English cannot be told from a service name without the
topology, and the suspect and step fields already carry the ids that matter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["Vocabulary", "directive", "ungrounded"]

_TOKEN = re.compile(r"[A-Za-z0-9%][A-Za-z0-9_.:/@%+-]*[A-Za-z0-9%]|[A-Za-z0-9%]")
_LIST_MARKER = re.compile(r"^\s*(?:\d+[.)]|[-*+]|#+)\s+", re.MULTILINE)
_IDENTIFIER = re.compile(r"[0-9]|[A-Za-z0-9][_.:/@][A-Za-z0-9]|[a-z][A-Z]")
_NOT = r"(?:n[’']t|\s+not|\s+no\s+longer)"
_NOW = r"(?:now|immediately|right\s+away|at\s+once|asap)"
_GATE = r"(?:approv\w*|reviews?|sign[- ]?offs?)"
_NOT_A_QUESTION = r"(?![^.!\n]*\?)"
_GO_ON = r"(?:proceed\b|go\s+on\b|continue\s+(?:with|now|the\s+rollback)\b)"
_DIRECTIVE = re.compile(
    rf"""
      \b(?:auto[- ]?)?approv(?:e|ing)\b                         # approve, approving, auto-approve
    | \b(?:auto|pre|self)[- ]?approv\w*                         # auto-approved, pre-approval
    | \b(?:run|execute|trigger|launch|start|apply)\b\s+
      (?:it|them|this|that|these|all|every(?:thing)?|each|the|step|steps|stage|plan|now|
         immediately|right\s+away|s\d+)\b
    | \bskip(?:s|ping|ped)?\b[^.\n]{{0,40}}\b(?:approv\w*|review|sign[- ]?off|wait\w*)
    | \bwithout\s+(?:waiting|approv\w*|review|sign[- ]?off|a\s+second)
    | \b(?:bypass|override)\b
    | \bno\s+(?:need\s+(?:for|to)\s+)?(?:approv\w*|review)
    | \b(?:click|press|hit)\b
    | \bgo\s+ahead\b
    # approval said to be unneeded: "approval isn't needed", "approvals are unnecessary"
    | \b{_GATE}\s+(?:\w+\s+){{0,3}}?
      (?:(?:is|are|was|were){_NOT}|(?:will|would|should|need){_NOT}\s+be|won[’']t\s+be)\s+
      (?:\w+\s+)?(?:required|needed|necessary)\b
    | \b{_GATE}\s+(?:\w+\s+){{0,3}}?(?:is|are|was|were|can\s+be|may\s+be)\s+(?:\w+\s+)?
      (?:unnecessary|optional|redundant|superfluous|skipped|waived|bypassed)\b
    | \b(?:do|does|did){_NOT}\s+(?:need|require)\b[^.\n]{{0,20}}?\b{_GATE}
    | \b(?:not\s+(?:necessary|needed|required)|unnecessary)\s+to\s+(?:wait|get|seek|{_GATE})
    # told to go on: "proceed now", "you can proceed", "roll it back immediately"
    | \b(?:you|we|responders?|they|everyone|on-?call)\s+(?:can|may|should|must|could)\s+
      (?:now\s+|safely\s+|just\s+|simply\s+)?{_GO_ON}{_NOT_A_QUESTION}
    | \b(?:please|just|simply)\s+{_GO_ON}
    | \bproceed\b[^.\n?]{{0,40}}\b{_NOW}\b{_NOT_A_QUESTION}
    | (?<!\w\s)(?<!\w)proceed\b                   # "Proceed with s1.", "If so, proceed": no subject
    | (?<!\bif\s)(?<!\bif\syou\s)(?<!\bif\swe\s)
      \broll(?:\s+(?:it|them|this|that|these|everything|all))?\s+back\b[^.\n?]{{0,30}}
      \b{_NOW}\b{_NOT_A_QUESTION}
    """,
    re.IGNORECASE | re.VERBOSE,
)


def directive(text: str) -> str | None:
    """The words of ``text`` that tell the reader to approve, run or skip approval, that approval
    is not needed, or to go on; ``None`` when there are none."""
    match = _DIRECTIVE.search(text)
    return None if match is None else " ".join(match.group(0).split())


class Vocabulary:
    """What the model was shown, searchable for the tokens of its answer."""

    def __init__(self, texts: Iterable[str]) -> None:
        self._text = "\n".join(texts).casefold()
        self._seen: dict[str, bool] = {}

    def has(self, token: str) -> bool:
        """Whether ``token`` occurs in the input on its own (not inside a longer token)."""
        key = token.casefold()
        if key not in self._seen:
            self._seen[key] = self._search(key) or (
                len(key) > 1 and key[0] == "v" and key[1].isdigit() and self._search(key[1:])
            )
        return self._seen[key]

    def _search(self, key: str) -> bool:
        before = r"(?<![0-9])(?<![0-9]\.)" if key[0].isdigit() else r"(?<![a-z0-9])"
        after = r"(?![0-9])(?!\.[0-9])" if key[-1].isdigit() else r"(?![a-z0-9])"
        return re.search(before + re.escape(key) + after, self._text) is not None


def ungrounded(text: str, vocabulary: Vocabulary) -> list[str]:
    """The identifiers and numbers of ``text`` that the input does not hold, in order."""
    body = _LIST_MARKER.sub(" ", text)
    missing: list[str] = []
    for token in _TOKEN.findall(body):
        token = token.rstrip(".:/@+-")
        if token and _IDENTIFIER.search(token) and not vocabulary.has(token):
            missing.append(token)
    return list(dict.fromkeys(missing))
