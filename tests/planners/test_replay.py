"""Replaying recorded incidents: today's ranking against the confirmed culprit and the recorded
ranking (issue 12 item 7)."""

from __future__ import annotations

from datetime import timedelta

from planners.replay import Case, replay, score
from tests.support.planning import T0, alert, change, topo

TOPOLOGY = topo({"frontend": ["cart", "checkout"], "checkout": ["payment"]})


def case(incident: str, *, culprit: str | None, recorded: tuple[str, ...], **kw: object) -> Case:
    fields: dict[str, object] = {
        "incident": incident,
        "drafted_at": T0 + timedelta(minutes=3),
        "alerts": (alert("cart"),),
        "changes": (change("c-cart", "cart", 10), change("c-pay", "payment", 60)),
        "recorded": recorded,
        "culprit": culprit,
    }
    return Case.model_validate({**fields, **kw})


def test_the_culprit_ranked_first_today_counts_as_top_1_today_and_as_recorded():
    replayed = replay(TOPOLOGY, [case("inc-1", culprit="c-cart", recorded=("c-pay", "c-cart"))])
    (item,) = replayed
    assert item.ranking[0] == "c-cart"
    assert (item.rank, item.recorded_rank) == (1, 2)
    assert item.changed
    total = score(replayed)
    assert (total.judged, total.top1, total.top3, total.recorded_top1, total.recorded_top3) == (
        1,
        1,
        1,
        0,
        1,
    )


def test_a_culprit_today_does_not_rank_is_missed():
    """A change outside the planner's window cannot be a suspect: the culprit is missed."""
    outside = case(
        "inc-2",
        culprit="c-old",
        recorded=("c-old",),
        changes=(change("c-old", "cart", 600), change("c-cart", "cart", 10)),
    )
    (item,) = replay(TOPOLOGY, [outside])
    assert item.rank is None and "c-old" not in item.ranking
    assert score([item]).missed == 1


def test_cases_without_a_confirmed_culprit_count_only_for_abstentions_and_changes():
    quiet = case("inc-3", culprit=None, recorded=(), changes=())
    (item,) = replay(TOPOLOGY, [quiet])
    assert item.abstained and item.ranking == ()
    total = score([item])
    assert (total.cases, total.judged, total.abstained, total.top1) == (1, 0, 1, 0)
    assert not item.changed  # abstained then, abstains now


def test_a_case_round_trips_through_its_exported_json():
    original = case("inc-4", culprit="c-cart", recorded=("c-cart",))
    again = Case.model_validate_json(original.model_dump_json(by_alias=True))
    assert again == original
    assert '"schema":"backout.replay-case/v1"' in original.model_dump_json(by_alias=True)
