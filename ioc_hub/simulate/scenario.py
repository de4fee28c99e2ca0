"""What the province emulator sends, and when. Pure: no I/O, no clock.

Every number here is a function of the seed and of names (unit, indicator, period), never of the
order in which things are generated: the value of (unit, indicator, period), whether it is
missing, late, duplicated or broken, and when it arrives are the same in a backfill, in a live
run, and in a second run with the same seed.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum
from statistics import NormalDist
from typing import Any

from ioc_hub.kit.periods import Cadence, Period, periods_between

# The kinds the coverage table counts, in the article's order (the province itself is not one).
KINDS = ("ministry", "department", "vertical_agency", "district", "commune")

# The article's "17/18 departments, 4/6 vertical agencies": how many of each kind stay silent.
ARTICLE_SILENT = {"department": 1, "vertical_agency": 2}

# Share of each kind that is silent, and of the rest that reports late, in `degraded`.
DEGRADED_SILENT_SHARE = 0.2
DEGRADED_LATE_SHARE = 0.2
# A late-reporting unit misses its deadline this often.
LATE_UNIT_RATE = 0.9

# Values trend from this day on; a fixed epoch keeps values independent of when a run starts.
EPOCH = date(2025, 1, 1)

PERIODS_PER_YEAR = {
    Cadence.DAILY: 365.0,
    Cadence.WEEKLY: 52.0,
    Cadence.MONTHLY: 12.0,
    Cadence.QUARTERLY: 4.0,
    Cadence.YEARLY: 1.0,
}

# Monday..Sunday. Offices close at the weekend; calls, accidents and air quality do not.
OFFICE_WEEK = (1.12, 1.08, 1.04, 1.02, 0.98, 0.42, 0.18)
ROUND_THE_CLOCK_WEEK = (0.97, 0.96, 0.97, 0.99, 1.03, 1.06, 1.02)
ROUND_THE_CLOCK_GROUPS = frozenset({"G-CC115", "G-ANTT", "G-YTE", "G-MT", "G-PCTT", "G-TD1022"})
# Rain (and the floods and warnings that follow it) peaks in the rainy season, around September.
RAINY_GROUPS = frozenset({"G-PCTT"})
RAINY_PEAK_DAY = 258

# Amounts that are not whole counts. Levels (rates, scores, minutes) never are.
CONTINUOUS_AMOUNTS = frozenset({"tỷ đồng", "triệu USD", "triệu kWh", "triệu đồng"})

# Province-wide value of one period, where the article gives one or a magnitude is well known.
# Indicators reported by every unit of a kind split it between them (a commune gets ~1/91).
PROVINCE_LEVELS: dict[str, float] = {
    # From the article (Bình Dương, 2023).
    "DVC-TY-LE-TRUC-TUYEN": 76,
    "TTHC-TONG-SO": 1_886,
    "TTHC-TRUC-TUYEN-TOAN-TRINH": 1_352,
    "TTHC-TRUC-TUYEN-MOT-PHAN": 420,
    "EFORM-TY-LE": 99.5,
    "VB-XU-LY-TREN-MANG-TY-LE": 99.5,
    "VNEID-MUC2-LUY-KE": 1_200_000,
    "VNEID-MUC2-CSDLQG": 1_200_000,
    "HO-TICH-SO-HOA-LUY-KE": 931_000,
    "ASXH-TY-LE-QUA-TAI-KHOAN": 70,
    "ASXH-DOI-TUONG-QUA-TAI-KHOAN": 30_674,
    "DN-DANG-HOAT-DONG": 65_000,
    "DN-SU-DUNG-NEN-TANG-SO": 45_000,
    "DN-CONG-NGHE-SO": 1_300,
    "LD-DN-CONG-NGHE-SO": 55_722,
    "TY-LE-DIEN-THOAI-THONG-MINH": 81,
    "TY-LE-TAI-KHOAN-GIAO-DICH": 82,
    "TY-LE-KY-NANG-SO": 89,
    "TO-CNS-CONG-DONG-THANH-VIEN": 3_300,
    "CHU-KY-SO-CONG-DAN-LUY-KE": 18_369,
    # Plausible magnitudes for a province of ~2.8 million people.
    "DVC-HS-TIEP-NHAN": 5_000,
    "DVC-HS-TRUC-TUYEN": 3_800,
    "CPI": 103.5,
    "IIP": 106,
    "DTI-TINH": 0.6,
    "PCI": 70,
    "PAR-INDEX": 88,
    "CHI-SO-PHUC-VU-NDDN": 85,
    "CC115-CUOC-GOI": 350,
    "CC115-TG-TIEP-CAN-TB": 18,
    "CC115-TG-TIEP-CAN-MAX": 55,
    "TD1022-CUOC-GOI": 1_800,
    "TD1022-PAKN-TON-DONG": 600,
    "TNGT-SO-VU": 4,
    "TNGT-SO-NGUOI-CHET": 1.2,
    "CHAY-NO-SO-VU": 0.8,
    "YT-LUOT-NHAP-VIEN": 1_800,
    "SXH-CA-MAC": 90,
    "DICH-BENH-DONG-VAT-O-DICH": 2,
    "AQI-MAX": 85,
    "DO-NUOC-MAT-MIN": 5.5,
    "LUONG-MUA-MAX": 12,
    "CANH-BAO-THIEN-TAI": 1.5,
    "DIEM-NGAP-UNG": 9,
    "TIEM-CHUNG-MUI": 120_000,
    "DIEN-THUONG-PHAM": 2_500,
    "KHACH-DU-LICH": 450_000,
    "THU-NSNN-NOI-DIA": 4_500,
    "CHI-NSDP": 2_800,
    "GIAI-NGAN-VON-DTC": 1_200,
    "KIM-NGACH-XK": 2_700,
    "DN-THANH-LAP-MOI": 550,
    "FDI-VON-DANG-KY-THANG": 150,
    "ATTT-CANH-BAO": 25,
    "XE-BUYT-HANH-KHACH": 700_000,
    "GRDP": 120_000,
    "GRDP-BINH-QUAN-DAU-NGUOI": 175,
    "FDI-DU-AN-CON-HIEU-LUC": 4_300,
    "FDI-VON-LUY-KE": 41_000,
    "KCN-TY-LE-LAP-DAY": 90,
    "BHYT-TY-LE-BAO-PHU": 93,
    "HSSK-DIEN-TU-TY-LE": 78,
    "BHXH-NGUOI-THAM-GIA": 1_300_000,
    "LUONG-HUU-QUA-TAI-KHOAN": 60_000,
    "HOC-SINH-PHO-THONG": 450_000,
    "TY-LE-TOT-NGHIEP-THPT": 99,
    "TY-LE-HO-NGHEO": 0.6,
    "TY-LE-DO-THI-HOA": 85,
    "XA-DAT-CHUAN-NTM": 36,
    "THANH-TRA-KIEN-NGHI-THU-HOI": 9_000,
}

_NORMAL = NormalDist()


def _uniform(*parts: object) -> float:
    """A number in (0, 1) fixed by ``parts``: the emulator's only source of randomness."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2.0**64


