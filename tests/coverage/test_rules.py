"""The pure rules of coverage (ioc_hub.coverage.rules; docs/design.md §4), table-driven, in the
province's local time: deadlines (a period's end plus its cadence's grace, or the indicator's),
the expected period (the latest due), series status (never, fresh, overdue, stale), on time
(received by the deadline) and the connection window of a unit's fastest obligation (7 days
without obligations)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ioc_hub.coverage.rules import (
    DaySpan,
    Expectations,
    Schedule,
    SeriesStatus,
    connection_window,
    heard_since,
    is_on_time,
)
from ioc_hub.kit.periods import DEFAULT_GRACE, Cadence, Period

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
SECOND = timedelta(seconds=1)


def local(text: str) -> datetime:
    """An instant written in the province's local time (ICT, UTC+7)."""
    instant = datetime.fromisoformat(text)
    assert instant.utcoffset() == timedelta(hours=7), "write these instants in local time"
    return instant


def default(cadence: Cadence) -> Schedule:
    return Schedule(cadence, DEFAULT_GRACE[cadence])


def period(text: str) -> Period:
    return Period.parse(text)


# (period, its deadline in local time): the end is local midnight, plus the default grace.
DEADLINES = [
    pytest.param("2026-11-27", "2026-11-29T00:00:00+07:00", id="daily"),
    pytest.param("2026-W48", "2026-12-02T00:00:00+07:00", id="weekly"),
    pytest.param("2026-W53", "2027-01-06T00:00:00+07:00", id="weekly-iso-week-53"),
    pytest.param("2027-W01", "2027-01-13T00:00:00+07:00", id="weekly-after-week-53"),
    pytest.param("2026-11", "2026-12-06T00:00:00+07:00", id="monthly"),
    pytest.param("2026-12", "2027-01-06T00:00:00+07:00", id="monthly-year-end"),
    pytest.param("2026-02", "2026-03-06T00:00:00+07:00", id="monthly-february"),
    pytest.param("2026-Q1", "2026-04-16T00:00:00+07:00", id="quarterly"),
    pytest.param("2026-Q4", "2027-01-16T00:00:00+07:00", id="quarterly-year-end"),
    pytest.param("2026", "2027-01-31T00:00:00+07:00", id="yearly"),
]


@pytest.mark.parametrize(("period_id", "deadline"), DEADLINES)
def test_deadline_is_local_end_plus_the_cadence_grace(period_id: str, deadline: str) -> None:
    due = period(period_id)
    assert default(due.cadence).deadline(due, HCM) == local(deadline)


@pytest.mark.parametrize(("period_id", "deadline"), DEADLINES)
def test_one_second_before_at_and_after_the_deadline(period_id: str, deadline: str) -> None:
    due = period(period_id)
    schedule = default(due.cadence)
    on_time, one_behind, two_behind = due, due.previous(), due.previous().previous()

    before = schedule.expect(local(deadline) - SECOND, HCM)
    assert before.expected == one_behind, "not due until its deadline"
    assert before.status(one_behind.start) is SeriesStatus.FRESH
    assert before.status(two_behind.start) is SeriesStatus.OVERDUE
    assert before.lag(two_behind) == 1

    for instant in (local(deadline), local(deadline) + SECOND):
        after = schedule.expect(instant, HCM)
        assert after.expected == due, "due exactly at its deadline"
        assert after.deadline == local(deadline)
        assert after.status(on_time.start) is SeriesStatus.FRESH
        assert after.status(one_behind.start) is SeriesStatus.OVERDUE
        assert after.lag(one_behind) == 1
        assert after.status(two_behind.start) is SeriesStatus.STALE
        assert after.lag(two_behind) == 2
        assert after.status(None) is SeriesStatus.NEVER
        assert after.lag(None) is None

    assert is_on_time(local(deadline), local(deadline))
    assert not is_on_time(local(deadline) + SECOND, local(deadline))


