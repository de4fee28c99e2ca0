"""The emulator's pure core: who reports, the value models, arrivals and faults."""

import math
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ioc_hub.kit.periods import Cadence, Period, periods_between
from ioc_hub.simulate.scenario import (
    KINDS,
    Behaviour,
    FaultRates,
    ObligationSpec,
    Scenario,
    Shape,
    UnitSpec,
    build_model,
    choose_behaviours,
    expand_obligations,
    shape_of,
)
from tests.simulate.helpers import (
    NOW,
    TZ,
    shipped_indicators,
    shipped_plan,
    shipped_units,
)

NO_FAULTS = FaultRates()


def two_years(cadence: Cadence) -> list[Period]:
    first = Period.of_date(date(2025, 6, 1), cadence)
    last = Period.of_date(date(2027, 6, 1), cadence)
    return list(periods_between(first, last))


def test_article_keeps_one_department_and_two_agencies_silent() -> None:
    plan = shipped_plan(Scenario.ARTICLE)
    assert plan.expected_coverage() == {
        "ministry": (3, 3),
        "department": (17, 18),
        "vertical_agency": (4, 6),
        "district": (9, 9),
        "commune": (91, 91),
    }
    silent = plan.units_behaving(Behaviour.SILENT)
    assert sorted(u.kind for u in silent) == ["department", "vertical_agency", "vertical_agency"]
    assert not plan.units_behaving(Behaviour.LATE)
    assert {s.unit.code for s in plan.series}.isdisjoint({u.code for u in silent})


def test_article_silent_units_do_not_depend_on_the_seed() -> None:
    units = shipped_units()
    chosen = {
        seed: sorted(
            code
            for code, b in choose_behaviours(units, Scenario.ARTICLE, seed).items()
            if b is Behaviour.SILENT
        )
        for seed in (1, 2, 74, 2026)
    }
    assert len(set(map(tuple, chosen.values()))) == 1


def test_healthy_has_everyone_report() -> None:
    plan = shipped_plan(Scenario.HEALTHY)
    assert all(c == r for c, r in plan.expected_coverage().values())
    assert len(plan.series) == plan.obligated == 1776


def test_degraded_has_a_sizeable_share_silent_or_late() -> None:
    plan = shipped_plan(Scenario.DEGRADED, seed=3)
    coverage = plan.expected_coverage()
    for kind in KINDS:
        connected, registered = coverage[kind]
        assert connected < registered, kind
    silent = len(plan.units_behaving(Behaviour.SILENT))
    late = len(plan.units_behaving(Behaviour.LATE))
    assert silent + late >= 0.3 * len(plan.units)
    rows = [r for r in plan.initial_rows(NOW - timedelta(days=14), NOW) if not r.missing]
    assert sum(r.late for r in rows) / len(rows) > 0.2


def test_obligations_expand_per_kind_and_district() -> None:
    units = [
        UnitSpec("718", "Thủ Dầu Một", "district", "74"),
        UnitSpec("719", "Bàu Bàng", "district", "74"),
        UnitSpec("25741", "Hiệp Thành", "commune", "718"),
        UnitSpec("25750", "Lai Uyên", "commune", "719"),
        UnitSpec("DEPT-SYT", "Sở Y tế", "department", "74"),
    ]
    indicators = shipped_indicators()
    pairs = expand_obligations(
        [
            ObligationSpec("DVC-HS-TIEP-NHAN", unit_kind="commune", district="718"),
            ObligationSpec("DVC-HS-TIEP-NHAN", unit_kind="district"),
            ObligationSpec("DVC-HS-TIEP-NHAN", unit="DEPT-SYT"),
            ObligationSpec("DVC-HS-TIEP-NHAN", unit_kind="district"),  # twice: counted once
            ObligationSpec("NO-SUCH-INDICATOR", unit="DEPT-SYT"),
            ObligationSpec("CPI", unit="VA-CTK"),  # not an active unit here
        ],
        units,
        indicators,
    )
    assert [(u.code, i.code) for u, i in pairs] == [
        ("25741", "DVC-HS-TIEP-NHAN"),
        ("718", "DVC-HS-TIEP-NHAN"),
        ("719", "DVC-HS-TIEP-NHAN"),
        ("DEPT-SYT", "DVC-HS-TIEP-NHAN"),
    ]


