"""Period and deadline arithmetic (ioc_hub.kit.periods): properties for every cadence, then the
calendar edges an operator would check by hand."""

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ioc_hub.kit.periods import (
    DEFAULT_GRACE,
    Cadence,
    Period,
    PeriodError,
    expected_period,
    periods_between,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
ICT = timezone(timedelta(hours=7))

# The province's zone, plus zones whose DST changes happen at local midnight (Havana, Santiago),
# ordinary DST zones, half- and quarter-hour offsets and the extreme offsets.
ZONES = [
    HCM,
    ZoneInfo("UTC"),
    ZoneInfo("America/Havana"),
    ZoneInfo("America/Santiago"),
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("Australia/Lord_Howe"),
    ZoneInfo("Asia/Kathmandu"),
    ZoneInfo("Pacific/Kiritimati"),
    ZoneInfo("Pacific/Pago_Pago"),
]

cadences = st.sampled_from(list(Cadence))
zones = st.sampled_from(ZONES)
# Away from the ends of the supported range, so every period has a previous and a next one.
days = st.dates(min_value=date(1901, 1, 1), max_value=date(9998, 12, 31))
# Far enough from both ends that 60 years either way stay in range.
mid_days = st.dates(min_value=date(1970, 1, 1), max_value=date(9900, 12, 31))
instants = st.datetimes(
    min_value=datetime(1901, 1, 1), max_value=datetime(9998, 12, 1), timezones=st.just(UTC)
)
graces = st.one_of(
    st.sampled_from(list(DEFAULT_GRACE.values())),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)),
)


@st.composite
def periods(draw: st.DrawFn, cadence: Cadence | None = None) -> Period:
    return Period.of_date(draw(days), cadence or draw(cadences))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- properties -------------------------------------------------------------------------------


@given(periods())
def test_id_round_trips(period: Period) -> None:
    assert Period.parse(period.id) == period
    assert Period.parse(period.id, period.cadence) == period
    assert str(period) == period.id


@given(periods())
def test_dhis2_alias_round_trips(period: Period) -> None:
    assert Period.parse(period.dhis2_id) == period
    assert Period.parse(period.dhis2_id, period.cadence) == period


@given(cadences, days, days)
def test_ordering_agrees_with_start_dates(cadence: Cadence, a: date, b: date) -> None:
    p, q = Period.of_date(a, cadence), Period.of_date(b, cadence)
    assert (p < q) == (p.start < q.start)
    assert (p <= q) == (p.start <= q.start)
    assert (p > q) == (p.start > q.start)
    assert (p >= q) == (p.start >= q.start)
    assert (p == q) == (p.start == q.start)
    assert (p == q) == (hash(p) == hash(q)) or p != q
    assert (p < q) == (p.ordinal < q.ordinal)


@given(periods())
def test_next_and_previous_are_inverse(period: Period) -> None:
    assert period.next().previous() == period
    assert period.previous().next() == period
    assert period.previous() < period < period.next()


@given(st.builds(Period.of_date, mid_days, cadences), st.integers(min_value=-60, max_value=60))
def test_shift_is_consistent_with_ordinal(period: Period, n: int) -> None:
    shifted = period.shift(n)
    assert shifted.ordinal == period.ordinal + n
    assert shifted.cadence == period.cadence
    assert period.next().ordinal == period.ordinal + 1
    assert shifted.shift(-n) == period
    assert len(list(periods_between(period, shifted))) == max(n + 1, 0)


@given(instants, cadences, zones)
def test_period_containing_an_instant_contains_it(
    instant: datetime, cadence: Cadence, tz: ZoneInfo
) -> None:
    period = Period.containing(instant, cadence, tz)
    assert period.start_at(tz) <= instant < period.end_at(tz)
    assert period.contains(instant.astimezone(tz).date())


