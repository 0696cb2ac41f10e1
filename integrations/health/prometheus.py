"""The Prometheus health check: one instant query against the Prometheus HTTP API.

One of the :class:`~integrations.base.HealthCheck` adapters of ``integrations/health/``. Each
reading is one ``GET /api/v1/query?query=...``. The condition is either the query itself (a PromQL
comparison such as ``error_ratio < 0.05`` filters the vector, so an empty answer means the
condition fails: mode ``"non_empty"``) or an ``op`` and a ``threshold`` applied to every sample
(mode ``"threshold"``). No data is not health: an empty answer is unhealthy unless ``empty_is``
says otherwise, and a NaN sample is always unhealthy.

Errors follow ``integrations.errors``: a query Prometheus rejects (``bad_data``, ``execution``) is
a :class:`ConfigError` carrying Prometheus' own message; 5xx, query timeouts and transport failures
are :class:`UnavailableError`.
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import httpx

from integrations.base import HealthReading
from integrations.errors import ConfigError, UnavailableError
from integrations.health._config import (
    ClientFactory,
    optional_number,
    optional_text,
    positive_number,
    reject_unknown,
    text,
)
from integrations.http import make_client, raise_for_status, send

__all__ = ["OPERATORS", "PrometheusHealthCheck"]

log = logging.getLogger(__name__)

_INTEGRATION = "prometheus"

OPERATORS: Mapping[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
"""The comparisons ``op`` may name, as in PromQL."""

_CONFIG_KEYS = frozenset({"url", "query", "op", "threshold", "empty_is", "timeout", "name"})
_DEFAULT_TIMEOUT = 10.0
# Prometheus' errorType values that mean the query is wrong, not that the server is unwell.
_QUERY_ERRORS = frozenset({"bad_data", "execution"})

EmptyIs = Literal["healthy", "unhealthy"]


@dataclass(frozen=True)
class _Sample:
    labels: str
    value: float


class PrometheusHealthCheck:
    """Healthy when an instant PromQL query says so.

    Args:
        client: a client whose base URL is the Prometheus server (``http://prometheus:9090``).
        query: the PromQL expression.
        op: with ``threshold``, the comparison every sample must pass (``"<"``, ``">="``...);
            without both, the query itself is the condition and must return a non-empty vector
            (or, for a scalar, a value other than 0).
        threshold: what ``op`` compares against.
        empty_is: what an empty answer means in threshold mode; ``"unhealthy"`` by default, as
            no data is not health.
        name: how readings name the value ("error ratio"); the query when not given.

    Raises:
        ConfigError: ``op`` without ``threshold`` or the other way round, an unknown ``op``, or
            ``empty_is="healthy"`` where the query itself is the condition.
    """

    kind: ClassVar[str] = "prometheus"

    def __init__(
        self,
        *,
        client: httpx.Client,
        query: str,
        op: str | None = None,
        threshold: float | None = None,
        empty_is: EmptyIs = "unhealthy",
        name: str | None = None,
    ) -> None:
        _check_condition(query=query, op=op, threshold=threshold, empty_is=empty_is)
        self.client = client
        self.query = query
        self.op = op
        self.threshold = threshold
        self.empty_is: EmptyIs = empty_is
        self.name = name or query

    @property
    def mode(self) -> Literal["non_empty", "threshold"]:
        """``"threshold"`` when ``op`` and ``threshold`` are set, else ``"non_empty"``."""
        return "non_empty" if self.op is None else "threshold"

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        client_factory: ClientFactory = make_client,
        where: str = "prometheus",
    ) -> PrometheusHealthCheck:
        """Build a check from its configuration (the registry's factory signature).

        Args:
            config: ``url`` and ``query`` (required), ``op`` and ``threshold``, ``empty_is``,
                ``timeout`` (seconds per request, default 10) and ``name``.
            client_factory: builds the client for ``url``.
            where: names the configuration in error messages (``health.prometheus``).

        Raises:
            ConfigError: a key is missing, unknown or of the wrong type; the message names it.
        """
        fields = {"where": where, "integration": _INTEGRATION}
        reject_unknown(config, _CONFIG_KEYS, **fields)
        url = text(config, "url", **fields)
        query = text(config, "query", **fields)
        op = optional_text(config, "op", **fields)
        threshold = optional_number(config, "threshold", **fields)
        empty_is = config.get("empty_is", "unhealthy")
        name = optional_text(config, "name", **fields)
        timeout = positive_number(config, "timeout", default=_DEFAULT_TIMEOUT, **fields)
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{where}.url must be an http(s) URL, got {url!r}", integration=_INTEGRATION
            )
        _check_condition(query=query, op=op, threshold=threshold, empty_is=empty_is, where=where)
        return cls(
            client=client_factory(url, timeout=timeout),
            query=query,
            op=op,
            threshold=threshold,
            empty_is=empty_is,
            name=name,
        )

    def read(self) -> HealthReading:
        """Run the query once and judge the answer.

        Raises:
            ConfigError: Prometheus rejects the query, or answers a range vector or a string.
            UnavailableError: Prometheus failed (5xx, query timeout) or could not be reached.
        """
        request = self.client.build_request("GET", "/api/v1/query", params={"query": self.query})
        response = send(self.client, request, integration=_INTEGRATION)
        body = _json(response)
        _raise_for_prometheus_error(response, body, query=self.query)
        if (
            body is None
            or body.get("status") != "success"
            or not isinstance(body.get("data"), dict)
        ):
            raise ConfigError(
                f"{response.request.url} did not answer like the Prometheus query API "
                f"(HTTP {response.status_code}, {response.headers.get('content-type', 'no type')})",
                integration=_INTEGRATION,
            )
        reading = self._judge(body["data"])
        log.debug(
            "prometheus reading",
            extra={"query": self.query, "healthy": reading.healthy, "value": reading.value},
        )
        return reading

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    def __repr__(self) -> str:
        condition = "" if self.op is None else f" {self.op} {self.threshold}"
        return f"PrometheusHealthCheck({self.query!r}{condition})"

    def _judge(self, data: Mapping[str, Any]) -> HealthReading:
        result_type = data.get("resultType")
        result = data.get("result")
        if result_type == "vector" and isinstance(result, list):
            samples = [_vector_sample(item) for item in result]
        elif result_type == "scalar":
            samples = [_Sample(labels="", value=_value(result))]
        else:
            raise ConfigError(
                f"the query {self.query!r} returns a {result_type}; a health check needs an "
                "instant vector or a scalar (wrap a range selector in rate() or avg_over_time())",
                integration=_INTEGRATION,
            )
        if self.op is None or self.threshold is None:
            return self._judge_non_empty(samples, scalar=result_type == "scalar")
        return self._judge_threshold(samples, op=self.op, threshold=self.threshold)

    def _judge_non_empty(self, samples: list[_Sample], *, scalar: bool) -> HealthReading:
        if scalar:
            (sample,) = samples
            # A scalar comparison needs ``bool`` and answers 1 or 0.
            healthy = not math.isnan(sample.value) and sample.value != 0
            verdict = "holds" if healthy else "does not hold"
            return HealthReading(
                healthy=healthy,
                detail=f"{self.name} {verdict} (scalar {_fmt(sample.value)})",
                value=sample.value,
            )
        if not samples:
            return HealthReading(
                healthy=False,
                detail=f"{self.name} does not hold (no series returned, or no data)",
            )
        nan = [s for s in samples if math.isnan(s.value)]
        if nan:
            return HealthReading(
                healthy=False,
                detail=f"{self.name} returned NaN{_series(nan[0])}",
                value=math.nan,
            )
        values = ", ".join(_fmt(s.value) + _series(s) for s in samples[:3])
        more = f" and {len(samples) - 3} more" if len(samples) > 3 else ""
        return HealthReading(
            healthy=True, detail=f"{self.name} holds ({values}{more})", value=samples[0].value
        )

    def _judge_threshold(
        self, samples: list[_Sample], *, op: str, threshold: float
    ) -> HealthReading:
        needs = f"needs {op} {_fmt(threshold)}"
        if not samples:
            return HealthReading(
                healthy=self.empty_is == "healthy",
                detail=f"{self.name}: no data ({needs}; empty counts as {self.empty_is})",
            )
        compare = OPERATORS[op]
        failing = [s for s in samples if math.isnan(s.value) or not compare(s.value, threshold)]
        if failing:
            worst = failing[0]
            of = f"; {len(failing)} of {len(samples)} series fail" if len(samples) > 1 else ""
            return HealthReading(
                healthy=False,
                detail=f"{self.name} {_fmt(worst.value)}{_series(worst)} ({needs}{of})",
                value=worst.value,
            )
        closest = _closest(samples, op=op)
        return HealthReading(
            healthy=True,
            detail=f"{self.name} {_fmt(closest.value)}{_series(closest)} ({needs})",
            value=closest.value,
        )


def _check_condition(
    *, query: str, op: str | None, threshold: float | None, empty_is: object, where: str = ""
) -> None:
    """Raise on a condition that cannot work; ``where`` prefixes the field names."""
    field = f"{where}." if where else ""
    if not query.strip():
        raise ConfigError(f"{field}query is empty", integration=_INTEGRATION)
    if (op is None) != (threshold is None):
        raise ConfigError(
            f"{field}op and {field}threshold go together: give both, or neither to let the "
            "query itself be the condition",
            integration=_INTEGRATION,
        )
    if threshold is not None and math.isnan(threshold):
        raise ConfigError(f"{field}threshold is NaN", integration=_INTEGRATION)
    if op is not None and op not in OPERATORS:
        raise ConfigError(
            f"{field}op {op!r} is not one of {', '.join(OPERATORS)}", integration=_INTEGRATION
        )
    if empty_is not in ("healthy", "unhealthy"):
        raise ConfigError(
            f"{field}empty_is must be 'healthy' or 'unhealthy', got {empty_is!r}",
            integration=_INTEGRATION,
        )
    if op is None and empty_is == "healthy":
        raise ConfigError(
            f"{field}empty_is='healthy' needs op and threshold: when the query itself is the "
            "condition, an empty answer is what failing looks like",
            integration=_INTEGRATION,
        )


def _closest(samples: list[_Sample], *, op: str) -> _Sample:
    """The passing sample nearest to failing: the largest for ``<``, the smallest for ``>``."""
    if op in ("<", "<="):
        return max(samples, key=lambda s: s.value)
    if op in (">", ">="):
        return min(samples, key=lambda s: s.value)
    return samples[0]


def _raise_for_prometheus_error(
    response: httpx.Response, body: dict[str, Any] | None, *, query: str
) -> None:
    """Prometheus' own error envelope first (it says why), then the generic status mapping."""
    if body is not None and body.get("status") == "error":
        error_type = str(body.get("errorType", ""))
        error = str(body.get("error", "")).strip() or "no message"
        if error_type in _QUERY_ERRORS:
            raise ConfigError(
                f"Prometheus rejected the query {query!r}: {error}", integration=_INTEGRATION
            )
        if response.status_code >= 500 or error_type in ("timeout", "canceled", "unavailable"):
            raise UnavailableError(
                f"Prometheus could not run the query ({error_type or response.status_code}): "
                f"{error}",
                integration=_INTEGRATION,
            )
    raise_for_status(response, integration=_INTEGRATION, what="Prometheus query")


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:  # not JSON (json.JSONDecodeError and UnicodeDecodeError both are)
        return None
    return body if isinstance(body, dict) else None


def _vector_sample(item: object) -> _Sample:
    if not isinstance(item, dict) or not isinstance(item.get("metric"), dict):
        raise ConfigError(
            f"Prometheus answered a malformed vector sample: {item!r:.200}",
            integration=_INTEGRATION,
        )
    labels = ", ".join(f'{k}="{v}"' for k, v in sorted(item["metric"].items()) if k != "__name__")
    return _Sample(labels=labels, value=_value(item.get("value")))


def _value(pair: object) -> float:
    """A ``[timestamp, "value"]`` pair's value; Prometheus writes NaN and ±Inf as strings."""
    if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], str):
        try:
            return float(pair[1])
        except ValueError:
            pass
    raise ConfigError(
        f"Prometheus answered a malformed sample value: {pair!r:.200}", integration=_INTEGRATION
    )


def _series(sample: _Sample) -> str:
    return f" for {{{sample.labels}}}" if sample.labels else ""


def _fmt(value: float) -> str:
    """A value as an on-call engineer reads it: ``0.124``, ``12``, ``1520.5``, ``NaN``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.3g}"