def test_every_value_of_every_series_is_within_its_valid_range() -> None:
    plan = shipped_plan(Scenario.HEALTHY)
    for series in plan.series:
        low = series.indicator.min_value
        high = series.indicator.max_value
        for period in two_years(series.indicator.cadence):
            value = series.model.value(period)
            assert math.isfinite(value)
            assert low is None or value >= low, (series.indicator.code, period.id, value)
            assert high is None or value <= high, (series.indicator.code, period.id, value)
            if series.indicator.measurement_unit == "%":
                assert 0 <= value <= 100


def test_cumulative_counts_never_decrease() -> None:
    plan = shipped_plan(Scenario.HEALTHY)
    stocks = [s for s in plan.series if shape_of(s.indicator) is Shape.STOCK]
    assert len(stocks) > 300
    growing = 0
    for series in stocks:
        values = [series.model.value(p) for p in two_years(series.indicator.cadence)]
        assert values == sorted(values), series.indicator.code
        growing += values[-1] > values[0]
    # A small stock (7 overdue files in a commune) may take more than two years to gain one.
    assert growing > 0.9 * len(stocks)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    code=st.sampled_from(sorted(shipped_indicators())),
    unit=st.sampled_from(["25741", "718", "DEPT-SYT", "VA-CTK", "MIN-BCA"]),
    share=st.sampled_from([1.0, 1 / 9, 1 / 91]),
)
def test_any_model_respects_range_and_monotony(
    seed: int, code: str, unit: str, share: float
) -> None:
    indicator = shipped_indicators()[code]
    model = build_model(UnitSpec(unit, unit, "commune", "718"), indicator, share, seed)
    values = [model.value(p) for p in two_years(indicator.cadence)]
    low = indicator.min_value if indicator.min_value is not None else -math.inf
    high = indicator.max_value if indicator.max_value is not None else math.inf
    assert all(low <= v <= high for v in values)
    if model.shape is Shape.STOCK:
        assert values == sorted(values)


def test_daily_counts_follow_the_working_week() -> None:
    plan = shipped_plan(Scenario.HEALTHY)
    series = next(
        s
        for s in plan.series
        if s.unit.code == "DEPT-SYT" and s.indicator.code == "DVC-HS-TIEP-NHAN"
    )
    days = two_years(Cadence.DAILY)
    weekday = [series.model.value(p) for p in days if p.start.weekday() < 5]
    sunday = [series.model.value(p) for p in days if p.start.weekday() == 6]
    assert sum(sunday) / len(sunday) < 0.4 * sum(weekday) / len(weekday)


def test_same_seed_same_rows_other_seed_other_values() -> None:
    since = NOW - timedelta(days=10)

    def rows(seed: int) -> list[tuple[object, ...]]:
        plan = shipped_plan(Scenario.DEGRADED, seed=seed)
        return [
            (r.unit, r.indicator, r.period.id, r.payload, r.arrival, r.missing, r.duplicate)
            for r in plan.initial_rows(since, NOW)
        ]

    first, again, other = rows(5), rows(5), rows(6)
    assert first == again
    assert first != other


def test_a_value_does_not_depend_on_the_window_it_is_generated_in() -> None:
    plan = shipped_plan(Scenario.ARTICLE)
    wide = {
        (r.unit, r.indicator, r.period.id): r.payload
        for r in plan.initial_rows(NOW - timedelta(days=20), NOW)
    }
    narrow = plan.rows_between(NOW - timedelta(days=3), NOW - timedelta(days=1))
    for row in narrow:
        assert wide[row.unit, row.indicator, row.period.id] == row.payload


