"""One prompt template: TOML front matter, a system part and a user part, and its rendering
(layer 0, stdlib only: ``yaml`` would reach the pure planner through this package).

A template file ``<id>.v<version>.md`` reads::

    +++
    id = "explain_plan"
    version = 1
    description = "what the prompt asks"
    output = "PlanExplanation"          # the name of the pydantic schema the answer must fit

    [variables.plan]
    description = "the plan as JSON"

    [variables.alerts]
    description = "the alert texts"
    untrusted = true                    # fenced with this rendering's nonce
    max_chars = 4000                    # cut beyond this (untrusted only; default 8000)
    +++
    <!-- system -->
    …text with {{ placeholders }}…
    <!-- user -->
    …

Placeholders are ``{{ name }}``; ``{{ nonce }}`` is reserved for the fence's nonce (so the
system part can name the tag). Loading fails on an undeclared placeholder or an unused
variable; rendering fails on a missing or unknown variable. Every value is redacted
(:mod:`prompts.redact`), cleaned and defanged (:mod:`prompts.untrusted`); untrusted values are
also capped and fenced. Substitution is one pass, so a value containing ``{{ x }}`` stays text.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from prompts.errors import (
    MissingVariablesError,
    TemplateFormatError,
    UnknownVariablesError,
)
from prompts.redact import Redactor
from prompts.untrusted import clean, defang, fence, new_nonce

__all__ = ["Message", "PromptTemplate", "RenderedPrompt", "Variable"]

_FRONT = re.compile(r"\A\+\+\+\n(?P<front>.*?)\n\+\+\+\n(?P<body>.*)\Z", re.DOTALL)
_PARTS = re.compile(r"^<!-- (system|user) -->$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_RESERVED = "nonce"
DEFAULT_UNTRUSTED_CHARS = 8000
_DEFAULT_REDACTOR = Redactor()


@dataclass(frozen=True)
class Variable:
    """A declared variable: untrusted ones are fenced and cut to ``max_chars``."""

    name: str
    description: str
    untrusted: bool = False
    max_chars: int | None = None


@dataclass(frozen=True)
class Message:
    """One chat message of a rendered prompt."""

    role: Literal["system", "user"]
    content: str


@dataclass(frozen=True)
class RenderedPrompt:
    """What is sent: the messages, and what identifies the template they came from.

    ``key`` (``explain_plan.v1``) and ``digest`` (the template file's SHA-256) belong in any
    cache key; ``output`` names the schema the answer must fit; ``nonce`` is this rendering's.
    """

    id: str
    version: int
    output: str
    digest: str
    nonce: str
    messages: tuple[Message, ...]

    @property
    def key(self) -> str:
        return f"{self.id}.v{self.version}"

    def text(self) -> str:
        """The messages as one reviewable text (the checked-in renderings use it)."""
        return "\n".join(f"<!-- {m.role} -->\n{m.content}" for m in self.messages)


@dataclass(frozen=True)
class PromptTemplate:
    """A parsed template; build one with :meth:`parse` (or :func:`prompts.load`)."""

    id: str
    version: int
    description: str
    output: str
    variables: Mapping[str, Variable]
    system: str
    user: str
    digest: str = field(repr=False)

    @property
    def key(self) -> str:
        return f"{self.id}.v{self.version}"

    @classmethod
    def parse(cls, text: str, *, source: str = "<template>") -> PromptTemplate:
        """Read a template file's text; ``source`` names it in errors.

        Raises:
            TemplateFormatError: the front matter, the parts or the placeholders are wrong.
        """
        match = _FRONT.match(text.replace("\r\n", "\n"))
        if match is None:
            raise TemplateFormatError(f"{source}: expected TOML front matter between +++ lines")
        try:
            front = tomllib.loads(match["front"])
        except tomllib.TOMLDecodeError as exc:
            raise TemplateFormatError(f"{source}: front matter: {exc}") from exc
        system, user = _split(match["body"], source)
        variables = _variables(front.get("variables", {}), source)
        meta = _meta(front, source)
        used = set(_PLACEHOLDER.findall(system)) | set(_PLACEHOLDER.findall(user))
        undeclared = used - set(variables) - {_RESERVED}
        if undeclared:
            raise TemplateFormatError(f"{source}: undeclared placeholders: {sorted(undeclared)}")
        unused = set(variables) - used
        if unused:
            raise TemplateFormatError(f"{source}: declared but unused: {sorted(unused)}")
        digest = hashlib.sha256(text.encode()).hexdigest()
        return cls(*meta, variables, system, user, digest)

    def render(
        self,
        values: Mapping[str, str],
        *,
        nonce: str | None = None,
        redactor: Redactor | None = None,
    ) -> RenderedPrompt:
        """Fill the template.

        Args:
            values: one string per declared variable, no more, no less.
            nonce: the fence nonce; a fresh random one unless given (tests fix it).
            redactor: what removes secrets; the built-in patterns unless given.

        Raises:
            MissingVariablesError: a declared variable has no value.
            UnknownVariablesError: a value names no declared variable.
            TypeError: a value is not a string.
        """
        missing = set(self.variables) - set(values)
        if missing:
            raise MissingVariablesError(self.key, missing)
        unknown = set(values) - set(self.variables)
        if unknown:
            raise UnknownVariablesError(self.key, unknown)
        nonce = nonce or new_nonce()
        redact = redactor or _DEFAULT_REDACTOR
        filled = {_RESERVED: nonce}
        for name, value in values.items():
            if not isinstance(value, str):
                raise TypeError(f"{self.key}: variable {name} must be a string, not {value!r}")
            variable = self.variables[name]
            text = redact(value)
            if variable.untrusted:
                limit = variable.max_chars or DEFAULT_UNTRUSTED_CHARS
                filled[name] = fence(text, nonce=nonce, max_chars=limit)
            else:
                filled[name] = defang(clean(text))

        def substitute(part: str) -> str:
            return _PLACEHOLDER.sub(lambda m: filled[m.group(1)], part).strip("\n")

        messages = (
            Message("system", substitute(self.system)),
            Message("user", substitute(self.user)),
        )
        return RenderedPrompt(self.id, self.version, self.output, self.digest, nonce, messages)


def _split(body: str, source: str) -> tuple[str, str]:
    pieces = _PARTS.split(body)
    # ["", "system", text, "user", text] is the only accepted shape
    if len(pieces) != 5 or pieces[0].strip() or pieces[1] != "system" or pieces[3] != "user":
        raise TemplateFormatError(
            f"{source}: expected a '<!-- system -->' part, then a '<!-- user -->' part"
        )
    return pieces[2], pieces[4]


def _meta(front: dict[str, Any], source: str) -> tuple[str, int, str, str]:
    prompt_id, version = front.get("id"), front.get("version")
    description, output = front.get("description", ""), front.get("output")
    if not isinstance(prompt_id, str) or not _NAME.fullmatch(prompt_id):
        raise TemplateFormatError(f"{source}: id must be a lower-case name, not {prompt_id!r}")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TemplateFormatError(f"{source}: version must be a positive integer")
    if not isinstance(output, str) or not output:
        raise TemplateFormatError(f"{source}: output must name the answer's schema")
    if not isinstance(description, str):
        raise TemplateFormatError(f"{source}: description must be text")
    extra = set(front) - {"id", "version", "description", "output", "variables"}
    if extra:
        raise TemplateFormatError(f"{source}: unknown front matter keys: {sorted(extra)}")
    return prompt_id, version, description, output


def _variables(table: Any, source: str) -> dict[str, Variable]:
    if not isinstance(table, dict):
        raise TemplateFormatError(f"{source}: [variables] must be a table")
    variables: dict[str, Variable] = {}
    for name, spec in table.items():
        where = f"{source}: variable {name!r}"
        if not _NAME.fullmatch(name) or name == _RESERVED:
            raise TemplateFormatError(f"{where}: not a valid variable name")
        if not isinstance(spec, dict) or set(spec) - {"description", "untrusted", "max_chars"}:
            raise TemplateFormatError(f"{where}: allowed keys: description, untrusted, max_chars")
        description, untrusted = spec.get("description"), spec.get("untrusted", False)
        max_chars = spec.get("max_chars")
        if not isinstance(description, str) or not description:
            raise TemplateFormatError(f"{where}: needs a description")
        if not isinstance(untrusted, bool):
            raise TemplateFormatError(f"{where}: untrusted must be true or false")
        if max_chars is not None and (not isinstance(max_chars, int) or max_chars < 1):
            raise TemplateFormatError(f"{where}: max_chars must be a positive integer")
        if max_chars is not None and not untrusted:
            raise TemplateFormatError(f"{where}: max_chars applies to untrusted variables only")
        variables[name] = Variable(name, description, untrusted, max_chars)
    return variables
