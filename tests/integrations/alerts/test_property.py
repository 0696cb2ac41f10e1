"""Whatever JSON arrives, the parsers return alerts or raise AlertFormatError, nothing else."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.alerts import AlertFormatError, parse_alerts
from planners.model import Alert
from tests.support.alert_payloads import FIXTURE_NAMES, load

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
VENDOR_KEYS = st.sampled_from(
    [
        "alerts",
        "orgId",
        "version",
        "event",
        "event_type",
        "data",
        "action",
        "alert",
        "alert_transition",
        "tags",
        "labels",
        "startsAt",
        "status",
        "createdAt",
        "date",
    ]
)
KEYED_JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(VENDOR_KEYS | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=25,
)
FIXTURES = {name: load(name) for name in FIXTURE_NAMES}


def _outcome(payload: object) -> str:
    try:
        alerts = parse_alerts(payload)
    except AlertFormatError as exc:
        return "refused" if exc.message else "refused without a message"
    assert isinstance(alerts, list)
    assert all(isinstance(alert, Alert) for alert in alerts)
    return "parsed"


@given(JSON)
def test_arbitrary_json_is_parsed_or_refused(payload: object) -> None:
    """Any JSON-like value yields a list of alerts or an AlertFormatError."""
    assert _outcome(payload) in {"parsed", "refused"}


@given(KEYED_JSON)
def test_json_with_vendor_keys_is_parsed_or_refused(payload: object) -> None:
    """Values built from the vendors' own keys reach the parsers and still never crash them."""
    assert _outcome(payload) in {"parsed", "refused"}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@settings(max_examples=300)
@given(st.data())
def test_a_fixture_with_one_value_replaced_is_parsed_or_refused(data: st.DataObject) -> None:
    """Replacing any one value of a real fixture with arbitrary JSON never crashes a parser."""
    name = data.draw(st.sampled_from(FIXTURE_NAMES))
    payload = copy.deepcopy(FIXTURES[name])
    path = data.draw(st.sampled_from(_paths(payload)[1:]))
    holder = payload
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = data.draw(JSON)
    assert _outcome(payload) in {"parsed", "refused"}
