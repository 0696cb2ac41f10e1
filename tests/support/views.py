"""What the Block Kit view tests share: real planner plans, hostile text, a Slack validator.

:func:`validate` checks a message against the Block Kit limits Backout relies on (those in
``shared/fixtures/README.md``, "Slack limits", plus the element limits of the Block Kit
reference), counting lengths in UTF-16 code units as the strictest reading. :func:`live_markup`
finds anything in the rendered text that Slack would turn into a mention, a broadcast or a link.
"""

from __future__ import annotations

import json
import re
import shutil
import unicodedata
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from planners import (
    Alert,
    Change,
    ChangeKind,
    Fragment,
    Plan,
    Service,
    ServiceKind,
    Tier,
    build_topology,
    plan_rollback,
)

__all__ = [
    "HOSTILE",
    "HOSTILE_PARTS",
    "HUGE",
    "T0",
    "abstained_plan",
    "action_ids",
    "all_text",
    "button",
    "buttons",
    "dot_available",
    "live_markup",
    "shop_plan",
    "validate",
    "wide_plan",
]

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

HOSTILE_PARTS = (
    "<!channel>",
    "@here",
    "@Everyone",
    "<https://evil.example|click>",
    "<javascript:alert(1)|x>",
    "<@U123>",
    "<!subteam^S1>",
    "<#C123>",
    "&lt;!here&gt;",
    "*bold* `tick` _it_",
    "ctl\x00\x07\x1b[31m\r\nnext\u202eline",
)
HOSTILE = " ".join(HOSTILE_PARTS)
"""Every trick at once, in one line of untrusted text."""
HUGE = HOSTILE + " " + "x" * 10_000
"""Hostile and far longer than any Slack field."""

# What Slack would parse as markup: an angle-bracket sequence, a broadcast word, raw controls.
_LIVE = re.compile(
    r"<[!@#]|<(?:https?|javascript|slack|mailto|data):|@(?:channel|here|everyone)", re.I
)

LIMITS = {"blocks": 50, "section": 3000, "header": 150, "button": 75, "value": 2000}


def units(text: str) -> int:
    """Length in UTF-16 code units, the strictest way Slack may count."""
    return len(text.encode("utf-16-le")) // 2


def shop_plan(
    *,
    service: str = "cartservice",
    summary: str = "bump cart cache TTL",
    alert_name: str = "HighErrorRate",
    version: str = "v1.4.2",
    change_id: str = "chg-7",
    flag: str = "new-checkout",
) -> Plan:
    """A plan drafted by the real planner for a small shop, with the untrusted text given.

    ``frontend`` alerts; ``service`` (a dependency of it) was deployed 6 minutes before; a flag
    was flipped on ``frontend``; ``orders-db`` had an irreversible migration. An alert naming an
    unknown service puts ``alert_name`` into the plan's notes.
    """
    services = [
        Service(name="frontend", depends_on=(service, "checkoutservice"), rollback=_k8s()),
        Service(
            name="checkoutservice",
            depends_on=(service, "orders-db"),
            tier=Tier.CRITICAL,
            rollback=_k8s(),
        ),
        Service(name=service, depends_on=("redis-cart",), rollback=_k8s()),
        Service(name="redis-cart", kind=ServiceKind.CACHE),
        Service(name="orders-db", kind=ServiceKind.DATABASE),
    ]
    topology, problems = build_topology([Fragment(origin="test", services=services)])
    assert not [p for p in problems if p.severity == "error"]
    changes = [
        Change(
            id=change_id,
            service=service,
            at=T0 - timedelta(minutes=6),
            from_version=version,
            to_version="v1.5.0",
            summary=summary,
        ),
        Change(
            id="chg-8",
            service="checkoutservice",
            at=T0 - timedelta(minutes=30),
            from_version="v2.0.0",
            to_version="v2.1.0",
            summary=summary,
        ),
        Change(
            id="chg-9",
            service="frontend",
            kind=ChangeKind.FEATURE_FLAG,
            flag=flag,
            at=T0 - timedelta(minutes=50),
            summary=summary,
        ),
        Change(
            id="mig-1",
            service="orders-db",
            kind=ChangeKind.MIGRATION,
            revertible=False,
            at=T0 - timedelta(minutes=20),
            summary=summary,
        ),
    ]
    alerts = [
        Alert(fingerprint="a1", service="frontend", name=alert_name, started_at=T0),
        Alert(fingerprint="a2", service="no-such-service", name=alert_name, started_at=T0),
    ]
    return plan_rollback(topology, changes=changes, alerts=alerts, now=T0 + timedelta(minutes=3))


def abstained_plan() -> Plan:
    """A plan from the real planner that abstains: an alert, but no change in the window."""
    topology, _ = build_topology(
        [Fragment(origin="test", services=[Service(name="frontend", rollback=_k8s())])]
    )
    alert = Alert(fingerprint="a1", service="frontend", name="HighErrorRate", started_at=T0)
    return plan_rollback(topology, changes=[], alerts=[alert], now=T0 + timedelta(minutes=3))


