"""Random text in every untrusted field never yields an invalid message or a live mention."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.lifecycle import StepStatus
from bot.slack.views import (
    PlanView,
    StepState,
    incident_summary,
    internal_error,
    not_authorized,
    plan_graph_dot,
    plan_message,
    plan_not_found,
    progress_reply,
    simulation_message,
    unknown_service,
    usage,
)
from planners.model import (
    Action,
    ChangeKind,
    Excluded,
    Incident,
    Plan,
    Risk,
    Stage,
    Step,
    Suspect,
)
from tests.support.views import (
    HOSTILE_PARTS,
    T0,
    action_ids,
    buttons,
    dot_available,
    live_markup,
    validate,
)

_SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_FRAGMENTS = (
    *HOSTILE_PARTS,
    "@",
    "here",
    "channel",
    "<",
    ">",
    "&",
    "&amp;",
    "|",
    "`",
    "*",
    "\n",
    "\\",
    '"',
    "\u200d",
    "\ud800",
    "🙂",
    "\u202e",
    "https://evil.example",
)
_ACTION_IDS = {
    "backout_approve_stage",
    "backout_approve_plan",
    "backout_simulate",
    "backout_reject",
    "backout_abort",
    "backout_retry",
    "backout_skip",
}
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
IN_CI = bool(os.environ.get("CI"))

untrusted = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=6)), max_size=14).map("".join),
    st.integers(min_value=2_000, max_value=11_000).map(lambda n: "<!here> " + "y" * n),
)
maybe = st.none() | untrusted


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    """A plan with random text everywhere a person or another system could have put it."""
    count = draw(st.integers(min_value=0, max_value=15))
    stages = sorted(
        draw(st.lists(st.sampled_from(list(Stage)), min_size=count, max_size=count)),
        key=list(Stage).index,
    )
    ids = draw(st.lists(untrusted, min_size=count, max_size=count, unique=True))
    steps = []
    for index, (step_id, stage) in enumerate(zip(ids, stages, strict=True)):
        earlier = ids[:index]
        after = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)) if earlier else []
        steps.append(
            Step(
                id=step_id,
                stage=stage,
                action=draw(st.sampled_from(list(Action))),
                service=draw(untrusted),
                change_id=draw(untrusted),
                target_version=draw(maybe),
                after=tuple(after),
                risk=draw(st.sampled_from(list(Risk))),
                approvals_required=draw(st.integers(min_value=0, max_value=3)),
                executor=draw(maybe),
                estimated_seconds=draw(st.integers(min_value=0, max_value=3600)),
                verify={},
                why=draw(untrusted),
                flag=draw(maybe),
                warning=draw(maybe),
            )
        )
    suspects = [
        Suspect(
            change_id=draw(untrusted),
            service=draw(untrusted),
            score=draw(st.floats(min_value=0, max_value=1)),
            reasons=tuple(draw(st.lists(untrusted, max_size=5))),
            kind=draw(st.sampled_from(list(ChangeKind))),
            at=T0 - timedelta(minutes=draw(st.integers(min_value=0, max_value=120))),
        )
        for _ in range(draw(st.integers(min_value=0, max_value=5)))
    ]
    abstained = draw(st.booleans()) and not steps
    return Plan(
        incident=Incident(
            id=draw(untrusted),
            services=tuple(draw(st.lists(untrusted, max_size=4))),
            started_at=draw(st.none() | st.just(T0)),
        ),
        impacted=tuple(draw(st.lists(untrusted, max_size=30))),
        suspects=tuple(suspects),
        excluded=tuple(
            Excluded(change_id=draw(untrusted), why=draw(untrusted))
            for _ in range(draw(st.integers(min_value=0, max_value=3)))
        ),
        steps=tuple(steps),
        critical_path_seconds=draw(st.integers(min_value=0, max_value=100_000)),
        explanation=draw(untrusted),
        drafted_by=draw(st.just("graph") | untrusted),
        abstained=abstained,
        abstain_reasons=tuple(draw(st.lists(untrusted, max_size=3))) if abstained else (),
        notes=tuple(draw(st.lists(untrusted, max_size=5))),
        generated_at=T0,
    )


statuses = st.sampled_from([s.value for s in StepStatus]) | untrusted
approvers = untrusted.filter(lambda a: not _USER_ID.fullmatch(a))


@st.composite
def plan_views(draw: st.DrawFn) -> PlanView:
    """A plan and a random state for each of its steps."""
    plan = draw(plans())
    states = {
        step.id: StepState(
            status=draw(statuses),
            reason=draw(untrusted),
            approvers=frozenset(draw(st.lists(approvers, max_size=3))),
        )
        for step in plan.steps
        if draw(st.booleans())
    }
    return PlanView(
        plan_id=draw(st.text(alphabet="abcdef0123456789", min_size=1, max_size=12)),
        plan=plan,
        plan_status=draw(st.sampled_from(["proposed", "running", "halted", "done"]) | untrusted),
        mode=draw(st.sampled_from(["suggest", "approve", "autopilot"]) | untrusted),
        steps=states,
    )


def assert_safe(message: Mapping[str, Any]) -> None:
    assert validate(message) == []
    assert live_markup(message) == []


@_SETTINGS
@given(view=plan_views())
def test_random_plans_render_valid_and_inert(view):
    """Any plan and state gives a valid message whose buttons are the documented ones; in
    learning mode, or when the plan abstained, nothing can be approved."""
    message = plan_message(view)
    assert_safe(message)
    for button in buttons(message):
        assert button["action_id"] in _ACTION_IDS
        assert button["value"] == view.plan_id or button["value"].startswith(f"{view.plan_id}:")
    if view.plan.abstained:
        assert buttons(message) == []
    learning = plan_message(replace(view, mode="suggest"))
    assert not set(action_ids(learning)) & {"backout_approve_stage", "backout_approve_plan"}


@_SETTINGS
@given(
    view=plan_views(),
    timeline=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10_000).map(lambda s: T0 + timedelta(seconds=s)),
            untrusted,
            untrusted,
        ),
        max_size=60,
    ),
)
def test_random_summaries_are_valid_and_inert(view, timeline):
    """The post-incident summary stays valid and inert whatever the audit log holds."""
    assert_safe(incident_summary(view, timeline=timeline))


@_SETTINGS
@given(view=plan_views(), data=st.data())
def test_random_replies_are_valid_and_inert(view, data):
    """Progress replies and simulations stay valid and inert."""
    for step in view.plan.steps[:3]:
        assert_safe(progress_reply(step.id, step=step, state=view.state(step.id)))
    results = [(s, data.draw(maybe), data.draw(untrusted)) for s in view.plan.steps]
    assert_safe(simulation_message(view.plan_id, results=results))


@_SETTINGS
@given(text=untrusted, suggestions=st.lists(untrusted, max_size=8))
def test_random_error_replies_are_valid_and_inert(text, suggestions):
    """Every ephemeral error echoes the user's text inert."""
    for message in (
        unknown_service(text, suggestions=suggestions),
        usage(text),
        not_authorized(text),
        plan_not_found(text),
        internal_error(text),
    ):
        assert_safe(message)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans())
def test_random_names_never_break_the_dot_syntax(plan):
    """Graphviz parses the graph of any plan, with exactly one node per service and step."""
    if not dot_available():
        message = "graphviz's dot is not installed (apt-get install graphviz)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    source = plan_graph_dot(plan, statuses={s.id: "failed" for s in plan.steps[:2]})
    done = subprocess.run(
        [shutil.which("dot") or "dot", "-Tjson"],
        input=source.encode(),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    data = json.loads(done.stdout)
    nodes = data.get("objects", [])[data.get("_subgraph_cnt", 0) :]
    services = {*plan.incident.services, *plan.impacted}
    services |= {s.service for s in plan.suspects[:3]} | {s.service for s in plan.steps}
    assert len(nodes) == len(services) + len(plan.steps)
