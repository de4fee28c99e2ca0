"""A pushed row against the registry (docs/design.md §3): does its unit exist and lie in the
key's area, is its indicator known and its value in range, is its period real and not in the
future. Pure: lookups come in, verdicts go out. The row's shape was checked before
(``ingest.rows``)."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import NamedTuple

from ioc_hub.access.principal import Principal, UnitRef
from ioc_hub.ingest.rows import Reason, number, show
from ioc_hub.ingest.schemas import ImportRowIn, ObservationIn
from ioc_hub.kit.periods import Cadence, Period, PeriodError

# A sender's clock may run a little ahead of ours; more than this is a wrong timestamp.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class IndicatorRef:
    id: int
    code: str
    cadence: Cadence
    min_value: float | None
    max_value: float | None
    active: bool
    grace_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class UnitInfo:
    """A unit as ingest judges rows for it, its life and lineage included (docs/design.md §8)."""

    ref: UnitRef
    active: bool
    valid_from: date | None = None
    valid_to: date | None = None
    parents: tuple[tuple[date | None, date | None, int | None], ...] = ()
    """Its parent through time: (from, to, parent id) per version."""
    successors: str = ""
    """Its successors in words, for the reason of a row sent after its end."""
    predecessors: dict[int, date] = field(default_factory=dict)
    """The units it succeeded, each with the day it did: its key may correct their past."""

    def parent_on(self, day: date) -> int | None:
        for start, end, parent in self.parents:
            if (start is None or start <= day) and (end is None or end > day):
                return parent
        return self.ref.parent_id


class ValidRow(NamedTuple):
    """A row that passed: ids resolved, period canonical, and the row as sent, which says what
    else is stored (its value, comment, times). A tuple, as batches make thousands."""

    unit_id: int
    indicator_id: int
    period: str
    period_start: date
    row: ObservationIn

    @property
    def received_at(self) -> datetime | None:
        """Set on imported rows only: when the hub records the value as received."""
        return self.row.received_at if type(self.row) is ImportRowIn else None


class RowRejected(Exception):
    def __init__(self, reason: str, code: Reason) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass
class Validator:
    """Checks rows against the batch's lookups; caches what repeats within a batch. An
    imported row (:class:`ImportRowIn`) also has its ``received_at`` checked."""

    principal: Principal
    units: dict[str, UnitInfo]
    indicators: dict[str, IndicatorRef]
    tz: tzinfo
    now: datetime

    def __post_init__(self) -> None:
        # What repeats within a batch is checked once: a unit, an indicator, a period id.
        self._units: dict[str | None, UnitInfo] = {}
        self._indicators: dict[str, IndicatorRef] = {}
        self._periods: dict[tuple[str, Cadence], tuple[Period, str]] = {}
        self._today: date | None = None

    def check(self, row: ObservationIn) -> ValidRow:
        # Indicator first: its reason is the one a row with both wrong gets.
        indicator = self._indicators.get(row.indicator)
        if indicator is None:
            indicator = self._indicators[row.indicator] = self._indicator(row.indicator)
        unit = self._units.get(row.unit)
        if unit is None:
            unit = self._units[row.unit] = self._unit(row.unit)
        self._in_range(row.value, indicator)
        observed_at = row.observed_at
        if observed_at is not None and observed_at > self.now + CLOCK_SKEW:
            raise RowRejected(
                f"observed_at {observed_at.isoformat()} is in the future", Reason.FUTURE_TIME
            )
        period, period_id = self._period(row.period, observed_at, indicator.cadence)
        self._lives_through(unit, period)
        if type(row) is ImportRowIn:  # not isinstance: pydantic models check it the slow way
            self._received_at(row.received_at, observed_at, period)
        return ValidRow(unit.ref.id, indicator.id, period_id, period.start, row)

    def _indicator(self, code: str) -> IndicatorRef:
        indicator = self.indicators.get(code)
        if indicator is None:
            raise RowRejected(f"unknown indicator {show(code)}", Reason.UNKNOWN_INDICATOR)
        if not indicator.active:
            raise RowRejected(f"indicator {code!r} is inactive", Reason.INACTIVE_INDICATOR)
        return indicator

    def _unit(self, code: str | None) -> UnitInfo:
        if code is None:
            code = self.principal.unit.code
        unit = self.units.get(code)
        if unit is None:
            raise RowRejected(f"unknown unit {show(code)}", Reason.UNKNOWN_UNIT)
        if not self.principal.covers(unit.ref) and not self._may_cover(unit):
            raise RowRejected(f"unit {code} is outside this key's area", Reason.OUTSIDE_AREA)
        if not unit.active:
            raise RowRejected(f"unit {code} is inactive", Reason.INACTIVE_UNIT)
        return unit

    def _may_cover(self, unit: UnitInfo) -> bool:
        """Whether the key may reach ``unit`` for some period: as its parent of some day, or as
        its successor (docs/design.md §8). :meth:`_lives_through` then checks the period."""
        key = self.principal.unit.id
        mine = self.units.get(self.principal.unit.code)
        return any(parent == key for _, _, parent in unit.parents) or (
            mine is not None and unit.ref.id in mine.predecessors
        )

    def _lives_through(self, unit: UnitInfo, period: Period) -> None:
        """A unit reports the periods its life overlaps; a key outside its area of today
        reaches it only for the days it was the unit's parent or before it succeeded it."""
        code = unit.ref.code
        if unit.valid_to is not None and period.start >= unit.valid_to:
            after = (
                f"its successors are {unit.successors}"
                if unit.successors
                else "it has no successor"
            )
            raise RowRejected(f"unit {code} ended on {unit.valid_to}; {after}", Reason.ENDED_UNIT)
        if unit.valid_from is not None and period.last_day < unit.valid_from:
            raise RowRejected(
                f"unit {code} starts on {unit.valid_from}; period {period.id} ends before",
                Reason.NOT_STARTED_UNIT,
            )
        if self.principal.covers(unit.ref):
            return
        key = self.principal.unit.id
        if unit.parent_on(period.start) == key:
            return
        mine = self.units.get(self.principal.unit.code)
        succeeded = mine.predecessors.get(unit.ref.id) if mine is not None else None
        if succeeded is not None and period.start < succeeded:
            return
        raise RowRejected(
            f"unit {code} is outside this key's area for period {period.id}", Reason.OUTSIDE_AREA
        )

    @staticmethod
    def _in_range(value: float, indicator: IndicatorRef) -> None:
        if indicator.min_value is not None and value < indicator.min_value:
            raise RowRejected(
                f"value {number(value)} below min {number(indicator.min_value)}",
                Reason.OUT_OF_RANGE,
            )
        if indicator.max_value is not None and value > indicator.max_value:
            raise RowRejected(
                f"value {number(value)} above max {number(indicator.max_value)}",
                Reason.OUT_OF_RANGE,
            )

    def _received_at(
        self, received_at: datetime, observed_at: datetime | None, period: Period
    ) -> None:
        # No skew allowed: received_at stands for the hub's own clock, not a sender's.
        shown = received_at.isoformat()
        if received_at > self.now:
            raise RowRejected(f"received_at {shown} is in the future", Reason.FUTURE_TIME)
        if observed_at is not None and received_at < observed_at:
            raise RowRejected(
                f"received_at {shown} is before observed_at {observed_at.isoformat()}",
                Reason.INCONSISTENT,
            )
        if received_at < period.start_at(self.tz):
            raise RowRejected(
                f"received_at {shown} is before period {period.id} begins", Reason.INCONSISTENT
            )

    def _period(
        self, text: str | None, observed_at: datetime | None, cadence: Cadence
    ) -> tuple[Period, str]:
        """The row's period and its canonical id (worked out once per id a batch names)."""
        if text is None:
            if observed_at is None:
                raise RowRejected("give period or observed_at (or both)", Reason.MISSING_FIELD)
            period = self._containing(observed_at, cadence)
            return period, period.id
        known = self._periods.get((text, cadence))
        if known is None:
            try:
                parsed = Period.parse(text, cadence)
            except PeriodError as exc:
                raise RowRejected(f"period {exc}", Reason.INVALID_PERIOD) from None
            if parsed.start > self._local_today():
                raise RowRejected(f"period {parsed.id} is in the future", Reason.FUTURE_PERIOD)
            known = self._periods[(text, cadence)] = (parsed, parsed.id)
        period = known[0]
        if observed_at is not None:
            observed_in = self._containing(observed_at, cadence)
            if observed_in != period:
                raise RowRejected(
                    f"observed_at {observed_at.isoformat()} falls in {observed_in.id}, "
                    f"not in period {period.id}",
                    Reason.INCONSISTENT,
                )
        return known

    def _containing(self, observed_at: datetime, cadence: Cadence) -> Period:
        try:
            return Period.containing(observed_at, cadence, self.tz)
        except PeriodError as exc:  # a local date outside the supported years
            raise RowRejected(f"observed_at: {exc}", Reason.INVALID_TIME) from None

    def _local_today(self) -> date:
        """Today in the province: a period that starts after it is in the future (it is later
        than the period holding today, as periods of a cadence neither overlap nor leave gaps)."""
        if self._today is None:
            self._today = self.now.astimezone(self.tz).date()
        return self._today