def wide_plan(steps: int = 300) -> Plan:
    """A plan from the real planner with ``steps`` rollbacks: ``frontend`` uses that many
    services, each deployed just before the alert."""
    names = [f"svc-{i:03d}" for i in range(steps)]
    services = [Service(name="frontend", depends_on=tuple(names), rollback=_k8s())]
    services += [Service(name=n, rollback=_k8s()) for n in names]
    topology, _ = build_topology([Fragment(origin="test", services=services)])
    changes = [
        Change(
            id=f"chg-{i}",
            service=name,
            at=T0 - timedelta(minutes=5 + i % 7),
            from_version="v1",
            to_version="v2",
        )
        for i, name in enumerate(names)
    ]
    alert = Alert(fingerprint="a1", service="frontend", name="HighErrorRate", started_at=T0)
    plan = plan_rollback(topology, changes=changes, alerts=[alert], now=T0 + timedelta(minutes=1))
    assert len(plan.steps) == steps
    return plan


def _k8s() -> dict[str, Any]:
    return {"executor": "kubernetes", "namespace": "shop"}


# -- Slack's rules --------------------------------------------------------------------------------


def validate(message: Mapping[str, Any]) -> list[str]:
    """Every way ``message`` breaks the Block Kit limits; empty when Slack would accept it."""
    problems: list[str] = []
    try:
        json.dumps(message, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        return [f"not JSON-encodable: {exc}"]
    text = message.get("text")
    if not isinstance(text, str) or not text.strip() or units(text) > 40_000:
        problems.append("fallback text missing, blank or over 40,000")
    blocks = message.get("blocks", [])
    if len(blocks) > LIMITS["blocks"]:
        problems.append(f"{len(blocks)} blocks")
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    if len(block_ids) != len(set(block_ids)):
        problems.append("duplicate block_id")
    for index, block in enumerate(blocks):
        problems += [f"block {index} ({block.get('type')}): {p}" for p in _block_problems(block)]
    return problems


def _block_problems(block: Mapping[str, Any]) -> Iterator[str]:
    kind = block.get("type")
    if kind == "section":
        yield from _text_problems(block.get("text"), limit=3000, plain=False)
    elif kind == "header":
        yield from _text_problems(block.get("text"), limit=150, plain=True)
    elif kind == "context":
        elements = block.get("elements", [])
        if not 1 <= len(elements) <= 10:
            yield f"{len(elements)} context elements"
        for element in elements:
            yield from _text_problems(element, limit=3000, plain=False)
    elif kind == "actions":
        elements = block.get("elements", [])
        if not 1 <= len(elements) <= 25:
            yield f"{len(elements)} action elements"
        ids = [e.get("action_id") for e in elements]
        if len(ids) != len(set(ids)):
            yield f"duplicate action_id in {ids}"
        for element in elements:
            yield from _button_problems(element)
    elif kind != "divider":
        yield f"unexpected block type {kind!r}"


def _text_problems(obj: Any, *, limit: int, plain: bool) -> Iterator[str]:
    if not isinstance(obj, Mapping) or obj.get("type") not in ("plain_text", "mrkdwn"):
        yield f"not a text object: {obj!r}"[:200]
        return
    if plain and obj["type"] != "plain_text":
        yield "must be plain_text"
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        yield "blank text"
    elif units(text) > limit:
        yield f"text of {units(text)} > {limit}"


def _button_problems(button: Mapping[str, Any]) -> Iterator[str]:
    if button.get("type") != "button":
        yield f"not a button: {button.get('type')!r}"
    action_id = button.get("action_id")
    if not isinstance(action_id, str) or not action_id or len(action_id) > 255:
        yield f"bad action_id {action_id!r}"
    yield from _text_problems(button.get("text"), limit=75, plain=True)
    value = button.get("value", "")
    if not isinstance(value, str) or units(value) > 2000:
        yield "value over 2,000"
    if button.get("style") not in (None, "primary", "danger"):
        yield f"bad style {button.get('style')!r}"
    confirm = button.get("confirm")
    if confirm is not None:
        yield from _text_problems(confirm.get("title"), limit=100, plain=True)
        yield from _text_problems(confirm.get("text"), limit=300, plain=False)
        yield from _text_problems(confirm.get("confirm"), limit=30, plain=True)
        yield from _text_problems(confirm.get("deny"), limit=30, plain=True)


# -- what the reader sees -----------------------------------------------------------------------


def rendered_texts(message: Mapping[str, Any]) -> list[str]:
    """Every text Slack renders: the fallback and each text object, buttons and dialogs too."""
    found = [message["text"]]

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if node.get("type") in ("plain_text", "mrkdwn") and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks", []))
    return found


def live_markup(message: Mapping[str, Any]) -> list[str]:
    """Rendered text that Slack would act on: mentions, links, broadcasts, control characters."""
    bad = []
    for text in rendered_texts(message):
        bad += [m.group(0) for m in _LIVE.finditer(text)]
        bad += [repr(ch) for ch in text if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cs")]
    return bad


def buttons(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every button of the message, in order."""
    return [
        element
        for block in message.get("blocks", [])
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def action_ids(message: Mapping[str, Any]) -> list[str]:
    """The action ids of every button, in order."""
    return [b["action_id"] for b in buttons(message)]


def button(message: Mapping[str, Any], action_id: str) -> Mapping[str, Any]:
    """The one button with this action id."""
    (found,) = [b for b in buttons(message) if b["action_id"] == action_id]
    return found


def all_text(message: Mapping[str, Any]) -> str:
    """The rendered texts joined, for ``in`` checks."""
    return "\n".join(rendered_texts(message))


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` is on PATH."""
    return shutil.which("dot") is not None
