"""Periods and deadlines of the five cadences, in a province's time zone (docs/design.md §2, §4).

Pure arithmetic: no I/O, no settings. A :class:`Period` is a cadence plus the first local day of
the interval; everything else (ids, bounds, deadlines, ordinals, nesting) is derived from that.

Supported years are 1900..9999 (the ISO week-year for weeks). The very last period of each cadence
ends on 10000-01-01 or later, which ``datetime.date`` cannot hold, so asking for its ``end`` (or
anything built on it, and the ``last_day`` of 9999-W52) raises :class:`PeriodError`.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

__all__ = [
    "DEFAULT_GRACE",
    "PERIOD_PATTERN",
    "Cadence",
    "Period",
    "PeriodError",
    "expected_period",
    "periods_between",
]

MIN_YEAR = 1900
MAX_YEAR = 9999
_MAX_DAY = date.max.toordinal()


class Cadence(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"

    @property
    def rank(self) -> int:
        """0 for daily up to 4 for yearly: ``a.rank <= b.rank`` means b is as coarse or coarser."""
        return _RANK[self]


_RANK = {cadence: rank for rank, cadence in enumerate(Cadence)}

DEFAULT_GRACE: dict[Cadence, timedelta] = {
    Cadence.DAILY: timedelta(days=1),
    Cadence.WEEKLY: timedelta(days=2),
    Cadence.MONTHLY: timedelta(days=5),
    Cadence.QUARTERLY: timedelta(days=15),
    Cadence.YEARLY: timedelta(days=30),
}


class PeriodError(ValueError):
    """A period id, date or instant that names no valid period; the message says why."""


# English names on purpose: calendar.month_name follows the process locale.
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# [0-9] rather than \d, which also matches non-ASCII digits.
_PATTERNS: tuple[tuple[Cadence, re.Pattern[str]], ...] = (
    (Cadence.DAILY, re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})|([0-9]{4})([0-9]{2})([0-9]{2})")),
    # DHIS2 writes weeks unpadded (2026W7) but also accepts 2026W07.
    (Cadence.WEEKLY, re.compile(r"([0-9]{4})-W([0-9]{2})|([0-9]{4})W([0-9]{1,2})")),
    (Cadence.MONTHLY, re.compile(r"([0-9]{4})-([0-9]{2})|([0-9]{4})([0-9]{2})")),
    (Cadence.QUARTERLY, re.compile(r"([0-9]{4})-Q([0-9])|([0-9]{4})Q([0-9])")),
    (Cadence.YEARLY, re.compile(r"([0-9]{4})")),
)
_UNPADDED_WEEK = re.compile(r"([0-9]{4})-W([0-9])")

_YEAR = "(19[0-9]{2}|[2-9][0-9]{3})"
_MONTH = "(0[1-9]|1[0-2])"
_DAY = "(0[1-9]|[12][0-9]|3[01])"
_WEEK = "(0[1-9]|[1-4][0-9]|5[0-3])"
PERIOD_PATTERN = (
    f"^{_YEAR}(-{_MONTH}(-{_DAY})?|-W{_WEEK}|-Q[1-4]"
    f"|{_MONTH}{_DAY}?|W(0?[1-9]|[1-4][0-9]|5[0-3])|Q[1-4])?$"
)
"""The ids :meth:`Period.parse` takes, for the published contract. A few that match are still
refused: a day a month does not have, a week 53 of a year of 52."""
_FORMS = (
    "expected 2026-11-28, 2026-W48, 2026-11, 2026-Q4 or 2026 "
    "(DHIS2: 20261128, 2026W48, 202611, 2026Q4)"
)


def _match(text: str) -> tuple[Cadence, list[int]] | None:
    """The cadence and numeric fields of ``text``, if it has the shape of a period id."""
    for cadence, pattern in _PATTERNS:
        if found := pattern.fullmatch(text):
            # Each pattern has a canonical and a DHIS2 alternative; keep the one that matched.
            return cadence, [int(group) for group in found.groups() if group is not None]
    return None


def _iso_weeks(year: int) -> int:
    # 28 December is always in the last ISO week of its year.
    return date(year, 12, 28).isocalendar().week


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - date(year, month, 1)).days


def _period_year(cadence: Cadence, day: date) -> int:
    return day.isocalendar().year if cadence is Cadence.WEEKLY else day.year


def _first_day(cadence: Cadence, day: date) -> date:
    """First day of the period of ``cadence`` that contains ``day``."""
    match cadence:
        case Cadence.DAILY:
            return day
        case Cadence.WEEKLY:
            # date.min is a Monday, so this never underflows.
            return day - timedelta(days=day.weekday())
        case Cadence.MONTHLY:
            return day.replace(day=1)
        case Cadence.QUARTERLY:
            return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        case Cadence.YEARLY:
            return date(day.year, 1, 1)


def _ordinal(cadence: Cadence, start: date) -> int:
    match cadence:
        case Cadence.DAILY:
            return start.toordinal()
        case Cadence.WEEKLY:
            # Mondays have ordinals 1, 8, 15, ... (0001-01-01 was a Monday).
            return (start.toordinal() - 1) // 7
        case Cadence.MONTHLY:
            return start.year * 12 + start.month - 1
        case Cadence.QUARTERLY:
            return start.year * 4 + (start.month - 1) // 3
        case Cadence.YEARLY:
            return start.year


def _start_of_ordinal(cadence: Cadence, n: int) -> date:
    match cadence:
        case Cadence.DAILY:
            return date.fromordinal(n)
        case Cadence.WEEKLY:
            return date.fromordinal(n * 7 + 1)
        case Cadence.MONTHLY:
            year, month0 = divmod(n, 12)
            return date(year, month0 + 1, 1)
        case Cadence.QUARTERLY:
            year, quarter0 = divmod(n, 4)
            return date(year, quarter0 * 3 + 1, 1)
        case Cadence.YEARLY:
            return date(n, 1, 1)


_ORDINAL_RANGE = {
    c: (
        _ordinal(
            c, date.fromisocalendar(MIN_YEAR, 1, 1) if c is Cadence.WEEKLY else date(MIN_YEAR, 1, 1)
        ),
        _ordinal(c, _first_day(c, date(MAX_YEAR, 12, 28 if c is Cadence.WEEKLY else 31))),
    )
    for c in Cadence
}


def _require_aware(instant: datetime, name: str) -> None:
    if not isinstance(instant, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(instant).__name__}")
    if instant.utcoffset() is None:
        raise PeriodError(f"{name} {instant.isoformat()} has no time zone")


def _local(wall: datetime, tz: tzinfo) -> datetime:
    """The instant of naive local wall time ``wall`` in ``tz``, as a real local time.

    Going through UTC turns a wall time that falls in a DST gap (e.g. a midnight the clocks skip
    in America/Havana) into the first instant after the gap, so results compare correctly with
    other datetimes of the same zone.
    """
    try:
        return wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
    except OverflowError:
        raise PeriodError(f"{wall.isoformat()} is outside the representable range") from None


def _grace(cadence: Cadence, grace: timedelta | None) -> timedelta:
    if grace is None:
        return DEFAULT_GRACE[cadence]
    if grace < timedelta(0):
        raise ValueError(f"grace must not be negative, got {grace}")
    return grace


@dataclass(frozen=True, slots=True, repr=False)
class Period:
    """One interval of a cadence: ``start`` is its first local day (a Monday for weeks).

    Periods of one cadence are totally ordered; comparing periods of different cadences raises
    ``TypeError``. Construct them with :meth:`parse`, :meth:`of_date` or :meth:`containing`;
    the constructor rejects a ``start`` that is not the first day of a period.
    """

    cadence: Cadence
    start: date

    def __post_init__(self) -> None:
        if not isinstance(self.cadence, Cadence):
            raise TypeError(f"cadence must be a Cadence, not {type(self.cadence).__name__}")
        # datetime is a subclass of date; a datetime here would carry a time nobody looks at.
        if not isinstance(self.start, date) or isinstance(self.start, datetime):
            raise TypeError(f"start must be a date, not {type(self.start).__name__}")
        year = _period_year(self.cadence, self.start)
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise PeriodError(
                f"{self.cadence} period of {self.start} is outside the supported years "
                f"{MIN_YEAR}..{MAX_YEAR}"
            )
        first = _first_day(self.cadence, self.start)
        if first != self.start:
            raise PeriodError(
                f"{self.start} is not the first day of a {self.cadence} period (that is {first})"
            )

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, cadence: Cadence | None = None) -> Period:
        """Parse a canonical id (``2026-11-28``, ``2026-W48``, ``2026-11``, ``2026-Q4``,
        ``2026``) or a DHIS2 alias (``20261128``, ``2026W48``, ``202611``, ``2026Q4``).

        Strict: no surrounding whitespace, no signs, no out-of-range fields. With ``cadence``,
        an id of another cadence is an error too.
        """
        if not isinstance(text, str):
            raise TypeError(f"period id must be a str, not {type(text).__name__}")
        period = _parsed(text)
        if cadence is not None and period.cadence is not cadence:
            raise PeriodError(f"{text!r} is a {period.cadence} period, expected {cadence}")
        return period

    @classmethod
    def _parse(cls, text: str) -> Period:
        def bad(reason: str) -> PeriodError:
            return PeriodError(f"{text!r} is not a valid period: {reason}")

        if not text:
            raise bad("it is empty")
        if text != text.strip():
            raise bad("it has leading or trailing whitespace")
        matched = _match(text)
        if matched is None:
            if unpadded := _UNPADDED_WEEK.fullmatch(text):
                raise bad(f"the week needs two digits ({unpadded[1]}-W0{unpadded[2]})")
            raise bad(_FORMS)
        kind, fields = matched
        year = fields[0]
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise bad(f"year {year:04d} is outside {MIN_YEAR}..{MAX_YEAR}")
        match kind:
            case Cadence.DAILY:
                _, month, day = fields
                if not 1 <= month <= 12:
                    raise bad("month must be 01..12")
                if day == 0:
                    raise bad("days are numbered from 01")
                if day > (n := _days_in_month(year, month)):
                    raise bad(f"{_MONTHS[month - 1]} {year} has {n} days")
                start = date(year, month, day)
            case Cadence.WEEKLY:
                week = fields[1]
                if week == 0:
                    raise bad("ISO weeks are numbered from 01")
                if week > (n := _iso_weeks(year)):
                    raise bad(f"{year} has {n} ISO weeks")
                start = date.fromisocalendar(year, week, 1)
            case Cadence.MONTHLY:
                month = fields[1]
                if not 1 <= month <= 12:
                    raise bad("month must be 01..12")
                start = date(year, month, 1)
            case Cadence.QUARTERLY:
                quarter = fields[1]
                if not 1 <= quarter <= 4:
                    raise bad("quarter must be 1..4")
                start = date(year, quarter * 3 - 2, 1)
            case Cadence.YEARLY:
                start = date(year, 1, 1)
        return cls(kind, start)

    @classmethod
    def of_date(cls, day: date, cadence: Cadence) -> Period:
        """The period of ``cadence`` that contains the local calendar day ``day``."""
        if isinstance(day, datetime):
            # Its wall date would silently ignore the province's time zone.
            raise TypeError("of_date takes a date; use Period.containing for a datetime")
        return _of_date(day, cadence)

    @classmethod
    def containing(cls, instant: datetime, cadence: Cadence, tz: tzinfo) -> Period:
        """The period of ``cadence`` holding the aware ``instant``, by its local date in ``tz``."""
        _require_aware(instant, "instant")
        try:
            local = instant.astimezone(tz)
        except OverflowError:
            raise PeriodError(f"{instant.isoformat()} is outside the representable range") from None
        return cls.of_date(local.date(), cadence)

    # --- naming -------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """Canonical id: ``2026-11-28``, ``2026-W48``, ``2026-11``, ``2026-Q4`` or ``2026``."""
        start = self.start
        match self.cadence:
            case Cadence.DAILY:
                return start.isoformat()
            case Cadence.WEEKLY:
                year, week, _ = start.isocalendar()
                return f"{year:04d}-W{week:02d}"
            case Cadence.MONTHLY:
                return f"{start.year:04d}-{start.month:02d}"
            case Cadence.QUARTERLY:
                return f"{start.year:04d}-Q{(start.month + 2) // 3}"
            case Cadence.YEARLY:
                return f"{start.year:04d}"

    @property
    def dhis2_id(self) -> str:
        """DHIS2's form of the id: ``20261128``, ``2026W7``, ``202611``, ``2026Q4``, ``2026``."""
        if self.cadence is Cadence.WEEKLY:
            year, week, _ = self.start.isocalendar()
            return f"{year:04d}W{week}"
        return self.id.replace("-", "")

    def __str__(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"Period.parse({self.id!r})"

    # --- bounds -------------------------------------------------------------------------------

    def _last_ordinal(self) -> int:
        # An int rather than a date: the last ISO week of 9999 ends in 10000, past date.max.
        start = self.start
        match self.cadence:
            case Cadence.DAILY:
                last = start
            case Cadence.WEEKLY:
                return start.toordinal() + 6
            case Cadence.MONTHLY:
                last = start.replace(day=_days_in_month(start.year, start.month))
            case Cadence.QUARTERLY:
                month = start.month + 2
                last = date(start.year, month, _days_in_month(start.year, month))
            case Cadence.YEARLY:
                last = date(start.year, 12, 31)
        return last.toordinal()

    def _day(self, ordinal: int, what: str) -> date:
        if ordinal > _MAX_DAY:
            raise PeriodError(
                f"the {what} of {self.id} is after {date.max}, the last representable day"
            )
        return date.fromordinal(ordinal)

    @property
    def last_day(self) -> date:
        return self._day(self._last_ordinal(), "last day")

    @property
    def end(self) -> date:
        """Exclusive end: the first day of the next period."""
        return self._day(self._last_ordinal() + 1, "end")

    @property
    def anchor(self) -> date:
        """The day that places this period in coarser ones: the Thursday of a week (the ISO
        rule, so a week belongs to the month, quarter and year holding most of its days), the
        start otherwise."""
        if self.cadence is Cadence.WEEKLY:
            return self.start + timedelta(days=3)
        return self.start

    def contains(self, day: date) -> bool:
        """Whether the local calendar day ``day`` lies in this period."""
        return self.start.toordinal() <= day.toordinal() <= self._last_ordinal()

    def days(self) -> Iterator[date]:
        """The local calendar days of this period, in order (up to date.max at the very end)."""
        stop = min(self._last_ordinal(), _MAX_DAY) + 1
        return map(date.fromordinal, range(self.start.toordinal(), stop))

    def start_at(self, tz: tzinfo) -> datetime:
        """First instant of the period: local midnight of ``start`` in ``tz``."""
        return _local(datetime.combine(self.start, time(0)), tz)

    def end_at(self, tz: tzinfo) -> datetime:
        """Exclusive end instant: local midnight of ``end`` in ``tz`` (the next period's start)."""
        # Built from the end date itself, not start_at + length, which would drift across DST.
        return _local(datetime.combine(self.end, time(0)), tz)

    def deadline(self, tz: tzinfo, grace: timedelta | None = None) -> datetime:
        """End of the period plus ``grace`` (default: :data:`DEFAULT_GRACE` of the cadence).

        Grace runs on the local wall clock, so whole-day graces end at local midnight even when
        a DST change falls inside them.
        """
        wall = datetime.combine(self.end, time(0))
        try:
            wall += _grace(self.cadence, grace)
        except OverflowError:
            raise PeriodError(f"the deadline of {self.id} cannot be represented") from None
        return _local(wall, tz)

    # --- arithmetic ---------------------------------------------------------------------------

    @property
    def ordinal(self) -> int:
        """Consecutive integers for consecutive periods: lag = b.ordinal - a.ordinal."""
        return _ordinal(self.cadence, self.start)

    def shift(self, n: int) -> Period:
        """The period ``n`` steps later (earlier for negative ``n``) of the same cadence."""
        low, high = _ORDINAL_RANGE[self.cadence]
        if not low <= self.ordinal + n <= high:
            raise PeriodError(
                f"{self.id} shifted by {n} is outside the supported years {MIN_YEAR}..{MAX_YEAR}"
            )
        return Period(self.cadence, _start_of_ordinal(self.cadence, self.ordinal + n))

    def next(self) -> Period:
        return self.shift(1)

    def previous(self) -> Period:
        return self.shift(-1)

    def within(self, cadence: Cadence) -> Period:
        """The period of ``cadence`` (as coarse or coarser) that this one belongs to, by anchor."""
        if cadence.rank < self.cadence.rank:
            raise PeriodError(
                f"cannot place {self.cadence} period {self.id} in a {cadence} period: "
                f"{cadence} is finer than {self.cadence}"
            )
        return Period.of_date(self.anchor, cadence)

    # --- ordering -----------------------------------------------------------------------------

    def _key(self, other: object) -> tuple[date, date] | None:
        if not isinstance(other, Period):
            return None
        if other.cadence is not self.cadence:
            raise TypeError(
                f"cannot order a {self.cadence} period against a {other.cadence} period"
            )
        return self.start, other.start

    def __lt__(self, other: object) -> bool:
        if (key := self._key(other)) is None:
            return NotImplemented
        return key[0] < key[1]

    def __le__(self, other: object) -> bool:
        if (key := self._key(other)) is None:
            return NotImplemented
        return key[0] <= key[1]

    def __gt__(self, other: object) -> bool:
        if (key := self._key(other)) is None:
            return NotImplemented
        return key[0] > key[1]

    def __ge__(self, other: object) -> bool:
        if (key := self._key(other)) is None:
            return NotImplemented
        return key[0] >= key[1]


# Periods are immutable, and pushes name the same few again and again (today, this month): the
# hot paths, parsing an id and finding the period of a date, are cached.


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> Period:
    return Period._parse(text)


@functools.lru_cache(maxsize=4096)
def _of_date(day: date, cadence: Cadence) -> Period:
    year = _period_year(cadence, day)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError(f"{day} is outside the supported years {MIN_YEAR}..{MAX_YEAR}")
    return Period(cadence, _first_day(cadence, day))


def month_of(day: date) -> date:
    """The first day of ``day``'s month: the month a period is kept in and judged by, by its
    start (completeness's kept months, outlier baselines)."""
    return day.replace(day=1)


def expected_period(
    cadence: Cadence, now: datetime, tz: tzinfo, grace: timedelta | None = None
) -> Period:
    """The latest period of ``cadence`` whose deadline is at or before ``now`` (docs/design.md §4).

    ``grace`` defaults to :data:`DEFAULT_GRACE` of the cadence. Constant time: one guess from the
    wall clock, then at most a step or two to settle it against real instants.
    """
    grace = _grace(cadence, grace)
    _require_aware(now, "now")
    try:
        shifted = (now.astimezone(tz).replace(tzinfo=None) - grace).date()
    except OverflowError:
        raise PeriodError(f"no {cadence} period is due at {now.isoformat()}") from None
    # On the wall clock a period is due once now - grace reaches its end, i.e. the period before
    # the one holding now - grace. Next to a DST change the wall clock and the instant can
    # disagree by the size of the shift, hence the settling loops below.
    guess = Period.of_date(shifted, cadence).previous()
    while guess.deadline(tz, grace) > now:
        guess = guess.previous()
    while True:
        try:
            following = guess.next()
            if following.deadline(tz, grace) > now:
                return guess
        except PeriodError:  # past year 9999: never due
            return guess
        guess = following


def periods_between(first: Period, last: Period) -> Iterator[Period]:
    """Periods from ``first`` to ``last`` inclusive, in order; empty when ``first > last``."""
    if first.cadence is not last.cadence:
        raise PeriodError(
            f"cannot list periods from {first.cadence} {first.id} to {last.cadence} {last.id}"
        )
    cadence = first.cadence
    # Built here rather than in a generator function so a bad call fails at the call site.
    return (
        Period(cadence, _start_of_ordinal(cadence, n))
        for n in range(first.ordinal, last.ordinal + 1)
    )
