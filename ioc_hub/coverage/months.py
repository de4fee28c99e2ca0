"""The months kept for completeness and aggregates (``series_months``, docs/design.md §4, §5):
per series and calendar month of period start, how many periods were received, how many of them
on time, under which grace, the latest first acceptance, and the values as aggregates combine
them over time. Pure: ingest counts with it as it stores values, completeness and aggregates
read what it counted.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import NamedTuple

from ioc_hub.config import Settings
from ioc_hub.coverage.rules import Schedule, is_on_time
from ioc_hub.kit.periods import Cadence, Period, PeriodError, month_of

MonthKey = tuple[int, int, date]
"""(unit id, indicator id, first day of the month)."""


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def grace_key(grace: timedelta) -> int:
    """A grace as the months counted under it store it: whole microseconds, so any change shows."""
    return grace // timedelta(microseconds=1)


class Deadlines:
    """The deadline of each indicator's periods under the grace in force, worked out once per
    (indicator, period) for a batch."""

    def __init__(
        self, settings: Settings, indicators: Iterable[tuple[int, Cadence, int | None]]
    ) -> None:
        """``indicators``: (id, cadence, own grace in seconds or ``None``) of each indicator."""
        self._tz: tzinfo = settings.tz
        self._schedules = {
            indicator_id: Schedule(cadence, settings.grace(cadence, grace_seconds))
            for indicator_id, cadence, grace_seconds in indicators
        }
        self._deadlines: dict[tuple[int, date], datetime] = {}

    def grace(self, indicator_id: int) -> int:
        """The grace of the indicator's deadlines, as :func:`grace_key` stores it."""
        return grace_key(self._schedules[indicator_id].grace)

    def deadline(self, indicator_id: int, period_start: date) -> datetime:
        """The deadline of the indicator's period starting on ``period_start``."""
        slot = (indicator_id, period_start)
        deadline = self._deadlines.get(slot)
        if deadline is None:
            schedule = self._schedules[indicator_id]
            deadline = schedule.deadline(Period(schedule.cadence, period_start), self._tz)
            self._deadlines[slot] = deadline
        return deadline

    def on_time(self, indicator_id: int, period_start: date, first_received_at: datetime) -> bool:
        """Whether a period first accepted at ``first_received_at`` was on time."""
        return is_on_time(first_received_at, self.deadline(indicator_id, period_start))


class Report(NamedTuple):
    """One stored period of a series, as its month counts it."""

    unit_id: int
    indicator_id: int
    period_start: date
    first_received_at: datetime
    value: float
    received_at: datetime


@dataclass(slots=True)
class MonthCount:
    """One row of ``series_months`` as counted from reports."""

    received: int
    on_time: int
    grace_microseconds: int
    last_received_at: datetime
    value_sum: float
    value_min: float
    value_max: float
    last_start: date
    last_value: float
    changed_at: datetime

    @classmethod
    def of(cls, report: Report, on_time: bool, grace_microseconds: int) -> "MonthCount":
        """A month holding ``report`` alone."""
        value = report.value
        return cls(
            received=1,
            on_time=int(on_time),
            grace_microseconds=grace_microseconds,
            last_received_at=report.first_received_at,
            value_sum=value,
            value_min=value,
            value_max=value,
            last_start=report.period_start,
            last_value=value,
            changed_at=report.received_at,
        )

    def add(self, report: Report, on_time: bool) -> None:
        """Count another period of the month."""
        self.received += 1
        self.on_time += on_time
        self.last_received_at = max(self.last_received_at, report.first_received_at)
        self.value_sum += report.value
        self.value_min = min(self.value_min, report.value)
        self.value_max = max(self.value_max, report.value)
        if report.period_start > self.last_start:
            self.last_start, self.last_value = report.period_start, report.value
        self.changed_at = max(self.changed_at, report.received_at)


def count_months(deadlines: Deadlines, reports: Iterable[Report]) -> dict[MonthKey, MonthCount]:
    """The months of these reports, each one period."""
    months: dict[MonthKey, MonthCount] = {}
    for report in reports:
        key = (report.unit_id, report.indicator_id, month_of(report.period_start))
        on_time = deadlines.on_time(
            report.indicator_id, report.period_start, report.first_received_at
        )
        count = months.get(key)
        if count is None:
            months[key] = MonthCount.of(report, on_time, deadlines.grace(report.indicator_id))
        else:
            count.add(report, on_time)
    return months


def _opens_month(period: Period) -> bool:
    """Whether no earlier period of its cadence starts in its month."""
    try:
        return month_of(period.previous().start) != month_of(period.start)
    except PeriodError:  # the first supported period
        return True


def _closes_month(period: Period) -> bool:
    """Whether no later period of its cadence starts in its month."""
    try:
        return month_of(period.next().start) != month_of(period.start)
    except PeriodError:  # the last supported period
        return True


@dataclass(frozen=True, slots=True)
class MonthSplit:
    """The months holding the periods ``first``..``last`` (of one cadence, by start)."""

    whole: tuple[date, date] | None
    """The first and last month whose every period lies within ``first``..``last``."""
    cut: frozenset[date]
    """The months holding some of those periods and some others."""


def split_months(first: Period, last: Period) -> MonthSplit:
    """Which months the periods ``first``..``last`` fill and which they only cut into."""
    low, high = month_of(first.start), month_of(last.start)
    cut: set[date] = set()
    if not _opens_month(first):
        cut.add(low)
        low = next_month(low)
    if not _closes_month(last):
        cut.add(high)
        if high <= low:
            return MonthSplit(None, frozenset(cut))
        high = previous_month(high)
    return MonthSplit((low, high) if low <= high else None, frozenset(cut))
