"""Model answers cached in the database (issue 9 item 7): keyed on the prompt id and version,
the schema, the model, the endpoint host, the temperature and the redacted input; ``ok`` answers
for a TTL, failures briefly; on both backends."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

import prompts
from bot.core.llm_cache import CACHE_RESULTS, CachingModel, cache_key
from bot.slack.metrics import Metrics
from bot.store import LLMCache, Store
from tests.support.store import Clock

NONCE = "0123456789abcdef"


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    service: str | None


class OtherVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    service: str | None
    version: str | None


@dataclass(frozen=True)
class Answer:
    outcome: str
    value: Any
    model: str = "gpt-test"
    detail: str = ""


@dataclass
class CountingModel:
    """Answers every call with the next scripted outcome (``ok`` by default) and counts calls."""

    outcomes: list[str] = field(default_factory=list)
    calls: int = 0

    def structured(self, prompt: prompts.RenderedPrompt, schema: type[Any]) -> Answer:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome != "ok":
            return Answer(outcome, None, detail=f"{outcome} (call {self.calls})")
        fields = {"kind": "change", "service": f"svc{self.calls}"}
        if "version" in schema.model_fields:
            fields["version"] = "1.0.0"
        return Answer("ok", schema(**fields))


def render(
    message: str = "shipped cartservice 1.4.3 to prod", *, nonce: str | None = None
) -> prompts.RenderedPrompt:
    values = {"services": "cartservice\nfrontend", "message": message}
    return prompts.load("parse_message").render(values, nonce=nonce)


def caching(
    store: Store,
    inner: CountingModel,
    clock: Clock,
    *,
    model: str = "gpt-test",
    host: str = "api.openai.com",
    temperature: float | None = 0.0,
    metrics: Metrics | None = None,
) -> CachingModel:
    return CachingModel(
        inner,
        cache=LLMCache(store.engine, clock=clock),
        model=model,
        host=host,
        temperature=temperature,
        recorder=metrics.llm_cache if metrics else None,
    )


def counted(metrics: Metrics) -> dict[str, float]:
    """``backout_llm_cache_total`` of the ``parse_message.v1`` prompt, by result."""
    values = {
        result: metrics.registry.get_sample_value(
            "backout_llm_cache_total", {"prompt": "parse_message.v1", "result": result}
        )
        for result in CACHE_RESULTS
    }
    return {result: value for result, value in values.items() if value}


def test_a_second_identical_call_is_served_from_the_cache(store):
    """Same prompt (even rendered with another nonce), schema and settings: one model call, the
    same validated value, re-validated from the stored JSON."""
    inner, clock = CountingModel(), Clock()
    model = caching(store, inner, clock)
    first = model.structured(render(nonce="a" * 16), Verdict)
    second = model.structured(render(nonce="b" * 16), Verdict)
    assert inner.calls == 1
    assert (first.outcome, second.outcome) == ("ok", "ok")
    assert isinstance(second.value, Verdict)
    assert second.value == first.value == Verdict(kind="change", service="svc1")
    assert second.model == "gpt-test"


@pytest.mark.parametrize(
    "variant",
    ["model", "host", "temperature", "prompt_version", "template", "schema", "input"],
)
def test_any_key_part_changing_misses(store, variant):
    """Changing any part of the key asks the model again; the first entry still serves."""
    inner, clock = CountingModel(), Clock()
    base = caching(store, inner, clock)
    prompt = render()
    schema: type[BaseModel] = Verdict
    base.structured(prompt, schema)
    other_model = base
    if variant == "model":
        other_model = caching(store, inner, clock, model="gpt-other")
    elif variant == "host":
        other_model = caching(store, inner, clock, host="localhost")
    elif variant == "temperature":
        other_model = caching(store, inner, clock, temperature=0.7)
    elif variant == "prompt_version":
        prompt = dataclasses.replace(prompt, version=2)
    elif variant == "template":
        prompt = dataclasses.replace(prompt, digest="0" * 64)
    elif variant == "schema":
        schema = OtherVerdict
    elif variant == "input":
        prompt = render("shipped cartservice 1.4.4 to prod")
    other_model.structured(prompt, schema)
    assert inner.calls == 2
    base.structured(render(), Verdict)
    assert inner.calls == 2


def test_the_key_is_computed_on_redacted_input():
    """Two inputs differing only in a secret share a key: the secret never reaches the hash."""
    a = render("deployed cartservice 1.4.3 to prod token=xoxb-1111111111-2222222222-aaaaaaaaaaaa")
    b = render("deployed cartservice 1.4.3 to prod token=xoxb-9999999999-8888888888-bbbbbbbbbbbb")
    settings: dict[str, Any] = {"model": "m", "host": "h", "temperature": 0.0}
    assert cache_key(a, Verdict, **settings) == cache_key(b, Verdict, **settings)
    assert cache_key(a, Verdict, **settings) != cache_key(render(), Verdict, **settings)


def test_an_ok_answer_expires_after_its_ttl(store):
    """Served until the TTL has passed (24 h by default), then the model is asked again."""
    inner, clock = CountingModel(), Clock()
    model = caching(store, inner, clock)
    model.structured(render(), Verdict)
    clock.advance(timedelta(hours=24).total_seconds() - 1)
    model.structured(render(), Verdict)
    assert inner.calls == 1
    clock.advance(1)
    assert model.structured(render(), Verdict).value == Verdict(kind="change", service="svc2")
    assert inner.calls == 2


def test_a_failure_is_cached_briefly_then_retried(store):
    """A failed call is answered from the cache for 60 s (not hammering a broken endpoint),
    then the endpoint is asked again, and its answer replaces the failure."""
    inner, clock = CountingModel(outcomes=["unavailable"]), Clock()
    model = caching(store, inner, clock)
    assert model.structured(render(), Verdict).outcome == "unavailable"
    again = model.structured(render(), Verdict)
    assert (again.outcome, again.value, inner.calls) == ("unavailable", None, 1)
    assert "unavailable" in again.detail
    clock.advance(60)
    recovered = model.structured(render(), Verdict)
    assert (recovered.outcome, inner.calls) == ("ok", 2)
    model.structured(render(), Verdict)
    assert inner.calls == 2


@pytest.mark.parametrize("outcome", ["circuit_open", "deadline"])
def test_calls_the_client_skipped_are_not_cached(store, outcome):
    """A skipped call says nothing about the endpoint: the next call asks it."""
    inner, clock = CountingModel(outcomes=[outcome]), Clock()
    model = caching(store, inner, clock)
    assert model.structured(render(), Verdict).outcome == outcome
    assert model.structured(render(), Verdict).outcome == "ok"
    assert inner.calls == 2


@pytest.mark.parametrize("stored", ['{"kind": "change"', '{"kind": "change", "x": 1}', None])
def test_a_corrupted_cached_row_is_a_miss(store, stored, caplog):
    """A row that is not JSON, no longer fits the schema, or has no value is ignored (logged);
    the model is asked and its answer replaces the row."""
    inner, clock = CountingModel(), Clock()
    model = caching(store, inner, clock)
    model.structured(render(), Verdict)
    table = sa.table("llm_cache", sa.column("value"))
    with store.engine.begin() as conn:
        conn.execute(sa.update(table).values(value=stored))
    with caplog.at_level(logging.WARNING, logger="bot.core.llm_cache"):
        answer = model.structured(render(), Verdict)
    assert (answer.outcome, inner.calls) == ("ok", 2)
    assert answer.value == Verdict(kind="change", service="svc2")
    assert "does not fit Verdict" in caplog.text
    model.structured(render(), Verdict)
    assert inner.calls == 2


class BrokenCache:
    def get(self, key: str) -> None:
        raise sa.exc.OperationalError("SELECT", {}, Exception("database is gone"))

    def put(self, key: str, **_: Any) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is gone"))


def test_a_broken_cache_never_stops_an_answer(caplog):
    """When the database fails, the model is asked as if there were no cache."""
    inner = CountingModel()
    model = CachingModel(inner, cache=BrokenCache(), model="m", host="h", temperature=None)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="bot.core.llm_cache"):
        assert model.structured(render(), Verdict).outcome == "ok"
        assert model.structured(render(), Verdict).outcome == "ok"
    assert inner.calls == 2
    assert "could not be read" in caplog.text
    assert "could not be written" in caplog.text


def test_misses_hits_and_served_failures_are_counted_in_the_metrics(store):
    """A first call misses and a second one hits; a stored failure served counts as
    ``failure_hit``; the counts are in the ``/metrics`` text, by prompt and result."""
    inner, clock, metrics = CountingModel(), Clock(), Metrics()
    model = caching(store, inner, clock, metrics=metrics)
    model.structured(render(), Verdict)
    assert counted(metrics) == {"miss": 1.0}
    model.structured(render(), Verdict)
    assert counted(metrics) == {"miss": 1.0, "hit": 1.0}
    inner.outcomes = ["unavailable"]
    other = render("shipped frontend 2.0.0 to prod")
    assert model.structured(other, Verdict).outcome == "unavailable"
    assert model.structured(other, Verdict).outcome == "unavailable"
    assert inner.calls == 2
    assert counted(metrics) == {"miss": 2.0, "hit": 1.0, "failure_hit": 1.0}
    text = metrics.render().decode()
    assert 'backout_llm_cache_total{prompt="parse_message.v1",result="hit"} 1.0' in text
    assert 'backout_llm_cache_total{prompt="parse_message.v1",result="miss"} 2.0' in text


class UnwritableCache(BrokenCache):
    def get(self, key: str) -> None:
        return None


@pytest.mark.parametrize("cache", [BrokenCache(), UnwritableCache()], ids=["read", "write"])
def test_a_broken_cache_is_counted_as_errors(cache, caplog):
    """Every call the database failed (to read, or to store the answer) counts as ``error``,
    not as a miss."""
    metrics = Metrics()
    model = CachingModel(
        CountingModel(),
        cache=cache,
        model="m",
        host="h",
        temperature=None,
        recorder=metrics.llm_cache,
    )
    with caplog.at_level(logging.ERROR, logger="bot.core.llm_cache"):
        assert model.structured(render(), Verdict).outcome == "ok"
        assert model.structured(render(), Verdict).outcome == "ok"
    assert counted(metrics) == {"error": 2.0}
