"""Connection coverage, staleness per cadence and completeness: the operators' view
(docs/design.md §4).

All three are evaluated "as of" an instant ``at`` in the province's time zone. Without ``at``, or
with ``at`` at or after now, they answer from the state kept at ingest (``series_state`` and
``unit_contacts``), so their cost grows with units and series, never with stored observations
(docs/design.md §4); a future ``at`` reads as "if nothing more arrives". A past
``at`` is evaluated from the stored observations' receipt times (see
:func:`repository.contacts_by` for what the past can and cannot know about heartbeats).

Every answer is bounded by the key's area: a province key sees every unit, a district key its
district and its communes, any other key its own unit. Obligations come from the catalogue
(:func:`ioc_hub.catalogue.service.obligated_series`): active units and active indicators only.
"""

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, or_
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.access.principal import Principal
from ioc_hub.catalogue import service as catalogue
from ioc_hub.config import Settings
from ioc_hub.coverage import repository
from ioc_hub.coverage.repository import IndicatorRow, Received, SeriesKey, UnitRow
from ioc_hub.coverage.rules import (
    ConnectionWindow,
    DaySpan,
    Expectation,
    Schedule,
    SeriesStatus,
    connection_window,
    is_connected,
    is_on_time,
)
from ioc_hub.coverage.schemas import (
    CompletenessCounts,
    CompletenessReport,
    CompletenessRow,
    CoverageReport,
    GroupBy,
    KindCoverage,
    SeriesCounts,
    SeriesStaleness,
    Source,
    StalenessReport,
    UnitCoverage,
)
from ioc_hub.errors import Invalid
from ioc_hub.kit.pagination import Page, PageParams
from ioc_hub.kit.periods import Cadence, Period, PeriodError
from ioc_hub.models import Indicator, Unit, UnitKind
from ioc_hub.registry import service as registry

T = TypeVar("T")

# Instants outside these years are refused: every cadence then has a previous and a next period.
MIN_AT_YEAR, MAX_AT_YEAR = 1970, 9000
AT_EXAMPLE = "2026-11-30T08:00:00+07:00"

# The kinds coverage counts, in the article's order; the province itself is not counted.
COUNTED_KINDS = [kind for kind in UnitKind if kind is not UnitKind.PROVINCE]
_KIND_ORDER: dict[UnitKind, int] = {kind: order for order, kind in enumerate(COUNTED_KINDS)}


@dataclass(frozen=True, slots=True)
class SeriesFilter:
    """Which series an answer covers, as the caller named them (codes, not ids)."""

    unit: str | None = None
    kind: UnitKind | None = None
    district: str | None = None
    indicator: str | None = None
    group: str | None = None
    cadence: Cadence | None = None
    district_field: str = "query.district"
    """The parameter that named the district, for error messages."""


@dataclass(frozen=True, slots=True)
class _Selection:
    """The units and indicators an answer covers, and the obligated series between them."""

    units: dict[int, UnitRow]
    indicators: dict[int, IndicatorRow]
    series: list[tuple[int, int]]
    unit_ids: Collection[int] | None
    """The unit ids to filter on in SQL, or ``None`` when every unit is in the answer."""
    indicator_ids: Collection[int] | None


@dataclass(frozen=True, slots=True)
class _Facts:
    received: Received
    contacts: dict[int, datetime]
    source: Source


# --- parameters -------------------------------------------------------------------------------


def resolve_at(text: str | None, now: datetime) -> datetime:
    """The instant to evaluate: ``now`` by default, else an ISO 8601 instant with an offset."""
    if text is None:
        return now
    # An unencoded '+' in a query string arrives as a space.
    hint = "; send '+' as %2B in a URL" if " " in text else ""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            f"at {text!r} is not an ISO 8601 instant (e.g. {AT_EXAMPLE}){hint}", field="query.at"
        ) from None
    if at.utcoffset() is None:
        raise Invalid(
            f"at {text!r} has no UTC offset; give one, e.g. {AT_EXAMPLE} or ...Z{hint}",
            field="query.at",
        )
    if not MIN_AT_YEAR <= at.year <= MAX_AT_YEAR:
        raise Invalid(f"at must be in the years {MIN_AT_YEAR}..{MAX_AT_YEAR}", field="query.at")
    return at.astimezone(UTC)


def _period(text: str, name: str) -> Period:
    try:
        return Period.parse(text)
    except PeriodError as exc:
        raise Invalid(str(exc), field=f"query.{name}") from None


