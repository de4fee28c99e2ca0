"""The months kept for completeness (``series_months``, docs/design.md §4): per series and
calendar month of period start, how many periods were received, how many of them on time, under
which grace, and the latest first acceptance. Pure: ingest counts with it as it stores values,
completeness reads what it counted.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

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


@dataclass(slots=True)
class MonthCount:
    """One row of ``series_months`` as counted from reports."""

    received: int
    on_time: int
    grace_microseconds: int
    last_received_at: datetime


def count_months(
    deadlines: Deadlines, reports: Iterable[tuple[int, int, date, datetime]]
) -> dict[MonthKey, MonthCount]:
    """The months of these reports, each (unit id, indicator id, period start, first
    acceptance) one period."""
    months: dict[MonthKey, MonthCount] = {}
    for unit_id, indicator_id, start, first_received_at in reports:
        key = (unit_id, indicator_id, month_of(start))
        on_time = int(deadlines.on_time(indicator_id, start, first_received_at))
        count = months.get(key)
        if count is None:
            months[key] = MonthCount(1, on_time, deadlines.grace(indicator_id), first_received_at)
            continue
        count.received += 1
        count.on_time += on_time
        count.last_received_at = max(count.last_received_at, first_received_at)
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
