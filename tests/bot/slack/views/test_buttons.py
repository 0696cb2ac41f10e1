"""The plan message draws exactly the buttons :func:`bot.lifecycle.available_actions` offers, for
every plan status, kind and mode and a few mixes of step states: what a responder can click is
what the use cases accept."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import pytest

from bot.lifecycle import Click, Mode, PlanKind, PlanStatus, StepStatus, available_actions
from bot.slack.views import PlanView, StepState, plan_message
from planners.model import Plan, Stage
from tests.support.views import buttons, shop_plan

PLAN_ID = "p1"

# Written out here rather than read from the views, so that a renamed id fails this test too.
ACTION_IDS: Mapping[Click, str] = {
    Click.APPROVE_STAGE: "backout_approve_stage",
    Click.APPROVE_ALL: "backout_approve_plan",
    Click.SIMULATE: "backout_simulate",
    Click.REJECT: "backout_reject",
    Click.ABORT: "backout_abort",
    Click.RETRY: "backout_retry",
    Click.SKIP: "backout_skip",
}

_S = StepStatus
_SHOP = shop_plan()  # s1 contain, s2 partial, s3 and s4 full
MIXES: Mapping[str, tuple[Plan, Mapping[str, StepStatus]]] = {
    "pending only": (_SHOP, {}),
    "one queued": (_SHOP, {"s1": _S.QUEUED}),
    "contain done": (_SHOP, {"s1": _S.DONE}),
    "one failed": (_SHOP, {"s1": _S.DONE, "s2": _S.FAILED}),
    "two failed": (_SHOP, {"s1": _S.DONE, "s2": _S.FAILED, "s3": _S.FAILED}),
    "all done": (_SHOP, {s.id: _S.DONE for s in _SHOP.steps}),
    "abstained": (_SHOP.model_copy(update={"abstained": True}), {}),
    "listed out of stage order": (
        _SHOP.model_copy(
            update={"steps": tuple(s.model_copy(update={"after": ()}) for s in _SHOP.steps[::-1])}
        ),
        {"s3": _S.DONE},
    ),
}


def expected(
    actions_plan: Plan,
    kind: PlanKind,
    mode: Mode,
    status: PlanStatus,
    states: Mapping[str, StepStatus],
) -> list[tuple[str, str]]:
    """The (action id, value) of each button the lifecycle says the plan offers."""
    order = list(Stage)
    by_stage = sorted(actions_plan.steps, key=lambda s: order.index(s.stage))
    offered = available_actions(
        status=status,
        kind=kind,
        mode=mode,
        abstained=actions_plan.abstained,
        steps=[(s.id, s.stage.value, states.get(s.id, _S.PENDING)) for s in by_stage],
    )
    pairs = []
    for click in offered.clicks:
        if click == Click.APPROVE_STAGE:
            pairs.append((ACTION_IDS[click], f"{PLAN_ID}:{offered.next_stage}"))
        elif click in (Click.RETRY, Click.SKIP):
            pairs += [(ACTION_IDS[click], f"{PLAN_ID}:{step}") for step in offered.failed]
        else:
            pairs.append((ACTION_IDS[click], PLAN_ID))
    return sorted(pairs)


def drawn(view: PlanView) -> list[tuple[str, str]]:
    return sorted((b["action_id"], b["value"]) for b in buttons(plan_message(view)))


def view_of(
    plan: Plan, states: Mapping[str, StepStatus], *, status: str, kind: PlanKind, mode: str
) -> PlanView:
    return PlanView(
        plan_id=PLAN_ID,
        plan=plan,
        plan_status=status,
        kind=kind,
        mode=mode,
        steps={step_id: StepState(status=state) for step_id, state in states.items()},
    )


@pytest.mark.parametrize(
    ("status", "kind", "mode", "mix"),
    list(itertools.product(PlanStatus, PlanKind, Mode, MIXES)),
)
def test_the_buttons_drawn_are_the_clicks_accepted(status, kind, mode, mix):
    """For every status, kind, mode and mix of step states, the buttons are exactly the clicks
    ``available_actions`` returns, with the stage or step each one names."""
    plan, states = MIXES[mix]
    view = view_of(plan, states, status=status, kind=kind, mode=mode)
    assert drawn(view) == expected(plan, kind, mode, status, states)


def test_the_first_stage_with_a_pending_step_is_offered_whatever_the_listing_order():
    """Steps listed full-first still offer *Approve stage contain* first."""
    plan, states = MIXES["listed out of stage order"]
    view = view_of(plan, states, status="proposed", kind=PlanKind.LIVE, mode="approve")
    assert ("backout_approve_stage", "p1:contain") in drawn(view)


def test_a_standby_plan_says_it_is_not_run_as_it_is():
    """A standby plan's message says it can be simulated, not run as it is."""
    view = view_of(_SHOP, {}, status="proposed", kind=PlanKind.STANDBY, mode="approve")
    texts = [
        element["text"]
        for block in plan_message(view)["blocks"]
        if block["type"] == "context"
        for element in block["elements"]
    ]
    assert any("Standby plan" in text and "not run" in text for text in texts)


def test_an_unknown_mode_offers_what_suggest_offers():
    """A mode the lifecycle does not know draws the buttons of ``suggest``: nothing to approve."""
    unknown = view_of(_SHOP, {}, status="proposed", kind=PlanKind.LIVE, mode="yolo")
    suggest = view_of(_SHOP, {}, status="proposed", kind=PlanKind.LIVE, mode="suggest")
    assert drawn(unknown) == drawn(suggest)
    assert drawn(unknown) == expected(_SHOP, PlanKind.LIVE, Mode.SUGGEST, PlanStatus.PROPOSED, {})
    assert not {"backout_approve_stage", "backout_approve_plan"} & {a for a, _ in drawn(unknown)}


def test_an_unknown_plan_status_offers_nothing():
    """A status the lifecycle does not know offers no button: no click on it would be accepted."""
    view = view_of(_SHOP, {}, status="paused", kind=PlanKind.LIVE, mode="approve")
    assert drawn(view) == []


def test_a_step_in_an_unknown_state_neither_starts_nor_blocks_the_plan():
    """A step whose status is unknown text counts as neither pending, started nor failed."""
    view = PlanView(
        plan_id=PLAN_ID,
        plan=_SHOP,
        plan_status="proposed",
        mode="approve",
        steps={"s1": StepState(status="teleported")},
    )
    assert drawn(view) == [
        ("backout_approve_plan", "p1"),
        ("backout_approve_stage", "p1:partial"),
        ("backout_reject", "p1"),
        ("backout_simulate", "p1"),
    ]