@given(periods(), zones)
def test_consecutive_periods_leave_no_gap_or_overlap(period: Period, tz: ZoneInfo) -> None:
    following = period.next()
    assert period.end == following.start
    assert period.last_day + timedelta(days=1) == period.end
    assert period.end_at(tz) == following.start_at(tz)
    # <=, not <: a day the zone skipped outright (Apia on 2011-12-30) lasts no time at all.
    assert period.start_at(tz) <= period.end_at(tz)
    # start_at is local midnight, or the first instant after a gap that swallowed it.
    start_at = period.start_at(tz)
    midnight = datetime.combine(period.start, time(0))
    assert timedelta(0) <= start_at.replace(tzinfo=None) - midnight <= timedelta(days=1)


@given(periods())
@settings(max_examples=50)
def test_days_cover_the_period(period: Period) -> None:
    listed = list(period.days())
    assert listed[0] == period.start
    assert listed[-1] == period.last_day
    assert len(listed) == (period.end - period.start).days
    assert all(period.contains(day) for day in listed)
    assert not period.contains(period.end)
    assert not period.contains(period.start - timedelta(days=1))


@given(periods(), cadences, cadences)
def test_within_agrees_with_anchor(period: Period, coarser: Cadence, coarsest: Cadence) -> None:
    if coarser.rank < period.cadence.rank:
        with pytest.raises(PeriodError, match="finer than"):
            period.within(coarser)
        return
    container = period.within(coarser)
    assert container.cadence == coarser
    assert container.contains(period.anchor)
    assert container == Period.of_date(period.anchor, coarser)
    assert period.within(period.cadence) == period
    # Nesting is transitive (week -> month -> quarter is the week's quarter), except through a
    # week: days do not nest in months via their week (see test_days_do_not_nest_via_weeks).
    if coarsest.rank >= coarser.rank and (
        coarser is not Cadence.WEEKLY or period.cadence is Cadence.WEEKLY
    ):
        assert container.within(coarsest) == period.within(coarsest)


@given(instants, cadences, zones, graces)
def test_expected_period_is_the_latest_one_due(
    now: datetime, cadence: Cadence, tz: ZoneInfo, grace: timedelta
) -> None:
    expected = expected_period(cadence, now, tz, grace)
    assert expected.cadence == cadence
    assert expected.deadline(tz, grace) <= now < expected.next().deadline(tz, grace)


@given(periods(), zones, graces)
def test_expected_period_turns_exactly_at_the_deadline(
    period: Period, tz: ZoneInfo, grace: timedelta
) -> None:
    deadline = period.deadline(tz, grace)
    tick = timedelta(microseconds=1)
    assert expected_period(period.cadence, deadline, tz, grace) == period
    assert expected_period(period.cadence, deadline - tick, tz, grace) == period.previous()
    assert expected_period(period.cadence, deadline + tick, tz, grace) == period


