"""Connection coverage, staleness per cadence and completeness: the operators' view
(docs/design.md §4).

All three are evaluated "as of" an instant ``at`` in the province's time zone. Without ``at``, or
with ``at`` at or after now, they answer from the state kept at ingest (``series_state`` and
``unit_contacts``), so their cost grows with units and series, never with stored observations
(docs/design.md §4); a future ``at`` reads as "if nothing more arrives". A past
``at`` is evaluated from the stored observations' receipt times (see
:func:`repository.contacts_received_by` for what the past can and cannot know about heartbeats).

Every answer is bounded by the key's area: a province key sees every unit, a district key its
district and its communes, any other key its own unit. Obligations come from the catalogue
(:func:`ioc_hub.catalogue.service.obligated_series`): active units and active indicators only.

The registry answers as of a day (docs/design.md §8): coverage and staleness use the tree and the
obligations of ``at``'s local day (units existing then, their kinds and parents then, so the
denominators and areas of that day); a series owed only from some day on owes nothing before it.
Completeness owes each period under the tree and obligations of the period's last day.
"""

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import ColumnElement, Subquery, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.access.principal import Principal, UnitRef
from ioc_hub.catalogue import service as catalogue
from ioc_hub.config import Settings
from ioc_hub.coverage import repository
from ioc_hub.coverage.months import grace_key, next_month, previous_month, split_months
from ioc_hub.coverage.repository import IndicatorRow, SeriesKey, UnitOnDay, UnitRow
from ioc_hub.coverage.rules import (
    ConnectionWindow,
    DaySpan,
    Expectation,
    Schedule,
    SeriesStatus,
    connection_window,
    heard_since,
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
from ioc_hub.errors import Forbidden, Invalid, no_such
from ioc_hub.kit.dialect import plan_each_call
from ioc_hub.kit.pagination import Page, PageParams
from ioc_hub.kit.periods import Cadence, Period, PeriodError
from ioc_hub.models import AREA_ONLY_KINDS, Indicator, UnitKind
from ioc_hub.registry import service as registry
from ioc_hub.registry import timeline

T = TypeVar("T")

# Instants outside these years are refused: every cadence then has a previous and a next period.
MIN_AT_YEAR, MAX_AT_YEAR = 1970, 9000
AT_EXAMPLE = "2026-11-30T08:00:00+07:00"

# The kinds coverage counts, in the article's order; the province (and the nation) are not.
COUNTED_KINDS = [kind for kind in UnitKind if kind not in AREA_ONLY_KINDS]
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

    @classmethod
    def of(
        cls,
        *,
        district: str | None,
        area: str | None,
        unit: str | None = None,
        kind: UnitKind | None = None,
        indicator: str | None = None,
        group: str | None = None,
        cadence: Cadence | None = None,
    ) -> "SeriesFilter":
        """The filter as the query named it: ``area`` is another name for ``district``, so
        both may be given only if they agree."""
        if area is not None and district is not None and area != district:
            raise Invalid(f"area {area!r} and district {district!r} disagree", field="query.area")
        named, field = (area, "query.area") if district is None else (district, "query.district")
        return cls(
            unit=unit,
            kind=kind,
            district=named,
            indicator=indicator,
            group=group,
            cadence=cadence,
            district_field=field,
        )


@dataclass(frozen=True, slots=True)
class _Indicators:
    """The indicators an answer covers (the same on every day)."""

    rows: dict[int, IndicatorRow]
    ids: Collection[int] | None
    """The indicator ids to filter on in SQL, or ``None`` when every indicator is in."""


@dataclass(frozen=True, slots=True)
class _Scope:
    """The units and indicators an answer covers on one day, and the series owed between them,
    as queries to count or join in the database: the units are those of ``tree`` (the tree of
    ``day``) that meet ``unit_conditions``, the series ``pairs`` (``unit_id``,
    ``indicator_id``)."""

    day: date
    tree: Subquery
    unit_conditions: list[ColumnElement[bool]]
    indicators: dict[int, IndicatorRow]
    pairs: Subquery
    indicator_ids: Collection[int] | None


@dataclass(frozen=True, slots=True)
class _Facts:
    """What had arrived by ``at``, as queries: each series' latest period, and each unit's last
    contact."""

    latest: Subquery
    contacts: Subquery
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


def _life(unit: UnitOnDay) -> str:
    if unit.valid_to is not None:
        return f"its last day was {unit.valid_to - timedelta(days=1)}"
    return f"it exists from {unit.valid_from}"


async def _unit_on(
    session: AsyncSession, principal: Principal, code: str, day: date, field: str
) -> UnitOnDay:
    """The unit ``code`` as the tree of ``day`` has it: 404 when no unit has the code, 422 when
    it did not exist that day, 403 when it is outside the key's area that day."""
    unit = await repository.unit_on(session, code, day)
    if unit is None:
        raise no_such(f"unit {code!r} does not exist", field=field)
    if unit.kind is None:
        raise Invalid(f"unit {code!r} does not exist on {day}: {_life(unit)}", field=field)
    registry.require_covered(principal, UnitRef(unit.id, code, unit.kind, unit.parent_id), field)
    return unit


async def _unit_conditions(
    session: AsyncSession,
    principal: Principal | None,
    filters: SeriesFilter,
    tree: Subquery,
    day: date,
) -> list[ColumnElement[bool]]:
    """Conditions on ``tree`` (the tree of ``day``) for the key's area and the unit filters;
    ``principal`` ``None``: the hub itself, which sees the whole province and names no unit."""
    conditions: list[ColumnElement[bool]] = []
    if principal is not None and not principal.is_province:
        key_unit = principal.unit.id
        conditions.append(or_(tree.c.id == key_unit, tree.c.parent_id == key_unit))
    if filters.district is not None:
        assert principal is not None
        field = filters.district_field
        district = await _unit_on(session, principal, filters.district, day, field)
        if district.kind == UnitKind.DISTRICT or (
            district.kind == UnitKind.PROVINCE and district.parent_id is not None
        ):  # a province of the nation is an area like a district: its units hang under it
            conditions.append(or_(tree.c.id == district.id, tree.c.parent_id == district.id))
        elif district.kind not in AREA_ONLY_KINDS:  # the root is the whole area: no condition
            raise Invalid(
                f"{district.code!r} is a {district.kind}, not a district, on {day}", field=field
            )
    if filters.unit is not None:
        assert principal is not None
        unit = await _unit_on(session, principal, filters.unit, day, "query.unit")
        if unit.kind in AREA_ONLY_KINDS:
            raise Invalid(
                f"the {unit.kind} itself reports nothing; name one of its units",
                field="query.unit",
            )
        if not unit.active:
            raise Invalid(f"unit {unit.code!r} is inactive", field="query.unit")
        conditions.append(tree.c.id == unit.id)
    if filters.kind is not None:
        if filters.kind in AREA_ONLY_KINDS:
            raise Invalid(
                f"the {filters.kind} itself is not counted; choose "
                + ", ".join(kind.value for kind in COUNTED_KINDS),
                field="query.kind",
            )
        conditions.append(tree.c.kind == filters.kind.value)
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


async def _indicators(session: AsyncSession, filters: SeriesFilter) -> _Indicators:
    conditions = await _indicator_conditions(session, filters)
    rows = {i.id: i for i in await repository.indicators(session, *conditions)}
    return _Indicators(rows, rows.keys() if conditions else None)


async def _scope(
    session: AsyncSession,
    principal: Principal | None,
    filters: SeriesFilter,
    indicators: _Indicators,
    day: date,
) -> _Scope:
    """The units of the tree of ``day`` in the answer and the series owed that day."""
    tree = timeline.tree_on(day)
    unit_conditions = await _unit_conditions(session, principal, filters, tree, day)
    obligated = catalogue.obligated(indicator_ids=indicators.ids, day=day)
    pairs = (
        select(obligated.c.unit_id, obligated.c.indicator_id)
        .where(
            obligated.c.unit_id.in_(repository.answer_units(tree, *unit_conditions)),
            obligated.c.indicator_id.in_(indicators.rows),
        )
        .subquery("pairs")
    )
    return _Scope(day, tree, unit_conditions, indicators.rows, pairs, indicators.ids)


async def _scope_at(
    session: AsyncSession,
    settings: Settings,
    principal: Principal | None,
    filters: SeriesFilter,
    at: datetime,
) -> _Scope:
    """The scope on ``at``'s local day: coverage and staleness read the tree of that day."""
    indicators = await _indicators(session, filters)
    return await _scope(
        session, principal, filters, indicators, timeline.local_day(at, settings.tz)
    )


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


@dataclass(slots=True)
class _Owed:
    """The owed series of a scope with the day each began to be owed (:func:`_owed`), and each
    one's expectation: its schedule's, or, for a series that began to be owed within the
    registry's history, the same from the day it began (docs/design.md §8)."""

    series: Subquery
    """``unit_id``, ``indicator_id``, ``start`` (null: owed since before the changes looked at)."""
    expectations: dict[int, Expectation]
    _started: dict[tuple[int, date], Expectation] = field(default_factory=dict)

    def of(self, indicator_id: int, start: date | None) -> Expectation:
        expectation = self.expectations[indicator_id]
        if start is None:
            return expectation
        slot = (indicator_id, start)
        started = self._started.get(slot)
        if started is None:
            started = self._started[slot] = expectation.starting(start)
        return started


async def _owed(
    session: AsyncSession,
    scope: _Scope,
    expectations: dict[int, Expectation],
    *,
    all_starts: bool,
) -> _Owed:
    """The scope's owed series with their starts: those kept for the scope's day when they
    still hold (:func:`keep_owed`), otherwise :func:`_expand`'s. A start changes a series'
    status only when it falls on or after its expected period's first day, so without
    ``all_starts`` (coverage, which shows statuses but not lags) an expansion does not look at
    older changes of the registry."""
    kept = await repository.kept_owed(session, scope.day)
    if kept is None:
        since = None
        if not all_starts and expectations:
            since = min(e.expected.start for e in expectations.values()) - timedelta(days=1)
        return _Owed(await _expand(session, scope, since), expectations)
    columns = kept.selected_columns
    if scope.unit_conditions:
        units = repository.answer_units(scope.tree, *scope.unit_conditions)
        kept = kept.where(columns.unit_id.in_(units))
    if scope.indicator_ids is not None:
        kept = kept.where(columns.indicator_id.in_(scope.indicator_ids))
    return _Owed(kept.subquery("owed"), expectations)


async def _expand(session: AsyncSession, scope: _Scope, since: date | None) -> Subquery:
    """The scope's owed series with their starts, expanded from the obligations, looking at the
    registry's changes after ``since`` (``None``: all). A series can only begin to be owed on a
    day a unit, a version or an obligation begins (:func:`repository.change_days`): it began on
    the latest such day on whose eve it was not owed."""
    days = await repository.change_days(session, since, scope.day, ends=False)
    eves = [
        (day, catalogue.obligated(indicator_ids=scope.indicator_ids, day=day - timedelta(days=1)))
        for day in days
    ]
    return repository.with_starts(scope.pairs, eves)


async def keep_owed(session: AsyncSession, day: date) -> bool:
    """Keep the series owed on ``day`` and their starts, with the days they hold for, unless they
    are kept already or another process is keeping them; whether it wrote. Coverage and
    staleness then read them instead of expanding the obligations (docs/design.md §4)."""
    if await repository.kept_owed(session, day) is not None:
        return False
    if not await repository.may_keep_owed(session):
        return False
    # The generation first: a change committed after it leaves the kept series marked older than
    # they are, which only costs a reader the expansion; the other order could hide a change.
    generation = await repository.registry_generation(session)
    everything = SeriesFilter()
    scope = await _scope(session, None, everything, await _indicators(session, everything), day)
    owed = await _expand(session, scope, None)
    later = await repository.change_days(session, day, date.max)
    await repository.keep_owed(session, owed, generation, day, later[0] if later else None)
    return True


def _facts(scope: _Scope, at: datetime, now: datetime) -> _Facts:
    """What had arrived by ``at``: kept state for now and later, stored receipts for the past."""
    if at >= now:
        return _Facts(repository.latest_kept(), repository.contacts_kept(), "state")
    units = repository.answer_units(scope.tree, *scope.unit_conditions)
    return _Facts(
        repository.latest_received_by(at),
        repository.contacts_received_by(at, units if scope.unit_conditions else None),
        "observations",
    )


_STATUS_NAMES = [status.value for status in SeriesStatus]


def _counts(tally: list[int]) -> SeriesCounts:
    """``tally`` holds a count per status, indexed by the status' rank."""
    return SeriesCounts(**dict(zip(_STATUS_NAMES, tally, strict=True)))


def _page(items: list[T], page: PageParams) -> list[T]:
    return items[page.offset : page.offset + page.limit]


# --- coverage ---------------------------------------------------------------------------------


def _census(owed: _Owed, census: Iterable[repository.Census]) -> list[int]:
    """Series per status, indexed by the status' rank."""
    tally = [0] * len(SeriesStatus)
    for group in census:
        tally[owed.of(group.indicator_id, group.start).rank(group.last_start)] += group.count
    return tally


@dataclass(frozen=True, slots=True)
class _Connections:
    """The scope's units with their connection judged (:func:`repository.connections`), and the
    schedules their fastest obligations' ranks stand for."""

    units: Subquery
    fastest_first: list[Schedule]

    def window(self, unit: repository.UnitConnection) -> ConnectionWindow:
        speed = unit.speed
        return connection_window([] if speed is None else [self.fastest_first[speed]])


def _connections(
    scope: _Scope, schedules: dict[int, Schedule], facts: _Facts, at: datetime
) -> _Connections:
    """Each unit's connection window, from its fastest obligation, and whether it is connected
    at ``at``: heard from within the window, boundary included (docs/design.md §4)."""
    fastest_first = sorted(set(schedules.values()), key=lambda schedule: schedule.speed)
    place = {schedule: n for n, schedule in enumerate(fastest_first)}
    speed = {i: place[schedule] for i, schedule in schedules.items()}
    units = repository.connections(
        scope.tree,
        scope.unit_conditions,
        catalogue.fastest_obligations(speed, day=scope.day) if speed else None,
        facts.contacts,
        [heard_since(connection_window([schedule]), at) for schedule in fastest_first],
        heard_since(connection_window([]), at),
    )
    return _Connections(units, fastest_first)


async def coverage(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    page: PageParams,
    *,
    filters: SeriesFilter,
    at_text: str | None,
    now: datetime,
) -> CoverageReport:
    """Connected over registered active units per kind, then each unit with its series (of the
    filter, its kind and area only)."""
    at = resolve_at(at_text, now)
    scope = await _scope_at(session, settings, principal, filters, at)
    schedules = _schedules(settings, scope.indicators.values())
    owed = await _owed(session, scope, _expectations(settings, schedules, at), all_starts=False)
    facts = _facts(scope, at, now)

    overall = _census(owed, await repository.census(session, owed.series, facts.latest))
    connections = _connections(scope, schedules, facts, at)
    # Worst first: who is not connected, then in the article's order of kinds.
    counted = await repository.count_and_list_connections(
        session, connections.units, order=_KIND_ORDER, offset=page.offset, limit=page.limit
    )
    registered = {UnitKind(kind): n for kind, n, _ in counted.counts}
    heard = {UnitKind(kind): n for kind, _, n in counted.counts}
    kinds = {
        k: KindCoverage(registered=registered.get(k, 0), connected=heard.get(k, 0))
        for k in COUNTED_KINDS
        if k in registered or k is filters.kind
    }
    shown = counted.page
    per_unit = {shown_unit.unit.id: [0] * len(SeriesStatus) for shown_unit in shown}
    if shown:
        for series in await repository.owed_series(
            session, owed.series, facts.latest, unit_ids=per_unit.keys()
        ):
            expectation = owed.of(series.indicator_id, series.start)
            per_unit[series.unit_id][expectation.rank(series.last_start)] += 1
    items = []
    for shown_unit in shown:
        unit, window = shown_unit.unit, connections.window(shown_unit)
        items.append(
            UnitCoverage(
                code=unit.code,
                name=unit.name,
                kind=unit.kind,
                parent=unit.parent_code,
                connected=shown_unit.connected,
                last_contact_at=shown_unit.last_contact_at,
                connection_window_seconds=int(window.length.total_seconds()),
                fastest_cadence=window.fastest.cadence if window.fastest else None,
                series=_counts(per_unit[unit.id]),
            )
        )
    total = sum(registered.values())
    return CoverageReport(
        at=at,
        source=facts.source,
        day=scope.day,
        kinds=kinds,
        total=KindCoverage(registered=total, connected=sum(heard.values())),
        series=_counts(overall),
        units=Page(items=items, total=total, **page.model_dump()),
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
    expectation: Callable[[SeriesKey], Expectation]
    """Each series' expectation (from the day it began to be owed, docs/design.md §8)."""
    contacts: dict[int, datetime]
    windows: dict[int, ConnectionWindow]
    connected: dict[int, bool]


async def snapshot(session: AsyncSession, settings: Settings, at: datetime) -> Snapshot:
    """The whole province at ``at`` (now, or later: "if nothing more arrives"), in the tree of
    ``at``'s day."""
    scope = await _scope_at(session, settings, None, SeriesFilter(), at)
    schedules = _schedules(settings, scope.indicators.values())
    owed = await _owed(session, scope, _expectations(settings, schedules, at), all_starts=True)
    facts = _facts(scope, at, at)
    rows = await repository.owed_series(session, owed.series, facts.latest)
    starts = {(r.unit_id, r.indicator_id): r.start for r in rows if r.start is not None}
    connections = _connections(scope, schedules, facts, at)
    units = await repository.list_connections(session, connections.units)
    return Snapshot(
        at=at,
        units={u.unit.id: u.unit for u in units},
        indicators=scope.indicators,
        series=[(r.unit_id, r.indicator_id) for r in rows],
        latest={(r.unit_id, r.indicator_id): r.last_start for r in rows if r.last_start},
        expectation=lambda key: owed.of(key[1], starts.get(key)),
        contacts={u.unit.id: u.last_contact_at for u in units if u.last_contact_at is not None},
        windows={u.unit.id: connections.window(u) for u in units},
        connected={u.unit.id: u.connected for u in units},
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
    overdue, fresh; then by unit and indicator code.

    The series are counted in the database by what decides their place (:class:`Census`); only
    those the page shows are listed."""
    at = resolve_at(at_text, now)
    scope = await _scope_at(session, settings, principal, filters, at)
    schedules = _schedules(settings, scope.indicators.values())
    owed = await _owed(session, scope, _expectations(settings, schedules, at), all_starts=True)
    facts = _facts(scope, at, now)

    counts = [0] * len(SeriesStatus)
    places: dict[tuple[int, int], list[repository.Census]] = defaultdict(list)
    for group in await repository.census(session, owed.series, facts.latest):
        expectation = owed.of(group.indicator_id, group.start)
        status = expectation.status(group.last_start)
        counts[status.rank] += group.count
        if statuses and status not in statuses:
            continue
        lag = 0
        if status is SeriesStatus.STALE and group.last_start is not None:
            cadence = expectation.schedule.cadence
            lag = expectation.lag(Period(cadence, group.last_start)) or 0
        places[(status.rank, -lag)].append(group)

    # Walk the places in order to the page's, and list the page's series from them.
    shown: list[repository.OwedRow] = []
    passed = 0
    for place in sorted(places):
        groups = places[place]
        size = sum(group.count for group in groups)
        if passed + size > page.offset and len(shown) < page.limit:
            shown += await repository.owed_series(
                session,
                owed.series,
                facts.latest,
                among=[(g.indicator_id, g.start, g.last_start) for g in groups],
                offset=max(0, page.offset - passed),
                limit=page.limit - len(shown),
            )
        passed += size

    keys = [(series.unit_id, series.indicator_id) for series in shown]
    shown_ids = {unit_id for unit_id, _ in keys}
    units = {
        u.id: u for u in await repository.units(session, scope.tree, scope.tree.c.id.in_(shown_ids))
    }
    if facts.source == "state":
        receipts = await repository.receipts(session, keys)
    else:
        receipts = (
            await repository.series_received_by(
                session, at, {u for u, _ in keys}, {i for _, i in keys}
            )
        ).receipts or {}
    items = []
    for series in shown:
        unit, indicator = units[series.unit_id], scope.indicators[series.indicator_id]
        expectation = owed.of(series.indicator_id, series.start)
        cadence = Cadence(indicator.cadence)
        last = Period(cadence, series.last_start) if series.last_start else None
        items.append(
            SeriesStaleness(
                unit=unit.code,
                kind=unit.kind,
                indicator=indicator.code,
                group=indicator.group_code,
                cadence=cadence,
                status=expectation.status(series.last_start),
                last_period=last.id if last else None,
                expected_period=expectation.expected.id,
                lag_periods=expectation.lag(last),
                last_received_at=receipts.get((series.unit_id, series.indicator_id)),
                deadline=expectation.deadline,
                grace_seconds=int(expectation.schedule.grace.total_seconds()),
                first_period=expectation.first.id if expectation.first else None,
            )
        )
    return StalenessReport(
        items=items,
        total=passed,
        **page.model_dump(),
        at=at,
        source=facts.source,
        day=scope.day,
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


@dataclass(frozen=True, slots=True)
class _Segment:
    """Days over which the registry is one, from ``since`` to ``until``: the periods whose last
    day falls within them are owed under its tree and obligations (docs/design.md §8)."""

    since: date
    until: date
    groups: Subquery
    """The series owed in the segment, with their group key (:func:`repository.series_groups`)."""
    owed: list[tuple[str, int, int]]
    """(group key, indicator id, series owed)."""
    unit_ids: Collection[int] | None
    """The answer's unit ids, to narrow scans, or ``None`` when every unit is in the answer."""


# A week belongs to a range by its Thursday, so its last day may fall up to 3 days after it.
_WEEK_TAIL = timedelta(days=3)


async def _segments(
    session: AsyncSession,
    principal: Principal,
    filters: SeriesFilter,
    indicators: _Indicators,
    span: DaySpan,
    group_by: GroupBy,
) -> tuple[list[_Segment], dict[str, str]]:
    """The range cut where the registry changes, each piece with the series owed in it; and the
    name of every group key (as of the last piece that has it).

    A filter names a unit as the tree of each piece has it: a piece where the unit does not
    exist, is not a district or is outside the key's area owes nothing; if no piece can answer,
    the first piece's refusal is the answer.
    """
    last_day = min(span.last_day, date.max - _WEEK_TAIL) + _WEEK_TAIL
    starts = [span.first_day, *await repository.change_days(session, span.first_day, last_day)]
    ends = [day - timedelta(days=1) for day in starts[1:]] + [last_day]
    segments: list[_Segment] = []
    names: dict[str, str] = {}
    refusals: list[Invalid | Forbidden] = []
    for since, until in zip(starts, ends, strict=True):
        try:
            scope = await _scope(session, principal, filters, indicators, since)
        except (Invalid, Forbidden) as refusal:
            refusals.append(refusal)
            continue
        groups = repository.series_groups(scope.tree, scope.pairs, group_by)
        owed = []
        for key, name, indicator_id, series in await repository.owed_groups(session, groups):
            owed.append((key, indicator_id, series))
            names[key] = name
        if group_by is GroupBy.DISTRICT and owed:
            # The province is not among the answer's units: its name is looked up apart.
            codes = {key for key, _, _ in owed}
            names.update(await repository.unit_names(session, codes, since))
        unit_ids = None
        if scope.unit_conditions:
            units = repository.answer_units(scope.tree, *scope.unit_conditions)
            unit_ids = await repository.unit_ids(session, units)
        segments.append(_Segment(since, until, groups, owed, unit_ids))
    if not segments:
        raise refusals[0]
    return segments, names


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
    from_kept: bool = True,
) -> CompletenessReport:
    """DHIS2's reporting rate over a period range (docs/design.md §4): ``expected`` = obligations ×
    due periods, ``actual`` = those received by ``at``, ``on_time`` = those received by their
    deadline, grouped by kind, unit, indicator, indicator group or district, lowest rate first.

    A period is due when its deadline is ≤ ``at``, and in the range when the range holds it
    whole (a week by its Thursday, see :class:`DaySpan`). A report counts once per (unit,
    indicator, period) whatever its revisions, and is on time when its first acceptance was by
    the period's deadline. A period is owed by the units and obligations of its last day, under
    that day's tree (docs/design.md §8): a range across a reorganisation counts each side under
    its own registry, and a report counts only if its series was owed on its period's last day.

    Reports are counted from the months kept at ingest where they can answer, from the
    observations elsewhere (:func:`_plan_months`); ``from_kept`` ``False`` counts every report
    from the observations, the answer the kept months must equal.
    """
    at = resolve_at(at_text, now)
    first, last = _period(period_from, "from"), _period(period_to, "to")
    if first.start > last.last_day:
        raise Invalid(f"from {first.id} starts after to {last.id} ends", field="query.from")
    span = DaySpan.between(first, last)
    await plan_each_call(session)
    indicators = await _indicators(session, filters)
    schedules = _schedules(settings, indicators.rows.values())
    expectations = _expectations(settings, schedules, at)
    segments, names = await _segments(session, principal, filters, indicators, span, group_by)

    tally: dict[str, list[int]] = {key: [0, 0, 0] for key in names}
    for segment in segments:
        due_counts: dict[int, int] = {}
        for key, indicator_id, series in segment.owed:
            if indicator_id not in due_counts:
                due_counts[indicator_id] = span.due_count(
                    expectations[indicator_id], segment.since, segment.until
                )
            tally[key][0] += series * due_counts[indicator_id]

    plan = _plan_months(span, expectations, segments) if from_kept else None
    if plan is not None:
        await _count_kept(session, at, plan, schedules, segments, tally)
    if plan is None or plan.read:
        await _count_observations(session, span, at, expectations, segments, plan, tally)

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


@dataclass(slots=True)
class _MonthPlan:
    """Where completeness counts reports: the runs of kept months of each indicator, by the
    segment owing them, and the (indicator id, month) whose observations it reads."""

    runs: dict[int, list[tuple[date, date, int]]]
    """Per indicator id: (first month, last month, segment index)."""
    read: set[tuple[int, date]]

    def months(self, indicator_id: int) -> list[date]:
        """Every kept month of the indicator."""
        found = []
        for low, high, _ in self.runs.get(indicator_id, []):
            month = low
            while month <= high:
                found.append(month)
                month = next_month(month)
        return found

    def cut(self, months: set[tuple[int, date]]) -> bool:
        """Move these (indicator id, month) from the runs to the reads; whether any was in a
        run."""
        moved = False
        for indicator_id, runs in list(self.runs.items()):
            gaps = sorted(month for i, month in months if i == indicator_id)
            kept: list[tuple[date, date, int]] = []
            for low, high, index in runs:
                for gap in gaps:
                    if low <= gap <= high:
                        moved = True
                        self.read.add((indicator_id, gap))
                        if low < gap:
                            kept.append((low, previous_month(gap), index))
                        low = next_month(gap)
                if low <= high:
                    kept.append((low, high, index))
            if kept:
                self.runs[indicator_id] = kept
            else:
                del self.runs[indicator_id]
        return moved


def _plan_months(
    span: DaySpan, expectations: dict[int, Expectation], segments: list[_Segment]
) -> _MonthPlan:
    """The months whose every period (by start) is in the range, due and owed under one segment
    can be counted from ``series_months``; a month holding some such periods and some others
    is read from the observations."""
    plan = _MonthPlan({}, set())
    for indicator_id, expectation in expectations.items():
        for index, segment in enumerate(segments):
            due = span.due_periods(expectation, segment.since, segment.until)
            if due is None:
                continue
            split = split_months(*due)
            plan.read.update((indicator_id, month) for month in split.cut)
            if split.whole is not None:
                plan.runs.setdefault(indicator_id, []).append((*split.whole, index))
    return plan


async def _count_kept(
    session: AsyncSession,
    at: datetime,
    plan: _MonthPlan,
    schedules: dict[int, Schedule],
    segments: list[_Segment],
    tally: dict[str, list[int]],
) -> None:
    """Count the reports of the plan's kept months into ``tally``. A month that cannot answer
    at ``at`` (:func:`repository.unsettled_months`) moves to the plan's reads, and the kept
    months are summed again without it."""
    graces = {i: grace_key(schedules[i].grace) for i in plan.runs}
    unit_ids = _unit_ids(segments)
    while True:
        totals: list[tuple[str, int, int]] = []
        unsettled: set[int] = set()
        for index, runs in _shared_runs(plan).items():
            segment = segments[index]
            for key, indicator_id, received, on_time, months in await repository.month_totals(
                session, at, graces, runs, segment.groups, segment.unit_ids
            ):
                if months:
                    unsettled.add(indicator_id)
                totals.append((key, received, on_time))
        if not unsettled:
            break
        first = min(run[0] for i in unsettled for run in plan.runs[i])
        last = max(run[1] for i in unsettled for run in plan.runs[i])
        found = await repository.unsettled_months(
            session, at, {i: graces[i] for i in unsettled}, first, last, unit_ids
        )
        if not plan.cut(found):  # changed since the sums were read: read them all instead
            plan.cut({(i, month) for i in unsettled for month in plan.months(i)})
    for key, received, on_time in totals:
        tally[key][1] += received
        tally[key][2] += on_time


def _unit_ids(segments: list[_Segment]) -> set[int] | None:
    """The unit ids of every segment's answer, or ``None`` when one of them has every unit."""
    unit_ids: set[int] = set()
    for segment in segments:
        if segment.unit_ids is None:
            return None
        unit_ids.update(segment.unit_ids)
    return unit_ids


def _shared_runs(plan: _MonthPlan) -> dict[int, list[tuple[date, date, list[int]]]]:
    """The plan's runs of kept months by segment index, each with the indicators sharing it: one
    query per segment (every daily indicator of a range usually shares one run)."""
    shared: dict[tuple[date, date, int], list[int]] = {}
    for indicator_id, runs in plan.runs.items():
        for run in runs:
            shared.setdefault(run, []).append(indicator_id)
    by_segment: dict[int, list[tuple[date, date, list[int]]]] = {}
    for (low, high, index), indicator_ids in shared.items():
        by_segment.setdefault(index, []).append((low, high, indicator_ids))
    return by_segment


async def _count_observations(
    session: AsyncSession,
    span: DaySpan,
    at: datetime,
    expectations: dict[int, Expectation],
    segments: list[_Segment],
    plan: _MonthPlan | None,
    tally: dict[str, list[int]],
) -> None:
    """Count the reports of the plan's read months (every month without a plan) into ``tally``
    from the observations: in each segment, those of the series it owes for the periods in the
    range, due, whose last day falls in it (the periods :meth:`DaySpan.due_periods` gives)."""
    for segment in segments:
        slots = []
        for indicator_id, expectation in expectations.items():
            for period in _read_periods(span, expectation, segment, plan, indicator_id):
                deadline = expectation.schedule.deadline(period, expectation.tz)
                slots.append((indicator_id, period.start, deadline))
        if not slots:
            continue
        for key, _, received, on_time in await repository.report_counts(
            session, at, segment.groups, slots, segment.unit_ids
        ):
            tally[key][1] += received
            tally[key][2] += on_time


def _read_periods(
    span: DaySpan,
    expectation: Expectation,
    segment: _Segment,
    plan: _MonthPlan | None,
    indicator_id: int,
) -> Iterator[Period]:
    """The indicator's periods in the range, due and owed in ``segment`` whose reports are read
    from the observations: those starting in the plan's read months of the indicator (all of
    them without a plan)."""
    due = span.due_periods(expectation, segment.since, segment.until)
    if due is None:
        return
    first, last = due
    if plan is None:
        months = [(first.start, last.start)]
    else:
        read = sorted(month for i, month in plan.read if i == indicator_id)
        months = [(month, next_month(month) - timedelta(days=1)) for month in read]
    cadence = expectation.schedule.cadence
    for low, high in months:
        if high < first.start or low > last.start:
            continue
        period = max(first, Period.of_date(low, cadence))
        if period.start < low:
            if period >= last:
                continue
            period = period.next()
        while period <= last and period.start <= high:
            yield period
            if period == last:  # the last period may be the last there is: no next
                break
            period = period.next()