async def _unit_conditions(
    session: AsyncSession, principal: Principal | None, filters: SeriesFilter
) -> list[ColumnElement[bool]]:
    """``principal`` ``None``: the hub itself, which sees the whole province and names no unit."""
    conditions: list[ColumnElement[bool]] = []
    if principal is not None and not principal.is_province:
        key_unit = principal.unit.id
        conditions.append(or_(Unit.id == key_unit, Unit.parent_id == key_unit))
    if filters.district is not None:
        assert principal is not None
        field = filters.district_field
        district = await registry.unit_in_area(session, principal, filters.district, field=field)
        if district.kind == UnitKind.DISTRICT:
            conditions.append(or_(Unit.id == district.id, Unit.parent_id == district.id))
        elif district.kind != UnitKind.PROVINCE:  # the province is the whole area: no condition
            raise Invalid(f"{district.code!r} is a {district.kind}, not a district", field=field)
    if filters.unit is not None:
        assert principal is not None
        unit = await registry.unit_in_area(session, principal, filters.unit, field="query.unit")
        if unit.kind == UnitKind.PROVINCE:
            raise Invalid(
                "the province itself reports nothing; name one of its units", field="query.unit"
            )
        if not unit.active:
            raise Invalid(f"unit {unit.code!r} is inactive", field="query.unit")
        conditions.append(Unit.id == unit.id)
    if filters.kind is not None:
        if filters.kind is UnitKind.PROVINCE:
            raise Invalid(
                "the province itself is not counted; choose "
                + ", ".join(kind.value for kind in COUNTED_KINDS),
                field="query.kind",
            )
        conditions.append(Unit.kind == filters.kind.value)
    return conditions