# --- examples: ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cadence", "start", "canonical"),
    [
        ("2026-11-28", Cadence.DAILY, date(2026, 11, 28), "2026-11-28"),
        ("20261128", Cadence.DAILY, date(2026, 11, 28), "2026-11-28"),
        ("2026-W48", Cadence.WEEKLY, date(2026, 11, 23), "2026-W48"),
        ("2026W48", Cadence.WEEKLY, date(2026, 11, 23), "2026-W48"),
        ("2026W7", Cadence.WEEKLY, date(2026, 2, 9), "2026-W07"),
        ("2026W07", Cadence.WEEKLY, date(2026, 2, 9), "2026-W07"),
        ("2026-11", Cadence.MONTHLY, date(2026, 11, 1), "2026-11"),
        ("202611", Cadence.MONTHLY, date(2026, 11, 1), "2026-11"),
        ("2026-Q4", Cadence.QUARTERLY, date(2026, 10, 1), "2026-Q4"),
        ("2026Q4", Cadence.QUARTERLY, date(2026, 10, 1), "2026-Q4"),
        ("2026", Cadence.YEARLY, date(2026, 1, 1), "2026"),
        ("1900", Cadence.YEARLY, date(1900, 1, 1), "1900"),
        ("9999-12-31", Cadence.DAILY, date(9999, 12, 31), "9999-12-31"),
        ("2024-02-29", Cadence.DAILY, date(2024, 2, 29), "2024-02-29"),
    ],
)
def test_parse_accepts(text: str, cadence: Cadence, start: date, canonical: str) -> None:
    period = Period.parse(text)
    assert (period.cadence, period.start, period.id) == (cadence, start, canonical)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-W54", "2026 has 53 ISO weeks"),
        ("2021-W53", "2021 has 52 ISO weeks"),
        ("2026W54", "2026 has 53 ISO weeks"),
        ("2026-W00", "numbered from 01"),
        ("2026-W7", r"two digits \(2026-W07\)"),
        ("2026-13", "month must be 01..12"),
        ("202600", "month must be 01..12"),
        ("2026-02-30", "February 2026 has 28 days"),
        ("2025-02-29", "February 2025 has 28 days"),
        ("2026-04-31", "April 2026 has 30 days"),
        ("2026-11-00", "numbered from 01"),
        ("2026-Q5", "quarter must be 1..4"),
        ("2026-Q0", "quarter must be 1..4"),
        ("", "empty"),
        ("abc", "expected 2026-11-28"),
        (" 2026", "whitespace"),
        ("2026 ", "whitespace"),
        ("2026\n", "whitespace"),
        ("+2026", "expected 2026-11-28"),
        ("-2026", "expected 2026-11-28"),
        ("1899", "year 1899 is outside 1900..9999"),
        ("0000-01", "year 0000 is outside 1900..9999"),
        ("10000", "expected 2026-11-28"),
        ("2026-q4", "expected 2026-11-28"),
        ("2026-11-28T00:00", "expected 2026-11-28"),
        ("2026/11", "expected 2026-11-28"),
        ("２０２６", "expected 2026-11-28"),  # full-width digits are not ASCII digits
    ],
)
def test_parse_rejects_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(PeriodError, match=reason) as caught:
        Period.parse(text)
    assert str(caught.value).startswith(f"{text!r} is not a valid period: ")


@pytest.mark.parametrize(
    ("text", "cadence", "message"),
    [
        ("2026-11", Cadence.DAILY, "'2026-11' is a monthly period, expected daily"),
        ("2026W48", Cadence.MONTHLY, "'2026W48' is a weekly period, expected monthly"),
        ("2026", Cadence.QUARTERLY, "'2026' is a yearly period, expected quarterly"),
    ],
)
def test_parse_rejects_another_cadence(text: str, cadence: Cadence, message: str) -> None:
    with pytest.raises(PeriodError) as caught:
        Period.parse(text, cadence)
    assert str(caught.value) == message


def test_constructor_rejects_a_start_that_begins_no_period() -> None:
    with pytest.raises(PeriodError, match="not the first day of a monthly period"):
        Period(Cadence.MONTHLY, date(2026, 11, 3))
    with pytest.raises(PeriodError, match="not the first day of a weekly period"):
        Period(Cadence.WEEKLY, date(2026, 11, 24))
    with pytest.raises(PeriodError, match="outside the supported years"):
        Period(Cadence.YEARLY, date(1899, 1, 1))


def test_periods_of_different_cadences_do_not_order() -> None:
    with pytest.raises(TypeError, match="cannot order"):
        _ = Period.parse("2026-11") < Period.parse("2026-11-28")
    assert Period.parse("2026-11") != Period.parse("2026-11-01")


# --- examples: calendar edges -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "week"),
    [
        (date(2020, 12, 28), "2020-W53"),
        (date(2021, 1, 3), "2020-W53"),
        (date(2021, 1, 4), "2021-W01"),
        (date(2026, 12, 31), "2026-W53"),
        (date(2027, 1, 1), "2026-W53"),
        (date(2027, 1, 3), "2026-W53"),
        (date(2027, 1, 4), "2027-W01"),
        (date(2025, 12, 29), "2026-W01"),
        (date(1900, 1, 1), "1900-W01"),
    ],
)
def test_iso_week_year_edges(day: date, week: str) -> None:
    assert Period.of_date(day, Cadence.WEEKLY).id == week


