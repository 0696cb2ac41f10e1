"""A deploy or alert message no pattern reads, read by the model, checked, or ignored (issue 9
item 5; DESIGN.md, "The LLM's place").

When :func:`~bot.slack.channels.change_from_message` or
:func:`~bot.slack.channels.alerts_from_message` gives nothing and a model is configured,
:class:`MessageParser` asks it, with the ``parse_message`` prompt, what the message records, as
a :class:`ParsedMessage` (no field can approve, run or target anything; extra fields are
refused). The message is untrusted: it is redacted, capped and fenced with a fresh nonce by the
prompt's rendering. The answer is then checked against the message and the catalog, and
anything that fails is ignored with the reason:

* the kind must be the channel's (a change in a deploy channel, an alert in an alert channel);
* the service must be exactly a known service, and written in the message as such (a look-alike
  the model "corrected" is refused);
* a change needs a version that matches the configured version pattern and appears in the
  message verbatim, and a production-like environment that the message names;
* an alert needs a plain name; its severity is one of the usual words or ``unknown``.

:meth:`MessageParser.parse` is pure given its model: text in, a :class:`ParsedResult` out, and
it never raises for anything the model does.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

import prompts
from bot.slack.channels.alerts import MAX_SUMMARY, slack_time
from bot.slack.channels.deploys import PRODUCTION_ENVIRONMENTS, VERSION_PATTERN
from bot.slack.channels.message_text import MAX_TEXT, inner_event, is_bot_message, message_parts
from planners.llm import StructuredModel
from planners.model import Alert, AlertStatus, Change, ChangeKind

__all__ = ["SOURCE", "Expected", "MessageParser", "ParsedMessage", "ParsedResult", "message_text"]

SOURCE = "slack:model"
"""The ``source`` of the changes and alerts the model read."""

Expected = Literal["alert", "change"]

_MAX_FIELD = 200
_MAX_ACTOR = 100
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:/()\-]{0,199}")
_SEVERITIES = frozenset(
    {"critical", "warning", "info", "error", "high", "low", "page", "major", "minor"}
)
_UPDATES = re.compile(
    r"\b(?:acknowledged|escalated|reassigned|re-?notify|snoozed|silenced)\b", re.IGNORECASE
)
_FAILED = re.compile(
    r"\b(?:failed|failure|aborted|cancell?ed|unsuccessful|errored|rolled\s+back|rollback)\b",
    re.IGNORECASE,
)


class ParsedMessage(BaseModel):
    """What one message records, as the model reads it (the ``parse_message`` prompt's output).

    All fields are required, nullable where the message may not say (OpenAI's strict structured
    outputs); there is no field for an approval, a step, an executor or a target.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["alert", "change", "none"]
    service: str | None
    version: str | None
    from_version: str | None
    environment: str | None
    actor: str | None
    alert_name: str | None
    severity: str | None
    status: Literal["firing", "resolved"] | None


@dataclass(frozen=True)
class ParsedResult:
    """The checked reading: a change, an alert, or nothing, and why (``model_failed``: the
    model gave no answer, as opposed to an answer that was checked and refused)."""

    item: Change | Alert | None
    reason: str
    model_failed: bool = False


def message_text(event: Mapping[str, Any]) -> str | None:
    """The plain text of a message the model may read: a bot's new message (not an edit,
    a deletion or other bookkeeping), as the pattern readers would see it; else ``None``."""
    message = inner_event(event)
    if message is None or message.get("type", "message") != "message":
        return None
    if message.get("subtype") not in (None, "bot_message") or not is_bot_message(message):
        return None
    text = message_parts(message).text[:MAX_TEXT].strip()
    return text or None


class MessageParser:
    """Reads messages with a model and checks what it says.

    Args:
        model: the structured model (best a :class:`bot.core.llm_cache.CachingModel`).
        template: the ``parse_message`` prompt; the newest version by default.
        redactor: the secrets removed from the message before it is sent (configured
            patterns); the built-in ones by default.
    """

    def __init__(
        self,
        model: StructuredModel,
        *,
        template: prompts.PromptTemplate | None = None,
        redactor: prompts.Redactor | None = None,
    ) -> None:
        self.model = model
        self.template = template or prompts.load("parse_message")
        self._redactor = redactor or prompts.Redactor()

    def __repr__(self) -> str:
        return f"MessageParser({self.model!r}, prompt={self.template.key!r})"

    def parse(
        self,
        text: str,
        *,
        expect: Expected,
        known_services: Collection[str],
        version_pattern: re.Pattern[str] = VERSION_PATTERN,
        environments: Collection[str] = PRODUCTION_ENVIRONMENTS,
        ts: str | None = None,
        now: datetime,
        nonce: str | None = None,
    ) -> ParsedResult:
        """What the message records, checked; never raises for what the model answers.

        Args:
            text: the message's plain text (:func:`message_text`), untrusted.
            expect: what the channel carries: ``change`` (deploy channels) or ``alert``.
            known_services: the catalog's service names.
            version_pattern: what a version must look like, all of it.
            environments: the environment names that count as production.
            ts: the message's Slack timestamp (the time of the change or alert, and its id).
            now: the time when the message has no ``ts`` (timezone-aware).
            nonce: the fence's nonce; fresh unless given (tests fix it).
        """
        known = frozenset(s for s in known_services if isinstance(s, str))
        if not text.strip():
            return ParsedResult(None, "empty message")
        values = {"services": "\n".join(sorted(known)), "message": text[:MAX_TEXT]}
        prompt = self.template.render(values, nonce=nonce, redactor=self._redactor)
        try:
            answer = self.model.structured(prompt, ParsedMessage)
        except Exception as exc:  # a model port that raises is a failed call, nothing more
            return ParsedResult(None, f"model error: {type(exc).__name__}", model_failed=True)
        if str(answer.outcome) != "ok" or answer.value is None:
            detail = f" ({answer.detail})" if answer.detail else ""
            return ParsedResult(None, f"model outcome {answer.outcome}{detail}", model_failed=True)
        parsed = answer.value
        if parsed.kind == "none":
            return ParsedResult(None, "the model read no deploy or alert in it")
        if parsed.kind != expect:
            return ParsedResult(
                None, f"the model read {parsed.kind}, this channel carries {expect}"
            )
        service = parsed.service
        if service is None or service not in known:
            return ParsedResult(None, f"service {_shown(service)} is not a known service")
        if not _names(text, service):
            return ParsedResult(None, f"service {service} is not written in the message")
        at = slack_time(ts) or now
        if parsed.kind == "change":
            return _change(parsed, service, text, version_pattern, environments, ts, at)
        return _alert(parsed, service, text, at)


def _change(
    parsed: ParsedMessage,
    service: str,
    text: str,
    version_pattern: re.Pattern[str],
    environments: Collection[str],
    ts: str | None,
    at: datetime,
) -> ParsedResult:
    version = parsed.version
    if version is None:
        return ParsedResult(None, "no version")
    if len(version) > _MAX_FIELD or not version_pattern.fullmatch(version):
        return ParsedResult(None, f"version {_shown(version)} does not look like a version")
    if version not in text:
        return ParsedResult(None, f"version {version} is not written in the message")
    if _FAILED.search(text):
        return ParsedResult(None, "the message reports a failed or rolled back deploy")
    production = frozenset(e.casefold() for e in environments if isinstance(e, str))
    env = parsed.environment
    if env is None or not _is_production(env, production):
        return ParsedResult(None, f"environment {_shown(env)} is not production")
    if not any(_names(text.casefold(), name) for name in production):
        return ParsedResult(None, "the message names no production environment")
    from_version = parsed.from_version
    if from_version is not None and (
        len(from_version) > _MAX_FIELD
        or not version_pattern.fullmatch(from_version)
        or from_version not in text
    ):
        from_version = None
    actor = (parsed.actor or "").strip().lstrip("@")[:_MAX_ACTOR]
    key = json.dumps([service, version, ts], ensure_ascii=True, separators=(",", ":"))
    change = Change(
        id=f"slack-{hashlib.sha256(key.encode('ascii')).hexdigest()[:16]}",
        service=service,
        kind=ChangeKind.DEPLOY,
        at=at,
        from_version=from_version,
        to_version=version,
        actor=actor if _NAME.fullmatch(actor) else None,
        source=SOURCE,
        summary=text[:MAX_SUMMARY],
    )
    return ParsedResult(change, f"the model read a deploy of {service} {version}")


def _alert(parsed: ParsedMessage, service: str, text: str, at: datetime) -> ParsedResult:
    name = (parsed.alert_name or "").strip()
    if not _NAME.fullmatch(name):
        return ParsedResult(None, f"alert name {_shown(parsed.alert_name)} is not a plain name")
    if _UPDATES.search(text):
        return ParsedResult(None, "the message updates an alert that fired already")
    severity = (parsed.severity or "").strip().casefold()
    status = AlertStatus.RESOLVED if parsed.status == "resolved" else AlertStatus.FIRING
    key = json.dumps(["model", service, name], ensure_ascii=True, separators=(",", ":"))
    alert = Alert(
        fingerprint=hashlib.sha256(key.encode("ascii")).hexdigest()[:16],
        service=service,
        name=name,
        severity=severity if severity in _SEVERITIES else "unknown",
        status=status,
        started_at=at,
        summary=text[:MAX_SUMMARY],
        labels={"alertname": name, "service": service},
        source=SOURCE,
    )
    return ParsedResult(alert, f"the model read alert {name} on {service} ({status.value})")


def _names(text: str, name: str) -> bool:
    """Whether ``text`` has ``name`` as a word of its own (``cartservice-prod`` counts)."""
    return re.search(rf"(?<![\w.\-]){re.escape(name)}(?!\w)", text) is not None


def _is_production(env: str, production: frozenset[str]) -> bool:
    folded = env.strip().casefold()
    head = re.split(r"[-_.]", folded, maxsplit=1)[0]
    return folded in production or head in production


def _shown(value: str | None) -> str:
    """A model's value, quoted and cut, for a log line."""
    return "none" if value is None else repr(value[:60])
