"""The rules of coverage, staleness and completeness (docs/design.md §4) as pure functions of an
explicit instant: series status and lag, connection windows, due periods of a range and on-time
reports. No I/O, no settings; period and deadline arithmetic comes from
:mod:`ioc_hub.kit.periods`.

In short: a period is due at its end plus its cadence's grace (or the indicator's own); a
series' expected period at ``t`` is the latest one due by ``t``; its status is ``never``,
``fresh``, ``overdue`` (one expected period missing) or ``stale`` (two or more), with the lag in
periods; a report is on time when received by its period's deadline; a unit is connected when
heard from within the window its fastest obligation sets (7 days without obligations).
"""

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo

from ioc_hub.kit.periods import Cadence, Period, PeriodError, expected_period

__all__ = [
    "LONGEST_PERIOD",
    "NO_OBLIGATION_WINDOW",
    "ConnectionWindow",
    "DaySpan",
    "Expectation",
    "Expectations",
    "Schedule",
    "SeriesStatus",
    "connection_window",
    "heard_since",
    "is_on_time",
]

# The longest period of each cadence. A unit that always reports on time may stay silent for one
# whole period plus the grace (it sent period P as P ended, and sends P+1 at P+1's deadline), so
# the window uses the longest period: an on-time unit is never shown disconnected.
LONGEST_PERIOD: dict[Cadence, timedelta] = {
    Cadence.DAILY: timedelta(days=1),
    Cadence.WEEKLY: timedelta(days=7),
    Cadence.MONTHLY: timedelta(days=31),
    Cadence.QUARTERLY: timedelta(days=92),
    Cadence.YEARLY: timedelta(days=366),
}

NO_OBLIGATION_WINDOW = timedelta(days=7)
"""The connection window of a unit that must report nothing (docs/design.md §4)."""


class SeriesStatus(enum.StrEnum):
    """Status of a series at an instant, declared worst first.

    ``never`` ranks worst: no pipe at all. Then ``stale`` (two or more expected periods
    missing), ``overdue`` (exactly one), ``fresh``.
    """

    NEVER = "never"
    STALE = "stale"
    OVERDUE = "overdue"
    FRESH = "fresh"

    @property
    def rank(self) -> int:
        """0 for the worst status (``never``) up to 3 for ``fresh``: sort ascending."""
        return _RANK[self]

    @classmethod
    def of_lag(cls, lag_periods: int | None) -> "SeriesStatus":
        """``never`` without a report, then fresh / overdue / stale for a lag of 0 / 1 / 2+."""
        if lag_periods is None:
            return cls.NEVER
        if lag_periods <= 0:
            return cls.FRESH
        if lag_periods == 1:
            return cls.OVERDUE
        return cls.STALE


_RANK = {status: rank for rank, status in enumerate(SeriesStatus)}
_BY_RANK = list(SeriesStatus)
_NEVER, _STALE, _OVERDUE, _FRESH = (_RANK[s] for s in SeriesStatus)


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a series' periods are due: its indicator's cadence and the grace in force (the
    cadence's configured grace, or the indicator's own override)."""

    cadence: Cadence
    grace: timedelta

    @property
    def speed(self) -> tuple[int, timedelta]:
        """Sorts schedules fastest first: the shorter cadence, then the shorter grace."""
        return self.cadence.rank, self.grace

    def deadline(self, period: Period, tz: tzinfo) -> datetime:
        """The period's end (local midnight in ``tz``) plus the grace."""
        return period.deadline(tz, self.grace)

    def expect(self, at: datetime, tz: tzinfo) -> "Expectation":
        """What is expected of every series of this schedule at ``at``."""
        expected = expected_period(self.cadence, at, tz, self.grace)
        return Expectation(schedule=self, expected=expected, tz=tz)


