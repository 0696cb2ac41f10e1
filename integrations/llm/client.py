"""The model client: one OpenAI-compatible endpoint (OpenAI, Azure OpenAI, Ollama, vLLM,
llama.cpp) through the official ``openai`` package, asked for structured output only.

:meth:`OpenAIChatClient.structured` sends a :class:`prompts.RenderedPrompt` and returns an
:class:`LLMResult` whose value is an instance of the caller's pydantic schema, or an outcome
saying why there is none. On the way it redacts every message again (defence in depth; rendering
already did), skips the endpoint while its circuit breaker is open or the plan's deadline has
passed, sends an explicit token limit, asks for ``json_schema`` through
``chat.completions.parse`` and falls back to ``json_object`` with the schema in the prompt (then
to no result) when the endpoint refuses a mode, remembering the mode per endpoint. The SDK's own
retries are off (they sleep up to two minutes on a ``Retry-After`` and would retry llama.cpp's
500 for ``json_schema``): this client retries temporary failures ``max_retries`` times itself,
only while the deadline leaves room, and never a refused mode. Each call is reported to a
:class:`CallRecorder`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx2
import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from pydantic import BaseModel, ValidationError

from integrations.errors import IntegrationError
from integrations.llm.breaker import CircuitBreaker, Clock, Deadline
from integrations.llm.config import LLMConfig
from integrations.llm.errors import DeadlineExceededError, ModelRequestError
from integrations.llm.failures import INTEGRATION, translate
from integrations.llm.metrics import CallRecord, CallRecorder
from integrations.llm.modes import ModeMemory
from integrations.llm.outcome import FAILURES, LLMResult, Outcome, StructuredMode, Usage
from prompts import Redactor, RenderedPrompt

__all__ = ["OpenAIChatClient"]

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

_BACKOFF_SECONDS = 0.5  # the SDK's INITIAL_RETRY_DELAY
_SCHEMA_INSTRUCTION = (
    "Answer with one JSON object and nothing else. It must validate against this JSON Schema:\n"
)


@dataclass
class _Call(Generic[T]):
    """The state of one call across its requests."""

    prompt: RenderedPrompt
    schema: type[T]
    deadline: Deadline
    usage: Usage = field(default_factory=Usage)
    attempts: int = 0
    mode: StructuredMode | None = None


@dataclass(frozen=True)
class _Answer(Generic[T]):
    outcome: Outcome
    value: T | None = None
    detail: str = ""
    error: IntegrationError | None = None


class OpenAIChatClient:
    """Structured answers from one OpenAI-compatible endpoint.

    Args:
        config: the endpoint, the model and the limits.
        clock: monotonic seconds (deadlines, the breaker, latency); ``time.monotonic``.
        sleep: waits between attempts; ``time.sleep``.
        recorder: receives one record per call.
        modes: which structured-output mode works where; shared between clients if given.
        http_client: an ``httpx2.Client`` to send through (a test's ``MockTransport``); the
            SDK's default otherwise. Its timeouts are replaced per request.
    """

    def __init__(
        self,
        *,
        config: LLMConfig,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        recorder: CallRecorder | None = None,
        modes: ModeMemory | None = None,
        http_client: httpx2.Client | None = None,
    ) -> None:
        self.config = config
        self._clock, self._sleep, self._recorder = clock, sleep, recorder
        self.modes = modes or ModeMemory()
        self.breaker = CircuitBreaker(
            failures=config.breaker_failures, cooldown=config.breaker_cooldown, clock=clock
        )
        self._redact = Redactor(config.redact_patterns)
        self._sdk = openai.OpenAI(
            api_key=config.api_key or "no-key",  # local servers ignore it; the SDK needs one
            base_url=config.endpoint,
            timeout=httpx2.Timeout(config.timeout, connect=config.connect_timeout),
            max_retries=0,
            http_client=http_client,
        )

    def deadline(self) -> Deadline:
        """A fresh deadline of ``config.deadline`` seconds, to share between one plan's calls."""
        return Deadline(self.config.deadline, clock=self._clock)

    def structured(
        self, prompt: RenderedPrompt, schema: type[T], *, deadline: Deadline | None = None
    ) -> LLMResult[T]:
        """Ask for an answer shaped by ``schema``; never raises for what the endpoint does.

        Args:
            prompt: the rendered prompt; its ``output`` must be ``schema``'s name.
            schema: the pydantic model of the answer (``extra="forbid"`` recommended).
            deadline: the plan's deadline; a fresh one for this call if ``None``.

        Raises:
            ValueError: ``schema`` is not the prompt's declared output (a programming error).
        """
        if prompt.output != schema.__name__:
            raise ValueError(f"{prompt.key} answers {prompt.output}, not {schema.__name__}")
        started = self._clock()
        call = _Call(prompt, schema, deadline or self.deadline())
        answer = self._run(call)
        result = self._finish(call, answer, self._clock() - started)
        return result

    def close(self) -> None:
        """Close the connections."""
        self._sdk.close()

    def __enter__(self) -> OpenAIChatClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpenAIChatClient(model={self.config.model!r}, host={self.config.host!r})"

    # -- one call ---------------------------------------------------------------------------

    def _run(self, call: _Call[T]) -> _Answer[T]:
        if call.deadline.expired:
            return _Answer(Outcome.DEADLINE, detail="no time left for the model in this plan")
        if not self.breaker.allow():
            return _Answer(Outcome.CIRCUIT_OPEN, detail="the model failed repeatedly; skipped")
        answer = self._fallbacks(call)
        if answer.outcome in FAILURES:
            self.breaker.failed()
        else:
            self.breaker.succeeded()
        return answer

    def _fallbacks(self, call: _Call[T]) -> _Answer[T]:
        mode = self.modes.get(self.config.endpoint)
        while mode is not StructuredMode.NONE:
            call.mode = mode
            answer = self._attempts(call, mode)
            if answer.outcome is not Outcome.UNSUPPORTED:
                return answer
            log.info(
                "%s refuses %s output; falling back",
                self.config.host,
                mode.value,
                extra={"llm_host": self.config.host, "llm_mode": mode.value},
            )
            mode = self.modes.refused(self.config.endpoint, mode)
        error = ModelRequestError(
            "the endpoint accepts neither json_schema nor json_object output",
            integration=INTEGRATION,
        )
        return _Answer(Outcome.UNSUPPORTED, detail=str(error), error=error)

    def _attempts(self, call: _Call[T], mode: StructuredMode) -> _Answer[T]:
        for attempt in range(self.config.max_retries + 1):
            remaining = call.deadline.remaining()
            if remaining <= 0:
                error = DeadlineExceededError("the model deadline passed", integration=INTEGRATION)
                return _Answer(Outcome.DEADLINE, detail=str(error), error=error)
            try:
                return self._request(call, mode, remaining)
            except openai.OpenAIError as exc:
                failure = translate(exc, redact=self._redact)
            wait = _BACKOFF_SECONDS if failure.retry_after is None else failure.retry_after
            room = call.deadline.remaining() - wait - self.config.connect_timeout
            if not failure.retryable or attempt == self.config.max_retries or room <= 0:
                return _Answer(failure.outcome, detail=str(failure.error), error=failure.error)
            log.info("model request failed (%s); retrying in %.2fs", failure.error, wait)
            self._sleep(wait)
        raise AssertionError("unreachable: the last attempt returns")  # pragma: no cover

    def _request(self, call: _Call[T], mode: StructuredMode, remaining: float) -> _Answer[T]:
        timeout = httpx2.Timeout(
            min(self.config.timeout, remaining),
            connect=min(self.config.connect_timeout, remaining),
        )
        messages = self._messages(call, mode)
        limit: dict[str, Any] = {self.config.token_limit_field: self.config.max_tokens}
        if self.config.temperature is not None:
            limit["temperature"] = self.config.temperature
        call.attempts += 1
        completions = self._sdk.chat.completions.with_raw_response
        if mode is StructuredMode.JSON_SCHEMA:
            raw: Any = completions.parse(
                model=self.config.model,
                messages=messages,
                response_format=call.schema,
                timeout=timeout,
                **limit,
            )
        else:
            raw = completions.create(
                model=self.config.model,
                messages=messages,
                response_format={"type": "json_object"},
                timeout=timeout,
                **limit,
            )
        body = _json(raw.http_response)
        call.usage += _usage(body)
        problem = _shape_problem(body)
        if problem:
            return _Answer(Outcome.INVALID, detail=f"not a chat completion: {problem}")
        try:
            completion = raw.parse()
        except openai.LengthFinishReasonError:
            return _Answer(Outcome.TRUNCATED, detail="the answer hit the token limit")
        except openai.ContentFilterFinishReasonError:
            return _Answer(Outcome.FILTERED, detail="the endpoint's content filter stopped it")
        except ValidationError as exc:
            return _Answer(Outcome.INVALID, detail=_invalid(exc))
        return self._classify(completion, call.schema)

    def _messages(self, call: _Call[T], mode: StructuredMode) -> list[ChatCompletionMessageParam]:
        messages: list[ChatCompletionMessageParam] = []
        for message in call.prompt.messages:
            content = self._redact(message.content)
            if message.role == "system":
                if mode is StructuredMode.JSON_OBJECT:
                    schema = json.dumps(call.schema.model_json_schema(), sort_keys=True)
                    content = f"{content}\n\n{_SCHEMA_INSTRUCTION}{schema}"
                messages.append({"role": "system", "content": content})
            else:
                messages.append({"role": "user", "content": content})
        return messages

    def _classify(self, completion: ChatCompletion, schema: type[T]) -> _Answer[T]:
        if not completion.choices:
            return _Answer(Outcome.INVALID, detail="the answer has no choices")
        choice = completion.choices[0]
        if choice.finish_reason == "length":
            return _Answer(Outcome.TRUNCATED, detail="the answer hit the token limit")
        if choice.finish_reason == "content_filter":
            return _Answer(Outcome.FILTERED, detail="the endpoint's content filter stopped it")
        message = choice.message
        if message.refusal:
            refusal = self._redact(message.refusal)[:200]
            return _Answer(Outcome.REFUSED, detail=f"the model refused: {refusal}")
        parsed = getattr(message, "parsed", None)
        if isinstance(parsed, schema):
            return _Answer(Outcome.OK, value=parsed)
        if not message.content:
            what = "tool calls" if message.tool_calls else "nothing"
            return _Answer(Outcome.INVALID, detail=f"the model answered {what}, not JSON")
        try:
            return _Answer(Outcome.OK, value=schema.model_validate_json(message.content))
        except ValidationError as exc:
            return _Answer(Outcome.INVALID, detail=_invalid(exc))

    def _finish(self, call: _Call[T], answer: _Answer[T], latency: float) -> LLMResult[T]:
        cost = self.config.cost(call.usage.prompt_tokens, call.usage.completion_tokens)
        result = LLMResult(
            outcome=answer.outcome,
            value=answer.value,
            prompt=call.prompt.key,
            model=self.config.model,
            mode=call.mode,
            usage=call.usage,
            latency_seconds=latency,
            cost=cost,
            attempts=call.attempts,
            detail=answer.detail,
            error=answer.error,
        )
        if self._recorder is not None:
            self._recorder.record(
                CallRecord(
                    prompt=result.prompt,
                    model=result.model,
                    host=self.config.host,
                    outcome=result.outcome.value,
                    mode=None if result.mode is None else result.mode.value,
                    prompt_tokens=result.usage.prompt_tokens,
                    completion_tokens=result.usage.completion_tokens,
                    latency_seconds=latency,
                    cost=cost,
                    attempts=result.attempts,
                )
            )
        log.info(
            "model call %s: %s",
            result.prompt,
            result.outcome.value,
            extra={"llm_prompt": result.prompt, "llm_outcome": result.outcome.value},
        )
        return result


def _json(response: httpx2.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _usage(body: Any) -> Usage:
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return Usage()
    counts = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
    return Usage(*(n if isinstance(n, int) and n >= 0 else 0 for n in counts))


def _shape_problem(body: Any) -> str | None:
    """What keeps ``body`` from being a chat completion the SDK can read, if anything."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "no choices"
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        return "the choice has no message"
    for key in ("content", "refusal"):
        if not isinstance(message.get(key), str | None):
            return f"message.{key} is not text"
    if not isinstance(choice.get("finish_reason"), str | None):
        return "finish_reason is not text"
    if not isinstance(message.get("tool_calls"), list | None):
        return "tool_calls is not a list"
    return None


def _invalid(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0] if errors else {"loc": (), "msg": str(exc)}
    where = ".".join(str(part) for part in first["loc"]) or "the answer"
    return f"the answer does not fit the schema ({len(errors)} errors): {where}: {first['msg']}"
