"""Model answers cached in the database (issue 9 item 7), in front of any structured model.

:class:`CachingModel` wraps a :class:`planners.llm.StructuredModel` (the OpenAI client) and is
one itself. Its key (:func:`cache_key`) is a SHA-256 over everything that decides an answer:
the prompt's id, version and template digest, the schema's name and JSON Schema, the model, the
endpoint's host, the temperature and the input, redacted before it is hashed, with the
rendering's fence nonce taken out (it is fresh on every rendering and would make every key
new). An ``ok`` answer is kept as the validated model's JSON for ``ttl`` and validated against
the schema again when read; a row that no longer validates is a miss (and is replaced). A
failure the endpoint gave (an error, a timeout, a refusal, an invalid answer) is kept for
``failure_ttl`` only, so a broken endpoint is not asked again for every message meanwhile, and
is asked again after. A call the client skipped (``circuit_open``, ``deadline``) says nothing
about the endpoint's answer and is not kept. The cache never stops an answer: when the database
fails, the model is asked as if there were no cache.

Each call's result goes to a :class:`CacheRecorder`, by prompt (the runtime counts them as
``backout_llm_cache_total`` at ``/metrics``): ``hit`` (an ``ok`` answer served), ``failure_hit``
(a stored failure served), ``miss`` (the model asked: nothing live, a row that no longer fits,
or an answer not kept) or ``error`` (the model asked because the database could not be read,
or its answer could not be stored).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

import prompts
from bot.store.llm_cache import LLMCache
from planners.llm import ModelAnswer, StructuredModel

__all__ = [
    "CACHE_RESULTS",
    "DEFAULT_FAILURE_TTL",
    "DEFAULT_TTL",
    "NOT_CACHED",
    "CacheRecorder",
    "CachedAnswer",
    "CachingModel",
    "cache_key",
    "schema_digest",
]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

DEFAULT_TTL = timedelta(hours=24)
"""How long an ``ok`` answer is served from the cache."""
DEFAULT_FAILURE_TTL = timedelta(seconds=60)
"""How long a failure is served from the cache before the endpoint is asked again."""
NOT_CACHED = frozenset({"circuit_open", "deadline"})
"""Outcomes of calls the client skipped or cut for its own reasons: never cached."""

_OK = "ok"
_NONCE = "{{nonce}}"
_HIT, _MISS, _FAILURE_HIT, _ERROR = "hit", "miss", "failure_hit", "error"

CACHE_RESULTS: Final = (_HIT, _MISS, _FAILURE_HIT, _ERROR)
"""What a call to :class:`CachingModel` can come to, as given to its :class:`CacheRecorder`."""


class CacheRecorder(Protocol):
    """Where :class:`CachingModel` reports each call's result (one of :data:`CACHE_RESULTS`)
    with the prompt's key (``explain_plan.v1``); must not raise."""

    def record(self, *, prompt: str, result: str) -> None: ...


@dataclass(frozen=True)
class CachedAnswer(Generic[M]):
    """An answer served from the cache (a :class:`planners.llm.ModelAnswer`)."""

    outcome: str
    value: M | None
    model: str
    detail: str


def schema_digest(schema: type[BaseModel]) -> str:
    """SHA-256 of the schema's name and JSON Schema (a changed field changes it)."""
    text = json.dumps(
        [schema.__name__, schema.model_json_schema()], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode()).hexdigest()


