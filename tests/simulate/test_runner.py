"""The runner's pure helpers: batching by district, counting outcomes and reasons."""

from collections import Counter
from dataclasses import replace
from datetime import timedelta

from ioc_hub.simulate.client import PushOutcome
from ioc_hub.simulate.runner import (
    MAX_REPLAY,
    Options,
    Tally,
    batches_by_area,
    reason_kind,
    replay_span,
)
from ioc_hub.simulate.scenario import FaultRates, Scenario
from tests.simulate.helpers import NOW, shipped_plan


def test_batches_keep_a_district_together_when_it_fits() -> None:
    plan = shipped_plan(Scenario.HEALTHY, faults=FaultRates())
    rows = list(plan.initial_rows(NOW - timedelta(days=3), NOW))
    batches = batches_by_area(rows, 1000)
    assert sum(map(len, batches)) == len(rows)
    assert all(0 < len(b) <= 1000 for b in batches)
    per_area = Counter(r.area for r in rows)
    for area, count in per_area.items():
        holding = [b for b in batches if any(r.area == area for r in b)]
        if count <= 1000:
            assert len(holding) == 1, f"district {area} split over {len(holding)} batches"
    # Few requests all the same: no more than one batch per district and one for the province.
    assert len(batches) <= len(per_area)


def test_batches_split_a_district_larger_than_a_batch() -> None:
    plan = shipped_plan(Scenario.HEALTHY, faults=FaultRates())
    rows = [r for r in plan.initial_rows(NOW - timedelta(days=30), NOW) if r.area == "718"]
    batches = batches_by_area(rows, 250)
    assert len(rows) > 250
    assert [len(b) for b in batches[:-1]] == [250] * (len(batches) - 1)
    assert {r.area for b in batches for r in b} == {"718"}


def test_reasons_are_counted_without_their_particulars() -> None:
    assert reason_kind("value 140 above max 100") == "value # above max #"
    assert reason_kind("value -3.5 below min 0") == "value # below min #"
    assert (
        reason_kind(
            "period '28/11/2026' is not a valid period: expected 2026-11-28, 2026-W48, "
            "2026-11, 2026-Q4 or 2026 (DHIS2: 20261128, 2026W48, 202611, 2026Q4)"
        )
        == "period '…' is not a valid period: expected #, #, #, # or #"
    )
    assert reason_kind("observed_at has no time zone") == "observed_at has no time zone"


def test_tally_counts_summaries_and_failed_requests() -> None:
    tally = Tally()
    accepted = tally.add(
        [
            PushOutcome(
                rows=5,
                status=200,
                created=3,
                unchanged=1,
                rejected=1,
                reasons=["value 140 above max 100"],
            ),
            PushOutcome(rows=2, status=422, rejected=2, reasons=["value must be a number"] * 2),
            PushOutcome(rows=7, status=500, problem="HTTP 500"),
        ]
    )
    assert accepted == 4
    assert (tally.created, tally.unchanged, tally.rejected, tally.failed) == (3, 1, 3, 7)
    assert tally.reasons == {"value # above max #": 1, "value must be a number": 2}
    assert tally.failures == {"HTTP 500": 7}


def test_a_compressed_live_run_replays_the_recent_past_up_to_two_days() -> None:
    once = Options(
        url="http://hub",
        admin_key="k",
        scenario=Scenario.ARTICLE,
        seed=1,
        backfill_days=0,
        live=False,
        speed=1.0,
        duration=None,
        faults=FaultRates(),
        timezone="Asia/Ho_Chi_Minh",
    )
    live = replace(once, live=True)
    assert replay_span(once) == timedelta(0)
    assert replay_span(live) == timedelta(0), "real time: nothing to catch up"
    assert replay_span(replace(live, speed=3600, duration=10)) == timedelta(hours=10)
    assert replay_span(replace(live, speed=3600, duration=600)) == MAX_REPLAY
    assert replay_span(replace(live, speed=3600)) == MAX_REPLAY
    assert replay_span(replace(live, speed=3600, duration=0)) == timedelta(0)