def _normal(*parts: object) -> float:
    return _NORMAL.inv_cdf(_uniform(*parts))


class Scenario(StrEnum):
    ARTICLE = "article"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    # The article's province through the 1 July 2025 reorganisation (ioc_hub/simulate/reform.py).
    REFORM = "reform"


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Fractions of rows that are late, missing, sent twice, out of range or malformed."""

    late: float = 0.0
    missing: float = 0.0
    duplicate: float = 0.0
    out_of_range: float = 0.0
    malformed: float = 0.0

    def __post_init__(self) -> None:
        for name, rate in self.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be a fraction between 0 and 1, not {rate}")
        if self.out_of_range + self.malformed > 1.0:
            raise ValueError("out_of_range + malformed must not exceed 1")

    def items(self) -> list[tuple[str, float]]:
        return [(f.name, float(getattr(self, f.name))) for f in fields(self)]

    def override(self, **rates: float | None) -> FaultRates:
        """These rates with the given ones replacing them (``None`` keeps the current one)."""
        return replace(self, **{k: v for k, v in rates.items() if v is not None})


SCENARIO_FAULTS: dict[Scenario, FaultRates] = {
    # "Data quality" is standing work in the article: a little of everything.
    Scenario.ARTICLE: FaultRates(
        late=0.03, missing=0.01, duplicate=0.02, out_of_range=0.002, malformed=0.002
    ),
    Scenario.HEALTHY: FaultRates(),
    Scenario.DEGRADED: FaultRates(
        late=0.15, missing=0.08, duplicate=0.05, out_of_range=0.02, malformed=0.02
    ),
    # Clean data: what changes is the map. Faults can still be asked for with the flags.
    Scenario.REFORM: FaultRates(),
}


@dataclass(frozen=True, slots=True)
class UnitSpec:
    code: str
    name: str
    kind: str
    parent: str | None

    @property
    def area(self) -> str:
        """The district a unit belongs to (itself for a district), else the province."""
        if self.kind == "district":
            return self.code
        return self.parent or self.code


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    code: str
    group: str
    cadence: Cadence
    measurement_unit: str
    time_aggregation: str
    min_value: float | None
    max_value: float | None
    grace: timedelta


@dataclass(frozen=True, slots=True)
class ObligationSpec:
    """One obligation as the hub lists it: a unit, or every unit of a kind (of a district)."""

    indicator: str
    unit: str | None = None
    unit_kind: str | None = None
    district: str | None = None


def expand_obligations(
    obligations: Iterable[ObligationSpec],
    units: Sequence[UnitSpec],
    indicators: Mapping[str, IndicatorSpec],
) -> list[tuple[UnitSpec, IndicatorSpec]]:
    """Every (unit, indicator) that must be reported, once each, in code order.

    ``units`` and ``indicators`` are the active ones: obligations naming anything else are
    dropped, as the hub drops them from coverage.
    """
    by_code = {u.code: u for u in units}
    pairs: set[tuple[str, str]] = set()
    for ob in obligations:
        if ob.indicator not in indicators:
            continue
        if ob.unit is not None:
            if ob.unit in by_code:
                pairs.add((ob.unit, ob.indicator))
            continue
        for unit in units:
            if unit.kind == ob.unit_kind and (ob.district is None or unit.parent == ob.district):
                pairs.add((unit.code, ob.indicator))
    return [(by_code[u], indicators[i]) for u, i in sorted(pairs)]


class Behaviour(StrEnum):
    REPORTING = "reporting"
    LATE = "late"  # reports, but nearly always after the deadline
    SILENT = "silent"  # never heard from


def _ranked(units: Iterable[UnitSpec], *salt: object) -> list[UnitSpec]:
    return sorted(units, key=lambda u: (_uniform(*salt, u.code), u.code))


def choose_behaviours(
    units: Sequence[UnitSpec], scenario: Scenario, seed: int
) -> dict[str, Behaviour]:
    """How each unit (but the province) behaves in ``scenario``.

    The article's silent units do not depend on the seed: the hub remembers who it heard from,
    so a second run with another seed must not connect the unit the first one kept silent.
    """
    behaviours = {u.code: Behaviour.REPORTING for u in units if u.kind in KINDS}
    for kind in KINDS:
        of_kind = [u for u in units if u.kind == kind]
        if scenario in (Scenario.ARTICLE, Scenario.REFORM):
            for unit in _ranked(of_kind, "article-silent")[: ARTICLE_SILENT.get(kind, 0)]:
                behaviours[unit.code] = Behaviour.SILENT
        elif scenario is Scenario.DEGRADED:
            ranked = _ranked(of_kind, seed, "degraded")
            silent = round(len(of_kind) * DEGRADED_SILENT_SHARE)
            late = round((len(of_kind) - silent) * DEGRADED_LATE_SHARE)
            for unit in ranked[:silent]:
                behaviours[unit.code] = Behaviour.SILENT
            for unit in ranked[silent : silent + late]:
                behaviours[unit.code] = Behaviour.LATE
    return behaviours


class Shape(StrEnum):
    FLOW = "flow"  # summed over time: a count or an amount per period
    STOCK = "stock"  # the last value counts: a cumulative count that never decreases
    LEVEL = "level"  # averaged (or max/min): a rate, an index, a measurement


def shape_of(indicator: IndicatorSpec) -> Shape:
    if indicator.time_aggregation == "sum":
        return Shape.FLOW
    if indicator.time_aggregation == "last":
        return Shape.STOCK
    return Shape.LEVEL


def _bounds(indicator: IndicatorSpec) -> tuple[float, float]:
    low = indicator.min_value if indicator.min_value is not None else 0.0
    high = indicator.max_value if indicator.max_value is not None else math.inf
    if indicator.measurement_unit == "%":
        low, high = max(low, 0.0), min(high, 100.0)
    return low, high


def _is_rate(indicator: IndicatorSpec, low: float, high: float) -> bool:
    return indicator.measurement_unit == "%" or (low == 0.0 and high == 100.0)


def _province_level(indicator: IndicatorSpec, low: float, high: float) -> float:
    if indicator.code in PROVINCE_LEVELS:
        return PROVINCE_LEVELS[indicator.code]
    if shape_of(indicator) is Shape.LEVEL:
        if _is_rate(indicator, low, high):
            return low + 0.75 * (high - low)
        return 100.0 if math.isinf(high) else low + 0.3 * (high - low)
    return 1_000.0 if math.isinf(high) else low + 0.25 * (high - low)


@dataclass(frozen=True, slots=True)
class ValueModel:
    """Level + trend + weekly (and yearly) seasonality + noise, kept within ``[low, high]``.

    ``trend`` is relative growth per year for flows, absolute change per year for levels, and
    growth per period for stocks (which never decrease).
    """

    salt: str
    shape: Shape
    cadence: Cadence
    level: float
    trend: float
    noise: float
    weekly: tuple[float, ...]
    yearly_amplitude: float
    yearly_peak_day: int
    low: float
    high: float
    decimals: int

    def value(self, period: Period) -> float:
        if period.cadence is not self.cadence:
            raise ValueError(f"{period.id} is not a {self.cadence} period")
        if self.shape is Shape.STOCK:
            return self._stock(period)
        years = (period.anchor - EPOCH).days / 365.25
        day = period.anchor.timetuple().tm_yday
        season = math.cos(2 * math.pi * (day - self.yearly_peak_day) / 365.25)
        z = _normal(self.salt, period.id, "noise")
        if self.shape is Shape.FLOW:
            mean = (
                self.level * max(0.0, 1 + self.trend * years) * (1 + self.yearly_amplitude * season)
            )
            if self.cadence is Cadence.DAILY:
                mean *= self.weekly[period.start.weekday()]
            spread = self.noise * mean
            if self.decimals == 0:
                # Small counts vary like Poisson counts: a few accidents a day are never constant.
                spread = math.sqrt(spread**2 + max(mean, 0.0))
            raw = mean + spread * z
        else:
            raw = self.level + self.trend * years + self.yearly_amplitude * self.level * season
            raw += self.noise * z
        return self._fit(round(self._clamp(raw), self.decimals))

    def _stock(self, period: Period) -> float:
        # Each period adds between 0.1 and 1 step to the last one (jitter in [0, 0.9)), so the
        # series only grows; flooring and clamping keep that.
        n = period.ordinal - Period.of_date(EPOCH, self.cadence).ordinal
        raw = self.level + self.trend * (n + 0.9 * _uniform(self.salt, period.id, "step"))
        scale = 10**self.decimals
        return self._fit(math.floor(self._clamp(raw) * scale) / scale)

    def _clamp(self, value: float) -> float:
        return min(self.high, max(self.low, value))

    def _fit(self, value: float) -> float:
        # Rounding may step over a bound that is not itself round.
        return self._clamp(value)


def build_model(unit: UnitSpec, indicator: IndicatorSpec, share: float, seed: int) -> ValueModel:
    """The value model of one series; ``share`` is the unit's part of the province's total."""
    salt = f"{seed}|{unit.code}|{indicator.code}"

    def u(tag: str) -> float:
        return _uniform(salt, tag)

    low, high = _bounds(indicator)
    base = _province_level(indicator, low, high)
    shape = shape_of(indicator)
    # Units sharing an indicator differ in size; a unit alone with it is near the province figure.
    size = (0.5 + u("size")) if share < 1 else (0.9 + 0.2 * u("size"))
    yearly_amplitude = 0.6 if indicator.group in RAINY_GROUPS else 0.05
    peak = RAINY_PEAK_DAY if indicator.group in RAINY_GROUPS else int(u("peak") * 365)
    if shape is Shape.LEVEL:
        if _is_rate(indicator, low, high):
            spread = max(0.0, min(8.0 if share < 1 else 2.0, (high - base) / 2, (base - low) / 2))
            level = base + spread * (2 * u("level") - 1)
            # Room to move: a rate near 100 % (or near 0) barely does.
            room = min(6.0, high - level, level - low)
            noise = max(0.05, 0.25 * room)
            trend = (u("trend") - 0.3) * 0.5 * room
            yearly_amplitude = 0.0
        else:
            level = base * (1 + (size - 1) / 3)
            noise = level * (0.3 if indicator.group in RAINY_GROUPS else 0.03)
            trend = level * (0.03 * u("trend") - 0.01)
            if indicator.group not in RAINY_GROUPS:
                yearly_amplitude = 0.02
    elif shape is Shape.FLOW:
        level = base * share * size
        noise = 0.12 if indicator.cadence is Cadence.DAILY else 0.06
        trend = 0.02 + 0.06 * u("trend")
    else:
        level = base * share * size
        noise = 0.0
        trend = level * (0.02 + 0.1 * u("trend")) / PERIODS_PER_YEAR[indicator.cadence]
    if shape is not Shape.LEVEL and indicator.measurement_unit not in CONTINUOUS_AMOUNTS:
        decimals = 0
    elif high <= 1.0:
        decimals = 3
    else:
        decimals = 1 if shape is Shape.LEVEL else 2
    weekly = ROUND_THE_CLOCK_WEEK if indicator.group in ROUND_THE_CLOCK_GROUPS else OFFICE_WEEK
    return ValueModel(
        salt=salt,
        shape=shape,
        cadence=indicator.cadence,
        level=level,
        trend=trend,
        noise=noise,
        weekly=weekly,
        yearly_amplitude=yearly_amplitude,
        yearly_peak_day=peak,
        low=low,
        high=high,
        decimals=decimals,
    )


class Fault(StrEnum):
    OUT_OF_RANGE = "out_of_range"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True, eq=False)
class PlannedRow:
    """One value as a unit will send it: the JSON row, and when it reaches the hub."""

    unit: str
    area: str
    indicator: str
    period: Period
    value: float
    arrival: datetime
    deadline: datetime
    missing: bool  # never sent
    duplicate: bool  # sent twice
    fault: Fault | None
    payload: dict[str, Any]

    @property
    def late(self) -> bool:
        return self.arrival > self.deadline


@dataclass(frozen=True, slots=True)
class Series:
    unit: UnitSpec
    indicator: IndicatorSpec
    behaviour: Behaviour
    model: ValueModel


def _json_number(value: float, decimals: int) -> int | float:
    return int(value) if decimals == 0 else value


class Plan:
    """Who reports what in a scenario, and every row they send between two instants."""

    def __init__(
        self,
        units: Sequence[UnitSpec],
        indicators: Mapping[str, IndicatorSpec],
        obligations: Iterable[ObligationSpec],
        *,
        scenario: Scenario,
        faults: FaultRates,
        seed: int,
        tz: tzinfo,
    ) -> None:
        self.scenario = scenario
        self.faults = faults
        self.seed = seed
        self.tz = tz
        self.units = [u for u in units if u.kind in KINDS]
        self.behaviours = choose_behaviours(self.units, scenario, seed)
        pairs = expand_obligations(obligations, self.units, indicators)
        # A unit's part of the province total: 1/91 for a commune of a commune-wide indicator.
        per_kind = Counter((i.code, u.kind) for u, i in pairs)
        self.obligated = len(pairs)
        self.series: list[Series] = []
        for unit, indicator in pairs:
            behaviour = self.behaviours[unit.code]
            if behaviour is not Behaviour.SILENT:
                share = 1 / per_kind[indicator.code, unit.kind]
                model = build_model(unit, indicator, share, seed)
                self.series.append(Series(unit, indicator, behaviour, model))

    @property
    def reporting_units(self) -> list[UnitSpec]:
        return [u for u in self.units if self.behaviours[u.code] is not Behaviour.SILENT]

    def units_behaving(self, behaviour: Behaviour) -> list[UnitSpec]:
        return [u for u in self.units if self.behaviours[u.code] is behaviour]

    def expected_coverage(self) -> dict[str, tuple[int, int]]:
        """Per kind, (connected, registered) once every reporting unit has been heard from."""
        counts = {kind: [0, 0] for kind in KINDS}
        for unit in self.units:
            counts[unit.kind][1] += 1
            if self.behaviours[unit.code] is not Behaviour.SILENT:
                counts[unit.kind][0] += 1
        return {kind: (connected, registered) for kind, (connected, registered) in counts.items()}

    def initial_rows(self, history_start: datetime, now: datetime) -> Iterator[PlannedRow]:
        """Rows of the periods that ended after ``history_start`` and by ``now``, and always of
        each series' latest ended period, so that every series has its current value (missing
        rows included, flagged)."""
        for series in self.series:
            latest = Period.containing(now, series.indicator.cadence, self.tz).previous()
            first = Period.containing(history_start, series.indicator.cadence, self.tz)
            yield from self._rows(series, min(first, latest), latest)

    def initial_row_count(self, history_start: datetime, now: datetime) -> int:
        """How many rows :meth:`initial_rows` yields, without making them."""
        per_cadence: dict[Cadence, int] = {}
        for cadence in {s.indicator.cadence for s in self.series}:
            latest = Period.containing(now, cadence, self.tz).previous()
            first = Period.containing(history_start, cadence, self.tz)
            per_cadence[cadence] = sum(1 for _ in periods_between(min(first, latest), latest))
        return sum(per_cadence[s.indicator.cadence] for s in self.series)

    def rows_between(self, after: datetime, until: datetime) -> Iterator[PlannedRow]:
        """Rows of the periods that end after ``after`` and by ``until``."""
        for series in self.series:
            cadence = series.indicator.cadence
            first = Period.containing(after, cadence, self.tz)
            last = Period.containing(until, cadence, self.tz).previous()
            yield from self._rows(series, first, last)

    def _rows(self, series: Series, first: Period, last: Period) -> Iterator[PlannedRow]:
        for period in periods_between(first, last):
            yield self.row(series, period)

    def row(self, series: Series, period: Period) -> PlannedRow:
        """The row of ``series`` for ``period``: its value, arrival and faults."""
        unit, indicator = series.unit, series.indicator
        salt = (self.seed, unit.code, indicator.code, period.id)
        end = period.end_at(self.tz)
        deadline = period.deadline(self.tz, indicator.grace)
        grace = deadline - end
        late_rate = LATE_UNIT_RATE if series.behaviour is Behaviour.LATE else self.faults.late
        delay = _uniform(*salt, "delay")
        if _uniform(*salt, "late") < late_rate:
            arrival = deadline + timedelta(minutes=5) + max(grace, timedelta(hours=1)) * delay
        else:
            # Most values come early in the grace, a few near its end.
            arrival = end + grace * (0.02 + 0.78 * delay**2)
        value = series.model.value(period)
        decimals = series.model.decimals
        payload: dict[str, Any] = {
            "unit": unit.code,
            "indicator": indicator.code,
            "period": period.id,
            "value": _json_number(value, decimals),
            "observed_at": (end - timedelta(minutes=1)).isoformat(),
        }
        fault: Fault | None = None
        draw = _uniform(*salt, "fault")
        if draw < self.faults.out_of_range:
            fault = Fault.OUT_OF_RANGE
            payload["value"] = self._out_of_range(series.model, _uniform(*salt, "how"))
        elif draw < self.faults.out_of_range + self.faults.malformed:
            fault = Fault.MALFORMED
            _malform(payload, value, period, end, _uniform(*salt, "how"))
        return PlannedRow(
            unit=unit.code,
            area=unit.area,
            indicator=indicator.code,
            period=period,
            value=value,
            arrival=arrival,
            deadline=deadline,
            missing=_uniform(*salt, "missing") < self.faults.missing,
            duplicate=_uniform(*salt, "duplicate") < self.faults.duplicate,
            fault=fault,
            payload=payload,
        )

    @staticmethod
    def _out_of_range(model: ValueModel, how: float) -> int | float:
        if math.isfinite(model.high):
            over = model.high + max(1.0, 0.4 * (model.high - model.low)) * (0.5 + how)
            return _json_number(round(over, model.decimals), model.decimals)
        return _json_number(round(model.low - 1 - 100 * how, model.decimals), model.decimals)


def _malform(
    payload: dict[str, Any], value: float, period: Period, end: datetime, how: float
) -> None:
    """Break a row the way spreadsheets and hand-written exports do."""
    variant = int(how * 3)
    if variant == 0:
        # A Vietnamese-formatted number: dots group thousands, a comma marks decimals.
        text = f"{value:,.1f}".replace(",", " ").replace(".", ",").replace(" ", ".")
        payload["value"] = text
    elif variant == 1:
        payload["observed_at"] = (end - timedelta(minutes=1)).replace(tzinfo=None).isoformat()
    else:
        payload["period"] = f"{period.start:%d/%m/%Y}"