def test_the_day_ends_at_local_midnight_not_utc_midnight() -> None:
    daily = default(Cadence.DAILY)
    # 2026-11-27 ends at 2026-11-28 00:00 ICT = 2026-11-27 17:00 UTC; its deadline one day on.
    deadline = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
    assert daily.deadline(period("2026-11-27"), HCM) == deadline
    assert daily.expect(deadline, HCM).expected == period("2026-11-27")
    assert daily.expect(deadline - SECOND, HCM).expected == period("2026-11-26")
    # Counted on UTC days instead, 2026-11-27 would not be due until 2026-11-29 00:00 UTC.
    assert daily.expect(deadline, ZoneInfo("UTC")).expected == period("2026-11-26")


def test_a_reported_period_ahead_of_the_expected_one_is_fresh() -> None:
    expectation = default(Cadence.MONTHLY).expect(local("2026-11-28T17:00:00+07:00"), HCM)
    assert expectation.expected == period("2026-10")
    assert expectation.status(period("2026-11").start) is SeriesStatus.FRESH
    assert expectation.lag(period("2026-11")) == 0


def test_an_indicator_grace_override_moves_the_deadline() -> None:
    six_hours = Schedule(Cadence.DAILY, timedelta(hours=6))
    assert six_hours.deadline(period("2026-11-27"), HCM) == local("2026-11-28T06:00:00+07:00")
    at = local("2026-11-28T06:00:00+07:00")
    assert six_hours.expect(at, HCM).expected == period("2026-11-27")
    assert default(Cadence.DAILY).expect(at, HCM).expected == period("2026-11-26")


def test_never_fresh_overdue_stale_then_fresh_again_when_the_missing_period_arrives_late() -> None:
    daily = default(Cadence.DAILY)
    received: dict[Period, datetime] = {}

    def status_at(text: str) -> SeriesStatus:
        at = local(text)
        got = [p for p, when in received.items() if when <= at]
        return daily.expect(at, HCM).status(max(got).start if got else None)

    assert status_at("2026-11-27T09:00:00+07:00") is SeriesStatus.NEVER
    received[period("2026-11-26")] = local("2026-11-27T09:00:00+07:00")
    assert status_at("2026-11-27T09:00:00+07:00") is SeriesStatus.FRESH
    # 2026-11-27 is due at 2026-11-29 00:00 and never comes.
    assert status_at("2026-11-28T23:59:59+07:00") is SeriesStatus.FRESH
    assert status_at("2026-11-29T00:00:00+07:00") is SeriesStatus.OVERDUE
    # 2026-11-28 is due at 2026-11-30 00:00: two periods behind.
    assert status_at("2026-11-30T00:00:00+07:00") is SeriesStatus.STALE
    received[period("2026-11-28")] = local("2026-11-30T10:00:00+07:00")
    assert status_at("2026-11-30T09:59:59+07:00") is SeriesStatus.STALE
    assert status_at("2026-11-30T10:00:00+07:00") is SeriesStatus.FRESH

    # Completeness over the three days, evaluated once the late one arrived.
    span = DaySpan.between(period("2026-11-26"), period("2026-11-28"))
    expectation = daily.expect(local("2026-11-30T10:00:00+07:00"), HCM)
    assert span.due_count(expectation) == 3
    on_time = [
        is_on_time(when, daily.deadline(p, HCM))
        for p, when in received.items()
        if span.due(p, expectation)
    ]
    assert on_time == [True, False], "the late arrival counts as late, not on time"