def test_initial_rows_cover_the_history_and_each_latest_period() -> None:
    plan = shipped_plan(Scenario.HEALTHY, faults=NO_FAULTS)
    rows = list(plan.initial_rows(NOW - timedelta(days=3), NOW))
    daily = {r.period.id for r in rows if r.indicator == "DVC-HS-TIEP-NHAN"}
    assert daily == {"2026-11-25", "2026-11-26", "2026-11-27"}
    yearly = {r.period.id for r in rows if r.indicator == "PCI"}
    assert yearly == {"2025"}, "a yearly value is due even outside a short history"
    assert all(r.arrival > r.period.end_at(TZ) for r in rows)
    assert len(rows) == sum(
        len(list(periods_between(*_window(s.indicator.cadence)))) for s in plan.series
    )


def _window(cadence: Cadence) -> tuple[Period, Period]:
    latest = Period.containing(NOW, cadence, TZ).previous()
    return min(Period.containing(NOW - timedelta(days=3), cadence, TZ), latest), latest


def test_on_time_rows_arrive_by_their_deadline_and_late_ones_after_it() -> None:
    faults = FaultRates(late=0.25)
    plan = shipped_plan(Scenario.HEALTHY, faults=faults)
    rows = list(plan.initial_rows(NOW - timedelta(days=30), NOW))
    late = [r for r in rows if r.late]
    assert 0.2 < len(late) / len(rows) < 0.3
    for row in rows:
        assert row.arrival > row.period.end_at(TZ)
        assert (row.arrival > row.deadline) == row.late


def test_faults_come_in_the_proportions_asked() -> None:
    faults = FaultRates(missing=0.1, duplicate=0.05, out_of_range=0.04, malformed=0.03)
    rows = list(shipped_plan(faults=faults).initial_rows(NOW - timedelta(days=30), NOW))
    n = len(rows)
    assert 0.08 < sum(r.missing for r in rows) / n < 0.12
    assert 0.04 < sum(r.duplicate for r in rows) / n < 0.06
    assert 0.03 < sum(r.fault == "out_of_range" for r in rows) / n < 0.05
    assert 0.02 < sum(r.fault == "malformed" for r in rows) / n < 0.04


def test_out_of_range_and_malformed_rows_are_what_the_hub_refuses() -> None:
    indicators = shipped_indicators()
    faults = FaultRates(out_of_range=0.5, malformed=0.5)
    rows = list(shipped_plan(faults=faults).initial_rows(NOW - timedelta(days=5), NOW))
    kinds: set[str] = set()
    for row in rows:
        payload = row.payload
        indicator = indicators[row.indicator]
        if row.fault == "out_of_range":
            value = payload["value"]
            assert isinstance(value, int | float)
            low, high = indicator.min_value, indicator.max_value
            assert (high is not None and value > high) or (low is not None and value < low)
            kinds.add("range")
        else:
            assert row.fault == "malformed"
            if isinstance(payload["value"], str):
                kinds.add("text value")
            elif "+" not in payload["observed_at"]:
                kinds.add("no time zone")
            else:
                with pytest.raises(ValueError, match="not a valid period"):
                    Period.parse(payload["period"])
                kinds.add("bad period")
    assert kinds == {"range", "text value", "no time zone", "bad period"}


def test_good_rows_name_a_period_that_matches_observed_at() -> None:
    for row in shipped_plan(faults=NO_FAULTS).initial_rows(NOW - timedelta(days=2), NOW):
        payload = row.payload
        assert set(payload) == {"unit", "indicator", "period", "value", "observed_at"}
        assert Period.parse(payload["period"]) == row.period
        observed_at = datetime.fromisoformat(payload["observed_at"])
        assert Period.containing(observed_at, row.period.cadence, TZ) == row.period


def test_fault_rates_are_fractions() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultRates(late=1.5)
    with pytest.raises(ValueError, match="must not exceed 1"):
        FaultRates(out_of_range=0.6, malformed=0.6)
    assert FaultRates(late=0.1).override(late=None, missing=0.2) == FaultRates(
        late=0.1, missing=0.2
    )
