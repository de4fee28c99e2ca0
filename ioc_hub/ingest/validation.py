"""Row-by-row validation of a push (DESIGN §3). Pure: lookups come in, verdicts go out.

Hand-written rather than a pydantic model per row: a 1,000-row batch is checked in a few
milliseconds, and every reason reads the way DESIGN §3 spells it.
"""

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from ioc_hub.access.principal import Principal, UnitRef
from ioc_hub.kit.periods import Cadence, Period, PeriodError

ROW_FIELDS = frozenset({"unit", "indicator", "value", "observed_at", "period"})

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


@dataclass(frozen=True, slots=True)
class UnitInfo:
    ref: UnitRef
    active: bool


class ValidRow(NamedTuple):
    """A row that passed: ids resolved, period canonical. A tuple, as batches make thousands."""

    unit_id: int
    indicator_id: int
    period: str
    period_start: date
    value: float
    observed_at: datetime | None


class RowRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Validator:
    """Checks rows against the batch's lookups; caches what repeats within a batch."""

    principal: Principal
    units: dict[str, UnitInfo]
    indicators: dict[str, IndicatorRef]
    tz: tzinfo
    now: datetime

    def __post_init__(self) -> None:
        # What repeats within a batch is checked once: a (unit, indicator) pair, a period id.
        self._pairs: dict[tuple[Any, Any], tuple[UnitRef, IndicatorRef]] = {}
        self._periods: dict[tuple[str, Cadence], Period] = {}
        self._instants: dict[str, datetime] = {}
        self._current: dict[Cadence, Period] = {}

    def check(self, row: Any) -> ValidRow:
        if not isinstance(row, dict):
            raise RowRejected(f"row must be an object, not {_json_type(row)}")
        if not ROW_FIELDS.issuperset(row):
            extra = sorted(row.keys() - ROW_FIELDS)[0]
            raise RowRejected(
                f"unexpected field {extra!r}; rows take {', '.join(sorted(ROW_FIELDS))}"
            )
        pair_key = (row.get("unit"), row.get("indicator"))
        try:
            pair = self._pairs.get(pair_key)
        except TypeError:  # an unhashable code (a list, an object): the checks below say why
            pair = None
        if pair is None:
            indicator = self._indicator(pair_key[1])
            pair = (self._unit(pair_key[0]), indicator)
            self._pairs[pair_key] = pair
        unit, indicator = pair
        value = self._value(row.get("value", _MISSING), indicator)
        observed_at = self._observed_at(row.get("observed_at"))
        period = self._period(row.get("period"), observed_at, indicator.cadence)
        return ValidRow(unit.id, indicator.id, period.id, period.start, value, observed_at)

    def _indicator(self, code: Any) -> IndicatorRef:
        if code is None:
            raise RowRejected("indicator is missing")
        if not isinstance(code, str):
            raise RowRejected(f"indicator must be a string code, not {_json_type(code)}")
        indicator = self.indicators.get(code)
        if indicator is None:
            raise RowRejected(f"unknown indicator {_show(code)}")
        if not indicator.active:
            raise RowRejected(f"indicator {code!r} is inactive")
        return indicator

    def _unit(self, code: Any) -> UnitRef:
        if code is None:
            return self.principal.unit
        if not isinstance(code, str):
            raise RowRejected(f"unit must be a string code, not {_json_type(code)}")
        unit = self.units.get(code)
        if unit is None:
            raise RowRejected(f"unknown unit {_show(code)}")
        if not self.principal.covers(unit.ref):
            raise RowRejected(f"unit {code} is outside this key's area")
        if not unit.active:
            raise RowRejected(f"unit {code} is inactive")
        return unit.ref

    @staticmethod
    def _value(value: Any, indicator: IndicatorRef) -> float:
        if value is _MISSING or value is None:
            raise RowRejected("value is missing")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RowRejected(f"value must be a number, not {_json_type(value)}")
        number = float(value) if isinstance(value, float) or abs(value) < 2**63 else math.inf
        if not math.isfinite(number):
            raise RowRejected(f"value {value} is not a finite number")
        if indicator.min_value is not None and number < indicator.min_value:
            raise RowRejected(f"value {_num(number)} below min {_num(indicator.min_value)}")
        if indicator.max_value is not None and number > indicator.max_value:
            raise RowRejected(f"value {_num(number)} above max {_num(indicator.max_value)}")
        return number

    def _observed_at(self, text: Any) -> datetime | None:
        if text is None:
            return None
        if not isinstance(text, str):
            raise RowRejected(f"observed_at must be an ISO 8601 string, not {_json_type(text)}")
        instant = self._instants.get(text)
        if instant is None:
            try:
                instant = datetime.fromisoformat(text)
            except ValueError:
                raise RowRejected(f"observed_at {_show(text)} is not an ISO 8601 time") from None
            if instant.tzinfo is None:
                raise RowRejected("observed_at has no time zone")
            if instant > self.now + CLOCK_SKEW:
                raise RowRejected(f"observed_at {text} is in the future")
            self._instants[text] = instant
        return instant

    def _period(self, text: Any, observed_at: datetime | None, cadence: Cadence) -> Period:
        if text is None:
            if observed_at is None:
                raise RowRejected("give period or observed_at (or both)")
            try:
                return Period.containing(observed_at, cadence, self.tz)
            except PeriodError as exc:
                raise RowRejected(f"observed_at: {exc}") from None
        if not isinstance(text, str):
            raise RowRejected(f"period must be a string id, not {_json_type(text)}")
        period = self._periods.get((text, cadence))
        if period is None:
            try:
                period = Period.parse(text, cadence)
            except PeriodError as exc:
                raise RowRejected(f"period {exc}") from None
            if period > self._current_period(cadence):
                raise RowRejected(f"period {period.id} is in the future")
            self._periods[(text, cadence)] = period
        if observed_at is not None:
            observed_in = Period.containing(observed_at, cadence, self.tz)
            if observed_in != period:
                raise RowRejected(
                    f"observed_at {observed_at.isoformat()} falls in {observed_in.id}, "
                    f"not in period {period.id}"
                )
        return period

    def _current_period(self, cadence: Cadence) -> Period:
        current = self._current.get(cadence)
        if current is None:
            current = self._current[cadence] = Period.containing(self.now, cadence, self.tz)
        return current


_MISSING = object()


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", list: "an array", dict: "an object"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _show(text: str) -> str:
    """Quote a sender's string for a reason, cut short and without control characters."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text[:64])
    return repr(cleaned + ("…" if len(text) > 64 else ""))


def _num(number: float) -> str:
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