# (obligations as (cadence, grace), window): the shortest cadence plus its grace, 7 days without.
DAY = timedelta(days=1)
WINDOWS = [
    pytest.param([], timedelta(days=7), None, id="no-obligations"),
    pytest.param([(Cadence.DAILY, DAY)], 2 * DAY, Cadence.DAILY, id="daily"),
    pytest.param([(Cadence.WEEKLY, 2 * DAY)], 9 * DAY, Cadence.WEEKLY, id="weekly"),
    pytest.param([(Cadence.MONTHLY, 5 * DAY)], 36 * DAY, Cadence.MONTHLY, id="monthly"),
    pytest.param([(Cadence.QUARTERLY, 15 * DAY)], 107 * DAY, Cadence.QUARTERLY, id="quarterly"),
    pytest.param([(Cadence.YEARLY, 30 * DAY)], 396 * DAY, Cadence.YEARLY, id="yearly"),
    pytest.param(
        [(Cadence.YEARLY, 30 * DAY), (Cadence.WEEKLY, 2 * DAY), (Cadence.MONTHLY, 5 * DAY)],
        9 * DAY,
        Cadence.WEEKLY,
        id="fastest-wins",
    ),
    pytest.param(
        [(Cadence.DAILY, DAY), (Cadence.DAILY, timedelta(hours=6))],
        timedelta(hours=30),
        Cadence.DAILY,
        id="override-shortest-grace-of-the-cadence",
    ),
    pytest.param(
        [(Cadence.DAILY, 60 * DAY), (Cadence.WEEKLY, timedelta(0))],
        61 * DAY,
        Cadence.DAILY,
        id="cadence-first-then-grace",
    ),
]


@pytest.mark.parametrize(("obligations", "window", "fastest"), WINDOWS)
def test_connection_window_from_the_fastest_obligation(
    obligations: list[tuple[Cadence, timedelta]], window: timedelta, fastest: Cadence | None
) -> None:
    found = connection_window(Schedule(cadence, grace) for cadence, grace in obligations)
    assert found.length == window
    assert (found.fastest.cadence if found.fastest else None) is fastest


def test_connected_within_the_window_boundary_included() -> None:
    at = local("2026-11-28T17:00:00+07:00")
    daily = connection_window([default(Cadence.DAILY)])
    assert heard_since(daily, at) == at - daily.length


def test_an_on_time_reporter_stays_connected_through_the_longest_month() -> None:
    monthly = default(Cadence.MONTHLY)
    window = connection_window([monthly])
    # Sent 2026-11 as soon as it ended, then 2026-12 only at its deadline.
    first = period("2026-11").end_at(HCM)
    second = monthly.deadline(period("2026-12"), HCM)
    assert first >= heard_since(window, second)


# (range, cadence, first and last period held): whole periods; a week by its Thursday.
SPANS = [
    pytest.param("2026-11", "2026-11", Cadence.DAILY, ("2026-11-01", "2026-11-30"), id="days"),
    pytest.param("2026-11", "2026-11", Cadence.WEEKLY, ("2026-W45", "2026-W48"), id="weeks"),
    pytest.param("2026-11", "2026-11", Cadence.MONTHLY, ("2026-11", "2026-11"), id="month"),
    pytest.param("2026-11", "2026-11", Cadence.QUARTERLY, None, id="quarter-not-whole"),
    pytest.param("2026", "2026", Cadence.WEEKLY, ("2026-W01", "2026-W53"), id="iso-week-53"),
    pytest.param("2027", "2027", Cadence.WEEKLY, ("2027-W01", "2027-W52"), id="after-week-53"),
    pytest.param("2026-Q4", "2026-Q4", Cadence.MONTHLY, ("2026-10", "2026-12"), id="q4-months"),
    pytest.param("2026-10", "2026-12", Cadence.QUARTERLY, ("2026-Q4", "2026-Q4"), id="q4"),
    pytest.param("2026-Q4", "2026-Q4", Cadence.YEARLY, None, id="year-not-whole"),
    pytest.param("2026-01", "2026-Q4", Cadence.YEARLY, ("2026", "2026"), id="year"),
]


@pytest.mark.parametrize(("first", "last", "cadence", "held"), SPANS)
def test_periods_held_by_a_range(
    first: str, last: str, cadence: Cadence, held: tuple[str, str] | None
) -> None:
    span = DaySpan.between(period(first), period(last))
    bounds = span.periods(cadence)
    assert (None if bounds is None else (bounds[0].id, bounds[1].id)) == held