@dataclass(frozen=True, slots=True)
class Expectation:
    """The expected period of one schedule at an instant, shared by all its series, so judging
    a series is a date comparison (cheap enough for hundreds of thousands of series). It holds
    from the expected period's deadline until the next period's.

    ``first`` is the first period owed by series that started within the registry's history
    (see :meth:`starting`); ``None`` for series owed since always.
    """

    schedule: Schedule
    expected: Period
    tz: tzinfo
    first: Period | None = None
    _previous_start: date = field(init=False)
    _nothing_due: bool = field(init=False)

    def __post_init__(self) -> None:
        try:
            previous = self.expected.previous().start
        except PeriodError:  # the first supported period: nothing lies behind it
            previous = date.min
        if self.first is not None and self.first >= self.expected:
            previous = date.min  # nothing was owed before the expected period
        object.__setattr__(self, "_previous_start", previous)
        object.__setattr__(
            self, "_nothing_due", self.first is not None and self.first > self.expected
        )

    def starting(self, day: date) -> "Expectation":
        """The expectation of a series owed from ``day`` on (docs/design.md §8): a period is owed
        when the series is owed on its last day, so its first period is the one holding ``day``,
        and nothing before it is missing. A series whose first period is not due yet is fresh."""
        return replace(self, first=Period.of_date(day, self.schedule.cadence))

    @property
    def deadline(self) -> datetime:
        """Deadline of the expected period (at or before ``at``, by definition)."""
        return self.schedule.deadline(self.expected, self.tz)

    def status(self, last_start: date | None) -> SeriesStatus:
        """The status of a series whose latest period received by ``at`` starts on
        ``last_start`` (``None``: nothing received)."""
        return _BY_RANK[self.rank(last_start)]

    def rank(self, last_start: date | None) -> int:
        """``status(last_start).rank`` without building the status: coverage judges every
        series of a province or a country on each call."""
        if self._nothing_due:
            return _FRESH
        if last_start is None:
            return _NEVER
        if last_start >= self.expected.start:
            return _FRESH
        if last_start >= self._previous_start:
            return _OVERDUE
        return _STALE

    def lag(self, last: Period | None) -> int | None:
        """How many periods ``last`` is behind the expected one; 0 when it is the expected
        period or later, ``None`` when nothing was received."""
        if self._nothing_due:
            return 0
        if last is None:
            return None
        behind = last.ordinal if self.first is None else max(last.ordinal, self.first.ordinal - 1)
        return max(0, self.expected.ordinal - behind)

    def late_since(self, last: Period, status: SeriesStatus) -> datetime | None:
        """Since when a series whose latest period is ``last`` has been at least ``status``
        (``overdue`` or ``stale``): the deadline of the first (or second) period after
        ``last``, which it missed. ``None`` when it is not that late at this instant."""
        missed = 1 if status is SeriesStatus.OVERDUE else 2
        if (self.lag(last) or 0) < missed:
            return None
        period = last
        for _ in range(missed):
            period = period.next()
        return self.schedule.deadline(period, self.tz)


class Expectations:
    """Expectations that follow the clock, for callers that judge at instant after instant (the
    event stream, once per push). Each schedule's expectation is kept while it holds, so it is
    worked out once per period rather than once per call."""

    def __init__(self, tz: tzinfo) -> None:
        self._tz = tz
        self._held: dict[Schedule, tuple[Expectation, datetime, datetime]] = {}

    def at(self, schedule: Schedule, at: datetime) -> Expectation:
        """What ``schedule.expect(at, tz)`` returns: the kept one while ``at`` is within the
        instants it holds for, else worked out and kept."""
        held = self._held.get(schedule)
        if held is not None and held[1] <= at < held[2]:
            return held[0]
        expectation = schedule.expect(at, self._tz)
        try:
            until = schedule.deadline(expectation.expected.next(), self._tz)
        except PeriodError:  # the last supported period: the expectation never changes again
            until = datetime.max.replace(tzinfo=UTC)
        # Kept in UTC, as callers pass instants: aware instants in one zone compare as plain
        # fields, in two zones each comparison converts both.
        since = expectation.deadline.astimezone(UTC)
        self._held[schedule] = (expectation, since, until.astimezone(UTC))
        return expectation


@dataclass(frozen=True, slots=True)
class ConnectionWindow:
    """How recently a unit must have been heard from to count as connected, and the fastest
    obligation it derives from (``None``: the unit must report nothing)."""

    length: timedelta
    fastest: Schedule | None