def test_2020_has_a_53rd_week() -> None:
    week = Period.parse("2020-W53")
    assert (week.start, week.last_day, week.end) == (
        date(2020, 12, 28),
        date(2021, 1, 3),
        date(2021, 1, 4),
    )
    assert week.next().id == "2021-W01"


@pytest.mark.parametrize(
    ("week", "start", "month", "quarter", "year"),
    [
        ("2026-W01", date(2025, 12, 29), "2026-01", "2026-Q1", "2026"),
        ("2026-W53", date(2026, 12, 28), "2026-12", "2026-Q4", "2026"),
        ("2020-W53", date(2020, 12, 28), "2020-12", "2020-Q4", "2020"),
        # Starts in August, but four of its days (Thursday included) are in September.
        ("2026-W36", date(2026, 8, 31), "2026-09", "2026-Q3", "2026"),
        ("2026-W40", date(2026, 9, 28), "2026-10", "2026-Q4", "2026"),
    ],
)
def test_week_belongs_to_the_month_of_its_thursday(
    week: str, start: date, month: str, quarter: str, year: str
) -> None:
    period = Period.parse(week)
    assert period.start == start
    assert period.within(Cadence.MONTHLY).id == month
    assert period.within(Cadence.QUARTERLY).id == quarter
    assert period.within(Cadence.YEARLY).id == year


def test_days_do_not_nest_via_weeks() -> None:
    # 2000-01-01 lies in 1999-W52, whose Thursday is in December; the day itself is in January.
    day = Period.parse("2000-01-01")
    assert day.within(Cadence.WEEKLY).id == "1999-W52"
    assert day.within(Cadence.WEEKLY).within(Cadence.MONTHLY).id == "1999-12"
    assert day.within(Cadence.MONTHLY).id == "2000-01"


def test_within_a_finer_cadence_is_an_error() -> None:
    with pytest.raises(PeriodError, match="weekly is finer than monthly"):
        Period.parse("2026-11").within(Cadence.WEEKLY)


@pytest.mark.parametrize(
    ("instant", "cadence", "period"),
    [
        ("2026-11-30T18:30:00Z", Cadence.MONTHLY, "2026-12"),
        ("2026-11-30T18:30:00Z", Cadence.DAILY, "2026-12-01"),
        ("2026-11-30T18:30:00Z", Cadence.WEEKLY, "2026-W49"),
        ("2026-11-30T16:59:59Z", Cadence.MONTHLY, "2026-11"),
        ("2026-11-30T16:59:59Z", Cadence.DAILY, "2026-11-30"),
        ("2026-11-30T17:00:00Z", Cadence.DAILY, "2026-12-01"),
        ("2026-12-31T17:00:00Z", Cadence.YEARLY, "2027"),
        ("2026-12-31T16:59:59.999999Z", Cadence.QUARTERLY, "2026-Q4"),
        ("2026-12-01T01:30:00+07:00", Cadence.MONTHLY, "2026-12"),
        ("2026-11-30T12:00:00-12:00", Cadence.DAILY, "2026-12-01"),
    ],
)
def test_containing_uses_the_local_date(instant: str, cadence: Cadence, period: str) -> None:
    assert Period.containing(at(instant), cadence, HCM).id == period


def test_naive_instants_are_rejected() -> None:
    naive = datetime(2026, 11, 30, 18, 30)
    with pytest.raises(PeriodError, match="has no time zone"):
        Period.containing(naive, Cadence.DAILY, HCM)
    with pytest.raises(PeriodError, match="has no time zone"):
        expected_period(Cadence.DAILY, naive, HCM, timedelta(days=1))


def test_of_date_refuses_a_datetime() -> None:
    with pytest.raises(TypeError, match=r"Period\.containing"):
        Period.of_date(datetime(2026, 11, 30, 18, 30, tzinfo=UTC), Cadence.DAILY)