def test_due_count_is_the_held_periods_whose_deadline_has_passed() -> None:
    span = DaySpan.between(period("2026-Q4"), period("2026-Q4"))
    quarterly = default(Cadence.QUARTERLY)
    deadline = local("2027-01-16T00:00:00+07:00")
    assert span.due_count(quarterly.expect(deadline - SECOND, HCM)) == 0
    assert span.due_count(quarterly.expect(deadline, HCM)) == 1
    daily = default(Cadence.DAILY)
    # At 2026-11-28 17:00 local the days up to 2026-11-26 are due.
    assert span.due_count(daily.expect(local("2026-11-28T17:00:00+07:00"), HCM)) == 57
    weekly = default(Cadence.WEEKLY)
    year = DaySpan.between(period("2026"), period("2026"))
    assert year.due_count(weekly.expect(local("2027-01-06T00:00:00+07:00"), HCM)) == 53
    assert year.due_count(weekly.expect(local("2027-01-05T23:59:59+07:00"), HCM)) == 52


@given(
    st.sampled_from(list(Cadence)),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)),
)
def test_status_by_dates_agrees_with_status_by_lag(
    cadence: Cadence, at: datetime, day: date
) -> None:
    expectation = default(cadence).expect(at, HCM)
    last = Period.of_date(day, cadence)
    assert expectation.status(last.start) is SeriesStatus.of_lag(expectation.lag(last))


@given(
    st.sampled_from(list(Cadence)),
    st.integers(min_value=0, max_value=40).map(lambda days: timedelta(days=days)),
    st.sampled_from([HCM, ZoneInfo("Europe/Berlin"), ZoneInfo("America/St_Johns")]),
    st.datetimes(
        min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
    ),
    st.lists(st.integers(min_value=-100 * 86400, max_value=100 * 86400), min_size=1),
)
def test_expectations_kept_between_deadlines_agree_with_working_each_out(
    cadence: Cadence, grace: timedelta, tz: ZoneInfo, base: datetime, offsets: list[int]
) -> None:
    """The stream's expectations, kept from one push to the next (pushes at instants in any
    order, around deadlines and across DST changes), are the ones worked out afresh."""
    schedule = Schedule(cadence, grace)
    kept = Expectations(tz)
    for offset in offsets:
        at = base + timedelta(seconds=offset)
        assert kept.at(schedule, at) == schedule.expect(at, tz)


def test_expectations_move_on_at_the_deadline() -> None:
    daily = default(Cadence.DAILY)
    deadline = local("2026-11-29T00:00:00+07:00")  # of 2026-11-27
    kept = Expectations(HCM)
    assert kept.at(daily, deadline - SECOND).expected == period("2026-11-26")
    assert kept.at(daily, deadline).expected == period("2026-11-27")
    assert kept.at(daily, deadline + timedelta(days=1) - SECOND).expected == period("2026-11-27")
    assert kept.at(daily, deadline + timedelta(days=1)).expected == period("2026-11-28")
    assert kept.at(daily, deadline - SECOND).expected == period("2026-11-26")


def test_statuses_sort_worst_first() -> None:
    assert sorted(SeriesStatus, key=lambda s: s.rank) == [
        SeriesStatus.NEVER,
        SeriesStatus.STALE,
        SeriesStatus.OVERDUE,
        SeriesStatus.FRESH,
    ]