def cache_key(
    prompt: prompts.RenderedPrompt,
    schema: type[BaseModel],
    *,
    model: str,
    host: str,
    temperature: float | None,
    redactor: prompts.Redactor | None = None,
) -> str:
    """The cache key of asking ``model`` at ``host`` for ``schema`` with ``prompt``.

    The input is redacted (``redactor``, the built-in patterns by default) before it is hashed,
    and the rendering's nonce is replaced by a fixed marker, so two renderings of the same
    values share a key.
    """
    redact = redactor or prompts.Redactor()
    messages = [
        [m.role, redact(m.content.replace(prompt.nonce, _NONCE) if prompt.nonce else m.content)]
        for m in prompt.messages
    ]
    material = {
        "prompt": [prompt.id, prompt.version, prompt.digest],
        "schema": schema_digest(schema),
        "model": model,
        "host": host,
        "temperature": temperature,
        "input": messages,
    }
    text = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class CachingModel:
    """A :class:`planners.llm.StructuredModel` that asks ``model`` only on a cache miss.

    Args:
        inner: the model to ask (``OpenAIChatClient``).
        cache: the store's ``llm_cache``; its clock decides expiry.
        model: the configured model name (part of the key).
        host: the endpoint's host (part of the key; ``LLMConfig.host``).
        temperature: the configured temperature (part of the key).
        ttl: how long an ``ok`` answer is served.
        failure_ttl: how long a failure is served.
        redactor: the secrets removed from the input before it is hashed (the configured
            patterns); the built-in ones by default.
        recorder: receives each call's result (the bot's metrics); nothing by default.
    """

    def __init__(
        self,
        inner: StructuredModel,
        *,
        cache: LLMCache,
        model: str,
        host: str,
        temperature: float | None,
        ttl: timedelta = DEFAULT_TTL,
        failure_ttl: timedelta = DEFAULT_FAILURE_TTL,
        redactor: prompts.Redactor | None = None,
        recorder: CacheRecorder | None = None,
    ) -> None:
        if ttl <= timedelta(0) or failure_ttl <= timedelta(0):
            raise ValueError("cache ttl and failure_ttl must be positive")
        self.inner = inner
        self._cache = cache
        self.model, self.host, self.temperature = model, host, temperature
        self.ttl, self.failure_ttl = ttl, failure_ttl
        self._redactor = redactor or prompts.Redactor()
        self._recorder = recorder

    def __repr__(self) -> str:
        return f"CachingModel({self.inner!r}, ttl={self.ttl}, failure_ttl={self.failure_ttl})"

    def key(self, prompt: prompts.RenderedPrompt, schema: type[BaseModel]) -> str:
        """The cache key of this call."""
        return cache_key(
            prompt,
            schema,
            model=self.model,
            host=self.host,
            temperature=self.temperature,
            redactor=self._redactor,
        )

    def structured(self, prompt: prompts.RenderedPrompt, schema: type[M]) -> ModelAnswer[M]:
        """The cached answer for this call if one is live, else the model's (then cached)."""
        key = self.key(prompt, schema)
        cached, result = self._read(key, prompt, schema)
        answer: ModelAnswer[M]
        if cached is not None:
            answer = cached
        else:
            answer = self.inner.structured(prompt, schema)
            if not self._write(key, prompt, answer):
                result = _ERROR
        if self._recorder is not None:
            self._recorder.record(prompt=prompt.key, result=result)
        return answer

    def _read(
        self, key: str, prompt: prompts.RenderedPrompt, schema: type[M]
    ) -> tuple[CachedAnswer[M] | None, str]:
        try:
            entry = self._cache.get(key)
        except Exception:
            log.exception("the model cache could not be read; asking the model")
            return None, _ERROR
        if entry is None:
            return None, _MISS
        detail = f"cached {entry.created_at.isoformat()}"
        if entry.outcome != _OK:
            failure = CachedAnswer[M](entry.outcome, None, entry.model, entry.detail or detail)
            return failure, _FAILURE_HIT
        try:
            value = schema.model_validate_json(entry.value or "")
        except ValidationError as exc:
            log.warning(
                "cached %s answer does not fit %s (%d errors): ignored",
                prompt.key,
                schema.__name__,
                exc.error_count(),
            )
            return None, _MISS
        return CachedAnswer(_OK, value, entry.model, detail), _HIT

    def _write(self, key: str, prompt: prompts.RenderedPrompt, answer: ModelAnswer[M]) -> bool:
        """Keep ``answer`` if it is to be kept; False when the database would not store it."""
        outcome = str(answer.outcome)
        if outcome in NOT_CACHED:
            return True
        if outcome == _OK:
            if answer.value is None:
                return True
            value: str | None = answer.value.model_dump_json()
            ttl = self.ttl
        else:
            value, ttl = None, self.failure_ttl
        try:
            self._cache.put(
                key,
                prompt=prompt.key,
                model=answer.model or self.model,
                outcome=outcome,
                value=value,
                ttl=ttl,
                detail=answer.detail,
            )
        except Exception:
            log.exception("the model cache could not be written; the answer is used uncached")
            return False
        return True