@pytest.mark.parametrize(
    ("period", "start_at", "end_at"),
    [
        ("2026-11-28", "2026-11-28T00:00:00+07:00", "2026-11-29T00:00:00+07:00"),
        ("2026-W48", "2026-11-23T00:00:00+07:00", "2026-11-30T00:00:00+07:00"),
        ("2026-Q4", "2026-10-01T00:00:00+07:00", "2027-01-01T00:00:00+07:00"),
    ],
)
def test_bounds_are_local_midnights(period: str, start_at: str, end_at: str) -> None:
    parsed = Period.parse(period)
    assert parsed.start_at(HCM) == at(start_at)
    assert parsed.end_at(HCM) == at(end_at)
    assert parsed.start_at(HCM).utcoffset() == timedelta(hours=7)


def test_midnight_skipped_by_dst_starts_the_day_after_the_gap() -> None:
    # Havana moved its clocks from 00:00 to 01:00 on 2024-03-10: that day began at 01:00 -04:00.
    havana = ZoneInfo("America/Havana")
    day = Period.parse("2024-03-10")
    assert day.start_at(havana) == at("2024-03-10T01:00:00-04:00")
    assert day.start_at(havana).isoformat() == "2024-03-10T01:00:00-04:00"
    assert day.previous().end_at(havana) == day.start_at(havana)
    assert day.end_at(havana) - day.start_at(havana) == timedelta(hours=23)


@pytest.mark.parametrize(
    ("zone", "skipped", "next_day_start"),
    [
        ("Pacific/Apia", "2011-12-30", "2011-12-31T00:00:00+14:00"),
        ("Pacific/Kiritimati", "1994-12-31", "1995-01-01T00:00:00+14:00"),
    ],
)
def test_a_skipped_day_is_an_empty_period(zone: str, skipped: str, next_day_start: str) -> None:
    tz = ZoneInfo(zone)
    day = Period.parse(skipped)
    assert day.start_at(tz) == day.end_at(tz) == at(next_day_start)
    assert Period.containing(at(next_day_start), Cadence.DAILY, tz) == day.next()
    # Its deadline falls together with the previous day's: both are due at once.
    assert day.previous().deadline(tz, timedelta(days=1)) == day.deadline(tz, timedelta(0))
    assert expected_period(Cadence.DAILY, at(next_day_start), tz, timedelta(0)) == day


def test_a_one_day_grace_ends_at_local_midnight_across_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # Clocks went forward on 2026-03-29; the grace still ends at local midnight.
    assert Period.parse("2026-03-28").deadline(berlin, timedelta(days=1)) == at(
        "2026-03-30T00:00:00+02:00"
    )


# --- examples: deadlines and the expected period ----------------------------------------------


@pytest.mark.parametrize(
    ("period", "deadline"),
    [
        ("2026-11-28", "2026-11-30T00:00:00+07:00"),
        ("2026-W48", "2026-12-02T00:00:00+07:00"),
        ("2026-11", "2026-12-06T00:00:00+07:00"),
        ("2026-Q3", "2026-10-16T00:00:00+07:00"),
        ("2025", "2026-01-31T00:00:00+07:00"),
    ],
)
def test_default_deadlines(period: str, deadline: str) -> None:
    parsed = Period.parse(period)
    assert parsed.deadline(HCM) == at(deadline)
    assert parsed.deadline(HCM, DEFAULT_GRACE[parsed.cadence]) == at(deadline)