async def _indicator_conditions(
    session: AsyncSession, filters: SeriesFilter
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.indicator is not None:
        indicator = await catalogue.get_indicator(
            session, filters.indicator, field="query.indicator"
        )
        if not indicator.active:
            raise Invalid(
                f"indicator {indicator.code!r} is inactive: nobody must report it",
                field="query.indicator",
            )
        conditions.append(Indicator.id == indicator.id)
    if filters.group is not None:
        group = await catalogue.get_group(session, filters.group, field="query.group")
        conditions.append(Indicator.group_id == group.id)
    if filters.cadence is not None:
        conditions.append(Indicator.cadence == filters.cadence.value)
    return conditions


async def _select(
    session: AsyncSession, principal: Principal | None, filters: SeriesFilter
) -> _Selection:
    unit_conditions = await _unit_conditions(session, principal, filters)
    indicator_conditions = await _indicator_conditions(session, filters)
    units = {u.id: u for u in await repository.units(session, *unit_conditions)}
    indicators = {i.id: i for i in await repository.indicators(session, *indicator_conditions)}
    unit_ids = units.keys() if unit_conditions else None
    indicator_ids = indicators.keys() if indicator_conditions else None
    pairs = await catalogue.obligated_series(
        session,
        unit_ids=repository.short_list(unit_ids),
        indicator_ids=repository.short_list(indicator_ids),
    )
    series = [(u, i) for u, i in pairs if u in units and i in indicators]
    return _Selection(units, indicators, series, unit_ids, indicator_ids)


# --- evaluation -------------------------------------------------------------------------------


def _schedules(settings: Settings, indicators: Iterable[IndicatorRow]) -> dict[int, Schedule]:
    """The schedule of each indicator: its cadence and the grace in force (docs/design.md §4)."""
    return {
        i.id: Schedule(Cadence(i.cadence), settings.grace(Cadence(i.cadence), i.grace_seconds))
        for i in indicators
    }


def _expectations(
    settings: Settings, schedules: dict[int, Schedule], at: datetime
) -> dict[int, Expectation]:
    shared: dict[Schedule, Expectation] = {}
    try:
        for schedule in set(schedules.values()):
            shared[schedule] = schedule.expect(at, settings.tz)
    except PeriodError as exc:
        raise Invalid(f"at {at.isoformat()}: {exc}", field="query.at") from None
    return {indicator_id: shared[schedule] for indicator_id, schedule in schedules.items()}


async def _facts(
    session: AsyncSession, selection: _Selection, at: datetime, now: datetime
) -> _Facts:
    """What had arrived by ``at``: kept state for now and later, stored receipts for the past."""
    if at >= now:
        return _Facts(
            await repository.series_state(session, selection.unit_ids, selection.indicator_ids),
            await repository.contacts(session, selection.unit_ids),
            "state",
        )
    return _Facts(
        await repository.series_received_by(
            session, at, selection.unit_ids, selection.indicator_ids
        ),
        await repository.contacts_by(session, at, selection.unit_ids),
        "observations",
    )


_STATUS_NAMES = [status.value for status in SeriesStatus]


def _counts(tally: list[int]) -> SeriesCounts:
    """``tally`` holds a count per status, indexed by the status' rank."""
    return SeriesCounts(**dict(zip(_STATUS_NAMES, tally, strict=True)))


def _page(items: list[T], page: PageParams) -> list[T]:
    return items[page.offset : page.offset + page.limit]


# --- coverage ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tally:
    fastest: dict[int, Schedule]
    """Each unit's fastest obligation; absent for a unit without obligations."""
    per_unit: dict[int, list[int]]
    """Each unit's series per status, indexed by the status' rank."""
    overall: list[int]


def _tally(
    selection: _Selection,
    schedules: dict[int, Schedule],
    expectations: dict[int, Expectation],
    received: Received,
) -> _Tally:
    """One pass over every obligated series: its status, and its unit's fastest obligation."""
    speeds = {i: schedule.speed for i, schedule in schedules.items()}
    fastest: dict[int, int] = {}
    per_unit: dict[int, list[int]] = {u: [0] * len(SeriesStatus) for u in selection.units}
    overall = [0] * len(SeriesStatus)
    latest = received.latest
    for key in selection.series:
        unit_id, indicator_id = key
        known = fastest.get(unit_id)
        if known is None or speeds[indicator_id] < speeds[known]:
            fastest[unit_id] = indicator_id
        rank = expectations[indicator_id].rank(latest.get(key))
        per_unit[unit_id][rank] += 1
        overall[rank] += 1
    return _Tally({u: schedules[i] for u, i in fastest.items()}, per_unit, overall)


def _connections(
    selection: _Selection, tally: _Tally, contacts: dict[int, datetime], at: datetime
) -> tuple[dict[int, ConnectionWindow], dict[int, bool]]:
    """Each unit's connection window and whether it is connected at ``at``."""
    windows = {
        u: connection_window([tally.fastest[u]] if u in tally.fastest else [])
        for u in selection.units
    }
    connected = {u: is_connected(contacts.get(u), windows[u].length, at) for u in selection.units}
    return windows, connected


async def coverage(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    page: PageParams,
    *,
    kind: UnitKind | None,
    district: str | None,
    area: str | None,
    at_text: str | None,
    now: datetime,
) -> CoverageReport:
    """Connected over registered active units per kind, then each unit with its series.

    ``area`` is the issue's name for ``district``; both may be given only if they agree.
    """
    if area is not None and district is not None and area != district:
        raise Invalid(f"area {area!r} and district {district!r} disagree", field="query.area")
    filters = SeriesFilter(kind=kind, district=district)
    if district is None and area is not None:
        filters = SeriesFilter(kind=kind, district=area, district_field="query.area")
    at = resolve_at(at_text, now)
    selection = await _select(session, principal, filters)
    schedules = _schedules(settings, selection.indicators.values())
    expectations = _expectations(settings, schedules, at)
    facts = await _facts(session, selection, at, now)

    tally = _tally(selection, schedules, expectations, facts.received)
    windows, connected = _connections(selection, tally, facts.contacts, at)
    contacts = facts.contacts
    registered = Counter(unit.kind for unit in selection.units.values())
    heard = Counter(unit.kind for unit in selection.units.values() if connected[unit.id])
    kinds = {
        k: KindCoverage(registered=registered[k], connected=heard[k])
        for k in COUNTED_KINDS
        if registered[k] or k is kind
    }
    # Worst first: who is not connected, then in the article's order of kinds.
    ordered = sorted(
        selection.units.values(), key=lambda u: (connected[u.id], _KIND_ORDER[u.kind], u.code)
    )
    items = []
    for unit in _page(ordered, page):
        window = windows[unit.id]
        items.append(
            UnitCoverage(
                code=unit.code,
                name=unit.name,
                kind=unit.kind,
                parent=unit.parent_code,
                connected=connected[unit.id],
                last_contact_at=contacts.get(unit.id),
                connection_window_seconds=int(window.length.total_seconds()),
                fastest_cadence=window.fastest.cadence if window.fastest else None,
                series=_counts(tally.per_unit[unit.id]),
            )
        )
    return CoverageReport(
        at=at,
        source=facts.source,
        kinds=kinds,
        total=KindCoverage(registered=len(ordered), connected=sum(heard.values())),
        series=_counts(tally.overall),
        units=Page(items=items, total=len(ordered), **page.model_dump()),
    )


# --- the whole province at once ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Coverage and staleness of every active unit and obligated series at one instant, from the
    state kept at ingest: read once, then judged many ways (the alert evaluator's rules)."""

    at: datetime
    units: dict[int, UnitRow]
    indicators: dict[int, IndicatorRow]
    series: list[SeriesKey]
    """Every obligated (unit id, indicator id)."""
    latest: dict[SeriesKey, date]
    """The start of each series' latest period received; absent: never."""
    expectations: dict[int, Expectation]
    """Per indicator id."""
    contacts: dict[int, datetime]
    windows: dict[int, ConnectionWindow]
    connected: dict[int, bool]


async def snapshot(session: AsyncSession, settings: Settings, at: datetime) -> Snapshot:
    """The whole province at ``at`` (now, or later: "if nothing more arrives")."""
    selection = await _select(session, None, SeriesFilter())
    schedules = _schedules(settings, selection.indicators.values())
    expectations = _expectations(settings, schedules, at)
    facts = await _facts(session, selection, at, at)
    tally = _tally(selection, schedules, expectations, facts.received)
    windows, connected = _connections(selection, tally, facts.contacts, at)
    return Snapshot(
        at=at,
        units=selection.units,
        indicators=selection.indicators,
        series=selection.series,
        latest=facts.received.latest,
        expectations=expectations,
        contacts=facts.contacts,
        windows=windows,
        connected=connected,
    )


# --- staleness --------------------------------------------------------------------------------


async def staleness(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    page: PageParams,
    *,
    filters: SeriesFilter,
    statuses: Collection[SeriesStatus] | None,
    at_text: str | None,
    now: datetime,
) -> StalenessReport:
    """Every series with its status, worst first: never, stale (most periods behind first),
    overdue, fresh; then by unit and indicator code."""
    at = resolve_at(at_text, now)
    selection = await _select(session, principal, filters)
    schedules = _schedules(settings, selection.indicators.values())
    expectations = _expectations(settings, schedules, at)
    facts = await _facts(session, selection, at, now)

    counts = [0] * len(SeriesStatus)
    ranked: list[tuple[int, int, str, str, int, int]] = []
    for unit_id, indicator_id in selection.series:
        latest = facts.received.latest.get((unit_id, indicator_id))
        expectation = expectations[indicator_id]
        status = expectation.status(latest)
        counts[status.rank] += 1
        if statuses and status not in statuses:
            continue
        lag = 0
        if status is SeriesStatus.STALE and latest is not None:
            lag = expectation.lag(Period(expectation.schedule.cadence, latest)) or 0
        unit, indicator = selection.units[unit_id], selection.indicators[indicator_id]
        ranked.append((status.rank, -lag, unit.code, indicator.code, unit_id, indicator_id))
    ranked.sort()

    shown = [(unit_id, indicator_id) for *_, unit_id, indicator_id in _page(ranked, page)]
    receipts = facts.received.receipts
    if receipts is None:
        receipts = await repository.receipts(session, shown)
    items = []
    for unit_id, indicator_id in shown:
        unit, indicator = selection.units[unit_id], selection.indicators[indicator_id]
        expectation = expectations[indicator_id]
        latest = facts.received.latest.get((unit_id, indicator_id))
        last = Period(expectation.schedule.cadence, latest) if latest else None
        items.append(
            SeriesStaleness(
                unit=unit.code,
                kind=unit.kind,
                indicator=indicator.code,
                group=indicator.group_code,
                cadence=Cadence(indicator.cadence),
                status=expectation.status(last.start if last else None),
                last_period=last.id if last else None,
                expected_period=expectation.expected.id,
                lag_periods=expectation.lag(last),
                last_received_at=receipts.get((unit_id, indicator_id)),
                deadline=expectation.deadline,
                grace_seconds=int(expectation.schedule.grace.total_seconds()),
            )
        )
    return StalenessReport(
        items=items,
        total=len(ranked),
        **page.model_dump(),
        at=at,
        source=facts.source,
        counts=_counts(counts),
    )


# --- completeness -----------------------------------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _completeness_counts(expected: int, actual: int, on_time: int) -> CompletenessCounts:
    return CompletenessCounts(
        expected=expected,
        actual=actual,
        on_time=on_time,
        late=actual - on_time,
        missing=expected - actual,
        rate=_rate(actual, expected),
        on_time_rate=_rate(on_time, expected),
    )


async def _group_keys(
    session: AsyncSession, selection: _Selection, group_by: GroupBy
) -> tuple[dict[tuple[int, int], str], dict[str, str]]:
    """The group key of every series, and each key's display name."""
    units, indicators = selection.units, selection.indicators
    names: dict[str, str] = {}
    keys: dict[tuple[int, int], str] = {}
    for unit_id, indicator_id in selection.series:
        unit, indicator = units[unit_id], indicators[indicator_id]
        match group_by:
            case GroupBy.KIND:
                key, name = unit.kind.value, unit.kind.value
            case GroupBy.UNIT:
                key, name = unit.code, unit.name
            case GroupBy.INDICATOR:
                key, name = indicator.code, indicator.name
            case GroupBy.GROUP:
                key, name = indicator.group_code, indicator.group_name
            case GroupBy.DISTRICT:
                key, name = unit.area_code, unit.area_code
        keys[(unit_id, indicator_id)] = key
        names.setdefault(key, name)
    if group_by is GroupBy.DISTRICT and names:
        # The province is not among the answer's units; its name is looked up with the rest.
        names.update(await repository.unit_names(session, names))
    return keys, names


async def completeness(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    page: PageParams,
    *,
    filters: SeriesFilter,
    group_by: GroupBy,
    period_from: str,
    period_to: str,
    at_text: str | None,
    now: datetime,
) -> CompletenessReport:
    """DHIS2's reporting rate over a period range (docs/design.md §4): ``expected`` = obligations ×
    due periods, ``actual`` = those received by ``at``, ``on_time`` = those received by their
    deadline, grouped by kind, unit, indicator, indicator group or district, lowest rate first.

    A period is due when its deadline is ≤ ``at``, and in the range when the range holds it
    whole (a week by its Thursday, see :class:`DaySpan`). A report counts once per (unit,
    indicator, period) whatever its revisions, and is on time when its first acceptance was by
    the period's deadline. Obligations are today's: the registry keeps no history of them.
    """
    at = resolve_at(at_text, now)
    first, last = _period(period_from, "from"), _period(period_to, "to")
    if first.start > last.last_day:
        raise Invalid(f"from {first.id} starts after to {last.id} ends", field="query.from")
    span = DaySpan.between(first, last)
    selection = await _select(session, principal, filters)
    schedules = _schedules(settings, selection.indicators.values())
    expectations = _expectations(settings, schedules, at)
    keys, names = await _group_keys(session, selection, group_by)

    due_counts: dict[int, int] = {}
    tally: dict[str, list[int]] = {key: [0, 0, 0] for key in names}
    for series in selection.series:
        indicator_id = series[1]
        if indicator_id not in due_counts:
            due_counts[indicator_id] = span.due_count(expectations[indicator_id])
        tally[keys[series]][0] += due_counts[indicator_id]

    deadlines: dict[tuple[int, date], datetime | None] = {}
    async for report in repository.reports(
        session, at, span.first_day, span.last_day, selection.unit_ids, selection.indicator_ids
    ):
        key = keys.get((report.unit_id, report.indicator_id))
        if key is None:  # not an obligation (or outside the answer)
            continue
        slot = (report.indicator_id, report.period_start)
        if slot not in deadlines:
            deadlines[slot] = _due_deadline(span, expectations[report.indicator_id], slot[1])
        deadline = deadlines[slot]
        if deadline is None:
            continue
        tally[key][1] += 1
        if is_on_time(report.first_received_at, deadline):
            tally[key][2] += 1

    rows = [
        CompletenessRow(key=key, name=names[key], **_completeness_counts(*counts).model_dump())
        for key, counts in tally.items()
    ]
    rows.sort(key=lambda r: (r.rate is None, r.rate or 0, r.on_time_rate or 0, r.key))
    totals = [sum(counts[n] for counts in tally.values()) for n in range(3)]
    return CompletenessReport(
        items=_page(rows, page),
        total=len(rows),
        **page.model_dump(),
        from_period=first.id,
        to_period=last.id,
        first_day=span.first_day,
        last_day=span.last_day,
        at=at,
        group_by=group_by,
        overall=_completeness_counts(*totals),
    )


def _due_deadline(span: DaySpan, expectation: Expectation, start: date) -> datetime | None:
    """The deadline of the period starting on ``start`` if the range holds it and it is due."""
    try:
        period = Period(expectation.schedule.cadence, start)
    except PeriodError:
        return None
    if not span.due(period, expectation):
        return None
    return expectation.schedule.deadline(period, expectation.tz)