def connection_window(schedules: Iterable[Schedule]) -> ConnectionWindow:
    """The window of a unit with these obligations (docs/design.md §4): the shortest cadence among
    them plus that cadence's grace; 7 days when there are none.

    The fastest obligation is the one with the shortest cadence and, among those, the shortest
    grace in force (an indicator may override its cadence's grace): the most demanding
    obligation sets how often a live pipe must speak. A period's length is its cadence's longest
    (31 days for months, 92 for quarters, 366 for years), so a unit reporting every period by its
    deadline always stays connected.
    """
    fastest = min(schedules, key=lambda s: s.speed, default=None)
    if fastest is None:
        return ConnectionWindow(NO_OBLIGATION_WINDOW, None)
    return ConnectionWindow(LONGEST_PERIOD[fastest.cadence] + fastest.grace, fastest)


def heard_since(window: ConnectionWindow, at: datetime) -> datetime:
    """The earliest last contact (push or heartbeat) that keeps a unit connected at ``at``: it
    must have been heard from within its window before ``at``, boundary included."""
    return at - window.length


def is_on_time(first_received_at: datetime, deadline: datetime) -> bool:
    """A report is on time when its first acceptance was by its period's deadline, inclusive;
    later revisions do not change it (docs/design.md §4, issue 4)."""
    return first_received_at <= deadline


@dataclass(frozen=True, slots=True)
class DaySpan:
    """A range of local calendar days, both ends included, over which completeness is counted.

    A period of any cadence belongs to the span when the span holds it whole; a week is placed by
    its Thursday (the ISO 8601 rule :meth:`Period.within` uses), so every week belongs to exactly
    one month, quarter and year and consecutive spans never count a week twice.
    """

    first_day: date
    last_day: date

    @classmethod
    def between(cls, first: Period, last: Period) -> "DaySpan":
        """From the first day of ``first`` to the last day of ``last`` (cadences may differ)."""
        return cls(first.start, last.last_day)

    def holds(self, period: Period) -> bool:
        if period.cadence is Cadence.WEEKLY:
            return self.first_day <= period.anchor <= self.last_day
        return self.first_day <= period.start and period.last_day <= self.last_day

    def periods(self, cadence: Cadence) -> tuple[Period, Period] | None:
        """The first and last period of ``cadence`` the span holds, or ``None`` when none."""
        try:
            first = Period.of_date(self.first_day, cadence)
            if not self.holds(first):
                first = first.next()
            last = Period.of_date(self.last_day, cadence)
            if not self.holds(last):
                last = last.previous()
        except PeriodError:
            return None
        if first > last:
            return None
        return first, last

    def due_periods(
        self, expectation: Expectation, since: date | None = None, until: date | None = None
    ) -> tuple[Period, Period] | None:
        """The first and last period of the schedule the span holds that are due at the
        expectation's instant (a period is due once its deadline is ≤ that instant), keeping only
        those whose last day lies within ``since``..``until`` when given (the days over which
        the registry is one: a period is owed by the registry of its last day, docs/design.md
        §8); ``None`` when there are none."""
        cadence = expectation.schedule.cadence
        bounds = self.periods(cadence)
        if bounds is None:
            return None
        first, last = bounds
        last = min(last, expectation.expected)
        try:
            if since is not None:
                first = max(first, Period.of_date(since, cadence))
            if until is not None:
                ending = Period.of_date(until, cadence)
                last = min(last, ending if ending.last_day <= until else ending.previous())
        except PeriodError:  # past the supported years: no period of it is in the span
            return None
        return (first, last) if first <= last else None

    def due_count(
        self, expectation: Expectation, since: date | None = None, until: date | None = None
    ) -> int:
        """How many periods :meth:`due_periods` holds."""
        bounds = self.due_periods(expectation, since, until)
        return 0 if bounds is None else bounds[1].ordinal - bounds[0].ordinal + 1

    def due(self, period: Period, expectation: Expectation) -> bool:
        """Whether ``period`` is in the span and due at the expectation's instant."""
        return self.holds(period) and period <= expectation.expected
