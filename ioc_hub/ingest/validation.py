"""Row-by-row validation of a push (DESIGN §3). Pure: lookups come in, verdicts go out.

Hand-written rather than a pydantic model per row: a 1,000-row batch is checked in a few
milliseconds, and every reason reads the way DESIGN §3 spells it.
"""

import enum
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from ioc_hub.access.principal import Principal, UnitRef
from ioc_hub.kit.periods import Cadence, Period, PeriodError

ROW_FIELDS = frozenset({"unit", "indicator", "value", "observed_at", "period"})
IMPORT_ROW_FIELDS = ROW_FIELDS | {"received_at"}

# Any value the hub stores must survive being summed with a million others: 1e300 × 1e6 is far
# below the largest double (1.8e308), so no aggregate can overflow.
MAX_MAGNITUDE = 1e300

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
    received_at: datetime | None = None
    """Set on imported rows only: when the hub records the value as received."""


class Reason(enum.StrEnum):
    """Why a row was rejected, as a small fixed set (metrics count rejected rows by it); the
    sentence for humans is :attr:`RowRejected.reason`."""

    WRONG_TYPE = "wrong_type"
    UNEXPECTED_FIELD = "unexpected_field"
    MISSING_FIELD = "missing_field"
    UNKNOWN_INDICATOR = "unknown_indicator"
    INACTIVE_INDICATOR = "inactive_indicator"
    UNKNOWN_UNIT = "unknown_unit"
    INACTIVE_UNIT = "inactive_unit"
    OUTSIDE_AREA = "outside_area"
    INVALID_VALUE = "invalid_value"
    OUT_OF_RANGE = "out_of_range"
    INVALID_TIME = "invalid_time"
    FUTURE_TIME = "future_time"
    INVALID_PERIOD = "invalid_period"
    FUTURE_PERIOD = "future_period"
    INCONSISTENT = "inconsistent"


class RowRejected(Exception):
    def __init__(self, reason: str, code: Reason) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass
class Validator:
    """Checks rows against the batch's lookups; caches what repeats within a batch.

    With ``imported`` the rows are an admin's backfill: each also carries ``received_at``, the
    past instant the hub records as the row's receipt.
    """

    principal: Principal
    units: dict[str, UnitInfo]
    indicators: dict[str, IndicatorRef]
    tz: tzinfo
    now: datetime
    imported: bool = False

    def __post_init__(self) -> None:
        # What repeats within a batch is checked once: a (unit, indicator) pair, a period id.
        self._pairs: dict[tuple[Any, Any], tuple[UnitRef, IndicatorRef]] = {}
        self._periods: dict[tuple[str, Cadence], tuple[Period, str]] = {}
        self._instants: dict[str, datetime] = {}
        self._received: dict[str, datetime] = {}
        self._today: date | None = None
        self._fields = IMPORT_ROW_FIELDS if self.imported else ROW_FIELDS

    def check(self, row: Any) -> ValidRow:
        if not isinstance(row, dict):
            raise RowRejected(f"row must be an object, not {_json_type(row)}", Reason.WRONG_TYPE)
        if not self._fields.issuperset(row):
            extra = sorted(row.keys() - self._fields)[0]
            raise RowRejected(
                f"unexpected field {extra!r}; rows take {', '.join(sorted(self._fields))}",
                Reason.UNEXPECTED_FIELD,
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
        observed = row.get("observed_at")
        observed_at = None if observed is None else self._observed_at(observed)
        period, period_id = self._period(row.get("period"), observed_at, indicator.cadence)
        if self.imported:
            received_at = self._received_at(row.get("received_at"), observed_at, period)
            return ValidRow(
                unit.id, indicator.id, period_id, period.start, value, observed_at, received_at
            )
        return ValidRow(unit.id, indicator.id, period_id, period.start, value, observed_at)

    def _indicator(self, code: Any) -> IndicatorRef:
        if code is None:
            raise RowRejected("indicator is missing", Reason.MISSING_FIELD)
        if not isinstance(code, str):
            raise RowRejected(
                f"indicator must be a string code, not {_json_type(code)}", Reason.WRONG_TYPE
            )
        indicator = self.indicators.get(code)
        if indicator is None:
            raise RowRejected(f"unknown indicator {_show(code)}", Reason.UNKNOWN_INDICATOR)
        if not indicator.active:
            raise RowRejected(f"indicator {code!r} is inactive", Reason.INACTIVE_INDICATOR)
        return indicator

    def _unit(self, code: Any) -> UnitRef:
        if code is None:
            return self.principal.unit
        if not isinstance(code, str):
            raise RowRejected(
                f"unit must be a string code, not {_json_type(code)}", Reason.WRONG_TYPE
            )
        unit = self.units.get(code)
        if unit is None:
            raise RowRejected(f"unknown unit {_show(code)}", Reason.UNKNOWN_UNIT)
        if not self.principal.covers(unit.ref):
            raise RowRejected(f"unit {code} is outside this key's area", Reason.OUTSIDE_AREA)
        if not unit.active:
            raise RowRejected(f"unit {code} is inactive", Reason.INACTIVE_UNIT)
        return unit.ref

    @staticmethod
    def _value(value: Any, indicator: IndicatorRef) -> float:
        if value is _MISSING or value is None:
            raise RowRejected("value is missing", Reason.MISSING_FIELD)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RowRejected(f"value must be a number, not {_json_type(value)}", Reason.WRONG_TYPE)
        if isinstance(value, float) and not math.isfinite(value):
            raise RowRejected(f"value {value} is not a finite number", Reason.INVALID_VALUE)
        if abs(value) > MAX_MAGNITUDE:
            shown = _num(value) if isinstance(value, float) else f"of {len(str(abs(value)))} digits"
            raise RowRejected(
                f"value {shown} is beyond ±1e300, the largest magnitude the hub can add up",
                Reason.OUT_OF_RANGE,
            )
        number = float(value)
        if indicator.min_value is not None and number < indicator.min_value:
            raise RowRejected(
                f"value {_num(number)} below min {_num(indicator.min_value)}", Reason.OUT_OF_RANGE
            )
        if indicator.max_value is not None and number > indicator.max_value:
            raise RowRejected(
                f"value {_num(number)} above max {_num(indicator.max_value)}", Reason.OUT_OF_RANGE
            )
        return number

    def _observed_at(self, text: Any) -> datetime | None:
        return self._instant(text, "observed_at", self._instants, CLOCK_SKEW)

    def _instant(
        self, text: Any, name: str, seen: dict[str, datetime], skew: timedelta
    ) -> datetime | None:
        """An aware ISO 8601 instant no later than now + ``skew``; ``None`` when absent.
        ``seen`` caches the instants of one field that passed."""
        if text is None:
            return None
        if not isinstance(text, str):
            raise RowRejected(
                f"{name} must be an ISO 8601 string, not {_json_type(text)}", Reason.WRONG_TYPE
            )
        instant = seen.get(text)
        if instant is None:
            try:
                instant = datetime.fromisoformat(text)
            except ValueError:
                raise RowRejected(
                    f"{name} {_show(text)} is not an ISO 8601 time", Reason.INVALID_TIME
                ) from None
            if instant.tzinfo is None:
                raise RowRejected(f"{name} has no time zone", Reason.INVALID_TIME)
            if instant > self.now + skew:
                raise RowRejected(f"{name} {text} is in the future", Reason.FUTURE_TIME)
            seen[text] = instant
        return instant

    def _received_at(self, text: Any, observed_at: datetime | None, period: Period) -> datetime:
        # No skew allowed: received_at stands for the hub's own clock, not a sender's.
        received_at = self._instant(text, "received_at", self._received, timedelta(0))
        if received_at is None:
            raise RowRejected("received_at is missing: imported rows need it", Reason.MISSING_FIELD)
        if observed_at is not None and received_at < observed_at:
            raise RowRejected(
                f"received_at {text} is before observed_at {observed_at.isoformat()}",
                Reason.INCONSISTENT,
            )
        if received_at < period.start_at(self.tz):
            raise RowRejected(
                f"received_at {text} is before period {period.id} begins", Reason.INCONSISTENT
            )
        return received_at

    def _period(
        self, text: Any, observed_at: datetime | None, cadence: Cadence
    ) -> tuple[Period, str]:
        """The row's period and its canonical id."""
        if text is None:
            if observed_at is None:
                raise RowRejected("give period or observed_at (or both)", Reason.MISSING_FIELD)
            try:
                period = Period.containing(observed_at, cadence, self.tz)
            except PeriodError as exc:
                raise RowRejected(f"observed_at: {exc}", Reason.INVALID_TIME) from None
            return period, period.id
        if not isinstance(text, str):
            raise RowRejected(
                f"period must be a string id, not {_json_type(text)}", Reason.WRONG_TYPE
            )
        known = self._periods.get((text, cadence))
        if known is None:
            try:
                period = Period.parse(text, cadence)
            except PeriodError as exc:
                raise RowRejected(f"period {exc}", Reason.INVALID_PERIOD) from None
            if period.start > self._local_today():
                raise RowRejected(f"period {period.id} is in the future", Reason.FUTURE_PERIOD)
            known = self._periods[(text, cadence)] = (period, period.id)
        period = known[0]
        if observed_at is not None:
            observed_in = Period.containing(observed_at, cadence, self.tz)
            if observed_in != period:
                raise RowRejected(
                    f"observed_at {observed_at.isoformat()} falls in {observed_in.id}, "
                    f"not in period {period.id}",
                    Reason.INCONSISTENT,
                )
        return known

    def _local_today(self) -> date:
        """Today in the province: a period that starts after it is in the future (it is later
        than the period holding today, as periods of a cadence neither overlap nor leave gaps)."""
        if self._today is None:
            self._today = self.now.astimezone(self.tz).date()
        return self._today


_MISSING = object()


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", list: "an array", dict: "an object"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def printable(text: str, limit: int = 64) -> str:
    """A sender's string cut short, control characters (NUL included) replaced by '?'."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
    return cleaned + ("…" if len(text) > limit else "")


def _show(text: str) -> str:
    """Quote a sender's string for a reason."""
    return repr(printable(text))


def _num(number: float) -> str:
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