@pytest.mark.parametrize(
    ("cadence", "now", "expected"),
    [
        (Cadence.DAILY, "2026-11-29T23:59:59+07:00", "2026-11-27"),
        (Cadence.DAILY, "2026-11-30T00:00:00+07:00", "2026-11-28"),
        (Cadence.DAILY, "2026-11-30T00:00:01+07:00", "2026-11-28"),
        (Cadence.DAILY, "2026-11-29T16:59:59Z", "2026-11-27"),
        (Cadence.DAILY, "2026-11-29T17:00:00Z", "2026-11-28"),
        (Cadence.WEEKLY, "2026-12-01T23:59:59+07:00", "2026-W47"),
        (Cadence.WEEKLY, "2026-12-02T00:00:00+07:00", "2026-W48"),
        (Cadence.MONTHLY, "2026-12-05T23:59:59+07:00", "2026-10"),
        (Cadence.MONTHLY, "2026-12-06T00:00:00+07:00", "2026-11"),
        (Cadence.QUARTERLY, "2026-10-15T23:59:59+07:00", "2026-Q2"),
        (Cadence.QUARTERLY, "2026-10-16T00:00:00+07:00", "2026-Q3"),
        (Cadence.YEARLY, "2026-01-30T23:59:59+07:00", "2024"),
        (Cadence.YEARLY, "2026-01-31T00:00:00+07:00", "2025"),
    ],
)
def test_expected_period_at_the_second(cadence: Cadence, now: str, expected: str) -> None:
    assert expected_period(cadence, at(now), HCM, DEFAULT_GRACE[cadence]).id == expected
    assert expected_period(cadence, at(now), HCM).id == expected


def test_daily_deadline_example() -> None:
    day = Period.parse("2026-11-28")
    assert day.deadline(HCM, timedelta(days=1)) == datetime(2026, 11, 30, tzinfo=ICT)


def test_negative_grace_is_rejected() -> None:
    with pytest.raises(ValueError, match="grace must not be negative"):
        Period.parse("2026-11").deadline(HCM, timedelta(days=-1))


# --- examples: ranges and the ends of the supported years -------------------------------------


def test_periods_between_is_inclusive_and_crosses_years() -> None:
    ids = [p.id for p in periods_between(Period.parse("2026-W52"), Period.parse("2027W2"))]
    assert ids == ["2026-W52", "2026-W53", "2027-W01", "2027-W02"]
    assert list(periods_between(Period.parse("2026-Q4"), Period.parse("2026-Q3"))) == []
    one = Period.parse("2026-11")
    assert list(periods_between(one, one)) == [one]


def test_periods_between_refuses_mixed_cadences() -> None:
    with pytest.raises(PeriodError, match="cannot list periods"):
        periods_between(Period.parse("2026-11"), Period.parse("2026-Q4"))


@pytest.mark.parametrize("text", ["9999", "9999-Q4", "9999-12", "9999-W52", "9999-12-31"])
def test_the_last_periods_end_past_the_representable_dates(text: str) -> None:
    last = Period.parse(text)
    with pytest.raises(PeriodError, match="last representable day"):
        _ = last.end
    with pytest.raises(PeriodError, match="last representable day"):
        last.end_at(HCM)
    with pytest.raises(PeriodError, match="outside the supported years"):
        last.next()
    assert list(last.days())[-1] == date(9999, 12, 31)
    assert last.contains(date(9999, 12, 31))


def test_the_last_iso_week_runs_into_the_year_10000() -> None:
    week = Period.parse("9999-W52")
    assert week.start == date(9999, 12, 27)
    assert week.within(Cadence.YEARLY).id == "9999"
    with pytest.raises(PeriodError, match="last representable day"):
        _ = week.last_day


@pytest.mark.parametrize("text", ["1900", "1900-Q1", "1900-01", "1900-W01", "1900-01-01"])
def test_the_first_periods_have_no_previous(text: str) -> None:
    first = Period.parse(text)
    assert first.start == date(1900, 1, 1)
    with pytest.raises(PeriodError, match="outside the supported years"):
        first.previous()


def test_cadence_rank_orders_by_coarseness() -> None:
    ranked = sorted(Cadence, key=lambda c: c.rank)
    assert ranked == [
        Cadence.DAILY,
        Cadence.WEEKLY,
        Cadence.MONTHLY,
        Cadence.QUARTERLY,
        Cadence.YEARLY,
    ]
    assert [c.rank for c in ranked] == [0, 1, 2, 3, 4]
    assert Cadence("monthly") == "monthly"