@pytest.mark.parametrize(
    ("cadence", "last", "at", "status", "since"),
    [
        # Daily, a day's grace: 2026-11-27 is due at 2026-11-29 00:00, 2026-11-28 a day later.
        (Cadence.DAILY, "2026-11-26", "2026-11-28T23:59:59+07:00", SeriesStatus.OVERDUE, None),
        (
            Cadence.DAILY,
            "2026-11-26",
            "2026-11-29T00:00:00+07:00",
            SeriesStatus.OVERDUE,
            "2026-11-29T00:00:00+07:00",
        ),
        (Cadence.DAILY, "2026-11-26", "2026-11-29T12:00:00+07:00", SeriesStatus.STALE, None),
        (
            Cadence.DAILY,
            "2026-11-26",
            "2026-12-05T12:00:00+07:00",
            SeriesStatus.STALE,
            "2026-11-30T00:00:00+07:00",
        ),
        # Monthly, five days' grace: November is due on 2026-12-06.
        (
            Cadence.MONTHLY,
            "2026-10",
            "2027-01-01T00:00:00+07:00",
            SeriesStatus.OVERDUE,
            "2026-12-06T00:00:00+07:00",
        ),
    ],
)
def test_late_since_is_the_deadline_of_the_first_or_second_missed_period(
    cadence: Cadence, last: str, at: str, status: SeriesStatus, since: str | None
) -> None:
    expectation = default(cadence).expect(local(at), HCM)
    found = expectation.late_since(Period.parse(last, cadence), status)
    assert found == (local(since) if since else None)


# --- series owed from a day on (docs/design.md §8) ---------------------------------------------


def test_a_series_owed_from_a_day_owes_nothing_before_it() -> None:
    """A successor's series start at D: a period is owed when the series is owed on its last
    day, so a monthly one owed from 2025-07-01 owes July first."""
    monthly = default(Cadence.MONTHLY)
    start = date(2025, 7, 1)

    may = monthly.expect(local("2025-07-02T12:00:00+07:00"), HCM).starting(start)
    assert may.expected.id == "2025-05"
    assert may.first == period("2025-07")
    assert (may.status(None), may.lag(None)) == (SeriesStatus.FRESH, 0), "nothing owed yet"

    july = monthly.expect(local("2025-08-10T12:00:00+07:00"), HCM)
    assert july.starting(start).status(None) is SeriesStatus.NEVER
    # May came before the series was owed: only July is missing from it, not June.
    assert july.starting(start).status(date(2025, 5, 1)) is SeriesStatus.OVERDUE
    assert july.starting(start).lag(period("2025-05")) == 1
    assert july.status(date(2025, 5, 1)) is SeriesStatus.STALE, "owed since always"
    assert july.lag(period("2025-05")) == 2


@given(
    st.sampled_from(list(Cadence)),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)),
    st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)),
)
def test_status_by_dates_agrees_with_status_by_lag_from_a_start(
    cadence: Cadence, at: datetime, day: date, start: date
) -> None:
    expectation = default(cadence).expect(at, HCM).starting(start)
    last = Period.of_date(day, cadence)
    lag = expectation.lag(last)
    assert expectation.status(last.start) is SeriesStatus.of_lag(lag)
    plain = default(cadence).expect(at, HCM).lag(last)
    assert lag is not None
    assert plain is not None
    assert lag <= plain


@pytest.mark.parametrize(
    ("cadence", "at", "whole", "before", "after", "july"),
    [
        pytest.param(Cadence.MONTHLY, "2026-02-10T00:00:00+07:00", 12, 6, 6, 1, id="monthly"),
        # Week 27 runs from 2025-06-30 to 2025-07-06: its last day is after D. Week 31 ends on
        # 2025-08-03.
        pytest.param(Cadence.WEEKLY, "2026-01-20T00:00:00+07:00", 52, 26, 26, 4, id="weekly"),
        pytest.param(Cadence.YEARLY, "2026-02-10T00:00:00+07:00", 1, 0, 1, 0, id="yearly"),
        pytest.param(Cadence.DAILY, "2025-07-03T00:00:00+07:00", 182, 181, 1, 1, id="daily-due"),
    ],
)
def test_due_count_splits_at_a_day_by_each_periods_last_day(
    cadence: Cadence, at: str, whole: int, before: int, after: int, july: int
) -> None:
    span = DaySpan.between(period("2025"), period("2025"))
    expectation = default(cadence).expect(local(at), HCM)
    day = date(2025, 7, 1)
    assert span.due_count(expectation) == whole
    assert span.due_count(expectation, until=day - timedelta(days=1)) == before
    assert span.due_count(expectation, since=day) == after
    assert span.due_count(expectation, since=day, until=date(2025, 7, 31)) == july
