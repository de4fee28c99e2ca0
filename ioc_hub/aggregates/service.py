"""Aggregated views (docs/design.md §5): indicators combined over time into buckets, then over the
units of an area, with how many reports each figure rests on against how many were expected.

Definitions (the ones :class:`AggregateRow` documents):

- ``value``: first over time, per unit and bucket, by the indicator's ``time_aggregation`` —
  ``sum``, ``avg`` (mean of the unit's period values), ``min``, ``max``, or ``last`` (the value
  of the unit's latest period in the bucket); then over the units of the group by its
  ``area_aggregation`` — ``sum``, ``avg`` (mean of the units' values, unweighted), ``min``,
  ``max``, or ``last`` (the value of the unit whose latest period is latest; on a tie, of the
  unit whose values arrived last). A unit with no data in the bucket contributes nothing; a
  group with none at all has ``value`` null. Values are rounded to 12 significant digits.
- groups: which units count in which area at which level is :mod:`ioc_hub.aggregates.rules`
  (departments, agencies and ministries count at province level only), on the answer's map:
  under ``boundaries=current`` the tree of the chosen day, values of other units reaching it
  through lineage (:mod:`ioc_hub.aggregates.lineage`); under ``as_reported`` the tree of each
  period's first day (docs/design.md §8).
- ``reported``: the observations — (unit, period) pairs — of the indicator in the bucket and
  group that the value rests on, whichever the aggregation.
- ``expected``: for each period of the indicator's cadence in the bucket that is not in the
  future (a period is in the future once it starts after the current one, as for pushes), the
  active units obliged to report it on its last day (the obligations of that day over the tree
  of that day, as :func:`obligated_series` expands them; an inactive indicator expects nothing)
  whose values reach the group. Data from a unit without an obligation still counts in
  ``value`` and ``reported``, so ``reported`` may exceed ``expected``.
- ``approximate``: the value rests on a share that is unknown (§8).

A row is answered for every (bucket, group) with data or with something expected; with
``changed_since`` only for those with an observation received (created or changed) at or after
that time, which is what a poller needs to refresh. Rows are ordered by indicator code, period
and area code.
"""

import csv
import hashlib
import io
from bisect import bisect_right
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from functools import partial
from typing import NoReturn, TypeVar

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.access.principal import Principal, UnitRef
from ioc_hub.aggregates import repository
from ioc_hub.aggregates.lineage import Lineage, Share
from ioc_hub.aggregates.rules import (
    AREA_LEVELS,
    DEFAULT_SPAN,
    MAX_BUCKETS,
    AreaUnit,
    Boundaries,
    Bucket,
    Level,
    groups,
    plan_buckets,
    tidy,
    to_bucket,
)
from ioc_hub.aggregates.schemas import CSV_COLUMNS, AggregateRow, OutputFormat
from ioc_hub.catalogue.service import obligated_series
from ioc_hub.config import Settings
from ioc_hub.errors import Forbidden, Invalid, NotFound
from ioc_hub.kit.pagination import Page, PageParams
from ioc_hub.kit.periods import Cadence, Period, PeriodError
from ioc_hub.models import Aggregation, Indicator, LineageEdge, Unit, UnitKind
from ioc_hub.registry import service as registry
from ioc_hub.registry import timeline
from ioc_hub.registry.memo import RegistryMemo
from ioc_hub.registry.timeline import local_day

T = TypeVar("T")

MAX_INDICATORS = 20
# Rows one request may compute (buckets × groups × indicators), whatever page it asks for.
MAX_ROWS = 200_000
# Open data is published for these levels only: never a commune's or a unit's figures.
PUBLIC_LEVELS = (Level.NATION, Level.PROVINCE, Level.DISTRICT)


@dataclass(frozen=True)
class AggregateQuery:
    """What a caller asks for, as sent; every field but ``indicators`` has a default."""

    indicators: Sequence[str]
    bucket: Cadence | None = None
    period_from: str | None = None
    period_to: str | None = None
    area: str | None = None
    level: Level | None = None
    changed_since: datetime | None = None
    boundaries: Boundaries = Boundaries.CURRENT
    boundaries_on: date | None = None
    indicator_field: str = "query.indicator"


async def aggregate(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    query: AggregateQuery,
    page: PageParams,
    *,
    principal: Principal | None,
    memo: RegistryMemo | None = None,
    from_kept: bool = True,
) -> Page[AggregateRow]:
    """The rows of ``query`` for ``principal``, or for the public (open data) when it is None:
    then only open indicators, at province and district level. The map of the answer (trees,
    groups, routes, obligations) is kept in ``memo`` while the registry stays the same (none:
    worked out for this answer alone). ``from_kept`` reads the months kept at ingest where they
    answer alike (False: the observations alone)."""
    _require_area_key(principal)
    memo = memo or RegistryMemo()
    reads = _Reads(session, memo, await memo.generation(session))
    indicators = await _indicators(session, query, principal is None)
    bucket = _bucket(query.bucket, indicators)
    first, last = _range(query, bucket, now, settings.tz)
    plans: dict[int, list[Bucket]] = {}
    for indicator in indicators:
        cadence = Cadence(indicator.cadence)
        try:
            current = Period.containing(now, cadence, settings.tz)
            plans[indicator.id] = plan_buckets(cadence, first, last, current)
        except PeriodError as exc:  # only at the very end of year 9999
            raise Invalid(str(exc), field="query.to") from None
    span = (
        min(plan[0].first.start for plan in plans.values()),
        max(plan[-1].last.last_day for plan in plans.values()),
    )
    layout = await _layout(reads, query, principal, local_day(now, settings.tz), span)
    size = (last.ordinal - first.ordinal + 1) * len(layout.codes) * len(indicators)
    if size > MAX_ROWS:
        raise Invalid(
            f"the answer would have up to {size} rows (buckets × areas × indicators); at most "
            f"{MAX_ROWS}: narrow from/to, the area or the level",
            field="query.from",
        )
    obligations = _Obligations(reads, [i.id for i in indicators], layout.obligation_cuts)
    pending: list[_Pending] = []
    for indicator in indicators:
        plan = plans[indicator.id]
        area_aggregation = Aggregation(indicator.area_aggregation)
        by_share = area_aggregation in (Aggregation.SUM, Aggregation.AVG)
        routes = await reads.kept(
            ("routes", layout.key, by_share),
            partial(layout.route_table, by_share=by_share),
        )
        found = await repository.cells(
            session,
            indicator_id=indicator.id,
            time_aggregation=Aggregation(indicator.time_aggregation),
            area_aggregation=area_aggregation,
            buckets=plan,
            cuts=layout.cuts,
            routes=routes,
            changed_since=query.changed_since,
            from_kept=from_kept,
        )
        expected = await obligations.expected(indicator.id, plan, layout.cuts, routes.routes)
        pending += _pending(
            indicator.code, plan, found, expected, layout.codes, gaps=query.changed_since is None
        )
    # Only the page is formatted: a long answer is sorted whole but built row by row once.
    items = [
        AggregateRow(
            indicator=p.indicator,
            period=p.bucket.period.id,
            area=p.area,
            value=None if p.cell is None else tidy(p.cell.value),
            reported=0 if p.cell is None else p.cell.reported,
            expected=p.expected,
            approximate=p.cell is not None and p.cell.approximate,
        )
        for p in pending[page.offset : page.offset + page.limit]
    ]
    return Page(items=items, total=len(pending), **page.model_dump())


@dataclass(frozen=True, slots=True)
class _Pending:
    """A row before its page is cut."""

    indicator: str
    bucket: Bucket
    area: str
    cell: repository.Cell | None
    expected: int


def _pending(
    indicator: str,
    plan: Sequence[Bucket],
    found: Sequence[repository.Cell],
    expected: Mapping[tuple[int, int], int],
    codes: Mapping[int, str],
    *,
    gaps: bool,
) -> list[_Pending]:
    """One indicator's rows in order (period, then area code): the cells with data and, with
    ``gaps``, every (bucket, group) with something expected but no data."""
    cells: dict[tuple[int, int], repository.Cell | None] = {(c.bucket, c.group): c for c in found}
    if gaps:
        for key in expected:
            cells.setdefault(key, None)
    return [
        _Pending(
            indicator=indicator,
            bucket=plan[index],
            area=codes[group],
            cell=cells[(index, group)],
            expected=expected.get((index, group), 0),
        )
        for index, group in sorted(cells, key=lambda key: (key[0], codes[key[1]]))
    ]


# The map of an answer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Which units an answer's values reach and in which groups they count, per segment of
    period starts: segment k holds the periods starting on or after ``starts[k]`` and before
    ``starts[k + 1]``; the map changes only between segments.

    Under ``current`` the chosen day's tree holds every group in every segment, and ``lineage``
    carries the values of other units to it; under ``as_reported`` each segment has the tree of
    its first day and values stay with their unit. ``obligation_cuts`` are the days obligations
    may change on; ``codes`` names every group; ``key`` says what the map was drawn for."""

    key: Hashable
    starts: Sequence[date]
    members: Sequence[Mapping[int, int]]
    codes: Mapping[int, str]
    obligation_cuts: Sequence[date]
    lineage: Lineage | None

    @property
    def cuts(self) -> Sequence[date]:
        """The days that begin segments 1, 2, …"""
        return self.starts[1:]

    async def route_table(self, *, by_share: bool) -> repository.RouteTable:
        """The routes, ready for the query."""
        return repository.RouteTable.of(self.routes(by_share=by_share), len(self.cuts))

    def routes(self, *, by_share: bool) -> list[repository.Route]:
        """Where each unit's values go in each segment (docs/design.md §8)."""
        routes = []
        for index, (start, members) in enumerate(zip(self.starts, self.members, strict=True)):
            shares: Iterable[tuple[int, Share]]
            if self.lineage is None:
                shares = ((unit, Share(unit, 1.0, False)) for unit in members)
            else:
                shares = (
                    (unit, share)
                    for unit in sorted(self.lineage.sources)
                    for share in self.lineage.shares(unit, start, by_share=by_share)
                )
            counted: set[tuple[int, int]] = set()
            for unit, share in shares:
                group = members.get(share.target)
                if group is None:
                    continue
                routes.append(
                    repository.Route(
                        segment=index,
                        unit=unit,
                        target=share.target,
                        group=group,
                        weight=share.weight,
                        approximate=share.approximate,
                        counts=(unit, group) not in counted,
                    )
                )
                counted.add((unit, group))
        return routes


async def _layout(
    reads: "_Reads",
    query: AggregateQuery,
    principal: Principal | None,
    today: date,
    span: tuple[date, date],
) -> _Layout:
    """The map of the answer for periods from ``span[0]`` to ``span[1]``: the chosen day's tree
    and the lineage edges in force on it, or each segment's own tree."""
    day = query.boundaries_on or today
    current = query.boundaries is Boundaries.CURRENT
    changes = await repository.change_days(
        reads.session, *span, edges_until=day if current else None
    )
    lineage: Lineage | None = None
    if not current:
        if query.boundaries_on is not None:
            raise Invalid(
                "boundaries_on chooses the map of boundaries=current; boundaries=as_reported "
                "uses the map of each period's first day",
                field="query.boundaries_on",
            )
        starts = [span[0], *changes.tree]
        days = starts
        when = f"in the periods from {span[0].isoformat()} to {span[1].isoformat()}"
    else:
        starts = [span[0], *(d for d in changes.edges if d <= span[1])]
        days = [day] * len(starts)
        when = f"on {day.isoformat()}" + ("" if query.boundaries_on else " (today)")
        if changes.edges:  # edges that took effect before every period apply to none
            lineage = await reads.kept(("lineage", day), partial(_lineage, reads, day))
    code = _area_code(query, principal)
    areas: list[tuple[int, Level] | None] = []
    members: list[Mapping[int, int]] = []
    codes: dict[int, str] = {}
    for tree_day in days:
        tree = await reads.tree(tree_day)
        area = _area(tree, code, principal)
        if area is None:
            areas.append(None)
            members.append({})
            continue
        level = _level(query.level, area, principal is None)
        areas.append((area.id, level))
        grouped, named = await reads.kept(
            ("groups", tree_day, area.id, level), partial(_grouped, tree, area, level)
        )
        members.append(grouped)
        codes |= named
    if not any(areas):
        await _absent(reads.session, query, principal, when)
    return _Layout(
        key=(query.boundaries, day, tuple(starts), tuple(areas)),
        starts=starts,
        members=members,
        codes=codes,
        obligation_cuts=sorted({*changes.tree, *changes.obligations}),
        lineage=lineage,
    )


async def _grouped(
    tree: Sequence[AreaUnit], area: AreaUnit, level: Level
) -> tuple[dict[int, int], dict[int, str]]:
    """unit → group of ``area`` at ``level`` in ``tree``, and the code of each group."""
    grouped = groups(tree, area, level)
    named = set(grouped.values())
    return grouped, {u.id: u.code for u in tree if u.id in named}


async def _lineage(reads: "_Reads", day: date) -> Lineage:
    """The lineage edges in force on ``day``, towards the units of its tree."""
    in_force = await timeline.edges(reads.session, LineageEdge.effective <= day)
    return Lineage(in_force, {u.id for u in await reads.tree(day)})


@dataclass(frozen=True)
class _Reads:
    """The registry as one answer reads it: through the process's memo, under the generation its
    session reads (docs/design.md §5)."""

    session: AsyncSession
    memo: RegistryMemo
    generation: int

    async def kept(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        return await self.memo.get(self.generation, key, compute)

    async def tree(self, day: date) -> list[AreaUnit]:
        """The tree as of ``day``, active units or not: an inactive unit's history still counts
        in its area."""
        return await self.kept(("tree", day), partial(_tree, self.session, day))


async def _tree(session: AsyncSession, day: date) -> list[AreaUnit]:
    tree = timeline.tree_on(day)
    rows = await session.execute(select(tree.c.id, tree.c.code, tree.c.kind, tree.c.parent_id))
    kinds = {kind.value: kind for kind in UnitKind}
    return [AreaUnit(id_, code, kinds[kind], parent) for id_, code, kind, parent in rows]


def _require_area_key(principal: Principal | None) -> None:
    if principal is not None and principal.unit.kind not in AREA_LEVELS:
        unit = principal.unit
        raise Forbidden(
            f"a key bound to {unit.kind.value} {unit.code!r} reads no area: aggregates are read "
            "with a nation, province, district or commune key",
            field="query.area",
        )


def _area_code(query: AggregateQuery, principal: Principal | None) -> str | None:
    """The area asked for; by default a district or commune key's own, else the province
    (None)."""
    if query.area is None and principal is not None and not principal.is_province:
        return principal.unit.code
    return query.area


def _area(
    tree: Sequence[AreaUnit], code: str | None, principal: Principal | None
) -> AreaUnit | None:
    """Area ``code`` (the root when None: the nation over provinces, else the province) in
    ``tree``, checked; None when it is not in that tree."""
    if code is None:
        area = next((u for u in tree if u.kind is UnitKind.NATION), None) or next(
            (u for u in tree if u.kind is UnitKind.PROVINCE), None
        )
    else:
        area = next((u for u in tree if u.code == code), None)
    if area is None:
        return None
    if area.kind not in AREA_LEVELS:
        raise Invalid(
            f"area must be the nation, a province, a district or a commune; {area.code!r} is a "
            f"{area.kind.value}",
            field="query.area",
        )
    if principal is None and AREA_LEVELS[area.kind] not in PUBLIC_LEVELS:
        raise Invalid(
            f"open data is published for the nation, provinces and districts only; "
            f"{area.code!r} is a {area.kind.value}",
            field="query.area",
        )
    if principal is not None:
        target = UnitRef(id=area.id, code=area.code, kind=area.kind, parent_id=area.parent_id)
        registry.require_covered(principal, target, "query.area")
    return area


async def _absent(
    session: AsyncSession, query: AggregateQuery, principal: Principal | None, when: str
) -> NoReturn:
    """Refuse an answer whose area is in none of its trees, saying why."""
    code = _area_code(query, principal)
    if code is None:
        if await session.scalar(select(Unit.id).where(Unit.kind == UnitKind.PROVINCE).limit(1)):
            field = "query.boundaries_on" if query.boundaries_on else "query.from"
            raise Invalid(f"the registry has no province {when}", field=field)
        raise NotFound("the registry has no province yet; run `ioc-hub seed`")
    if await session.scalar(select(Unit.id).where(Unit.code == code)) is None:
        raise NotFound(f"unit {code!r} does not exist", field="query.area")
    hint = (
        "ask for boundaries=as_reported or an earlier boundaries_on"
        if query.boundaries is Boundaries.CURRENT
        else "choose from/to within its life"
    )
    raise Invalid(f"unit {code!r} does not exist {when}: {hint}", field="query.area")


class _Obligations:
    """How many reports were expected per (bucket, group): for each due period of the bucket,
    the units obliged on its last day (the obligations of that day over the tree of that day,
    docs/design.md §8), each counted in the groups its values reach. Obligations are read once
    per stretch of days in which they cannot change (``cuts`` begin the stretches), and kept
    by day in the memo."""

    def __init__(self, reads: _Reads, indicator_ids: Sequence[int], cuts: Sequence[date]) -> None:
        self._reads = reads
        self._indicator_ids = tuple(indicator_ids)
        self._cuts = cuts
        self._obliged: dict[int, list[tuple[int, int]]] = {}

    def _stretch(self, day: date) -> int:
        return bisect_right(self._cuts, day)

    async def _on(self, day: date) -> list[tuple[int, int]]:
        stretch = self._stretch(day)
        if stretch not in self._obliged:
            ids = self._indicator_ids
            self._obliged[stretch] = await self._reads.kept(
                ("obliged", ids, day),
                partial(
                    obligated_series,
                    self._reads.session,
                    indicator_ids=self._indicator_ids,
                    day=day,
                ),
            )
        return self._obliged[stretch]

    async def expected(
        self,
        indicator_id: int,
        plan: Sequence[Bucket],
        cuts: Sequence[date],
        routes: Sequence[repository.Route],
    ) -> dict[tuple[int, int], int]:
        """(bucket index, group) → expected reports of one indicator, for the groups expecting
        any; ``cuts`` and ``routes`` are the answer's segments and routes."""
        reach: dict[tuple[int, int], set[int]] = {}
        for route in routes:
            reach.setdefault((route.segment, route.unit), set()).add(route.group)
        per_key: dict[tuple[int, int], Counter[int]] = {}

        async def per_group(period: Period) -> Counter[int]:
            key = (self._stretch(period.last_day), bisect_right(cuts, period.start))
            if key not in per_key:
                obliged = await self._on(period.last_day)
                per_key[key] = Counter(
                    group
                    for unit, indicator in obliged
                    if indicator == indicator_id
                    for group in reach.get((key[1], unit), ())
                )
            return per_key[key]

        expected: Counter[tuple[int, int]] = Counter()
        for bucket in plan:
            if not bucket.due:
                continue
            # Keys only grow period by period: the same one at both ends holds for the whole.
            ends = (bucket.first, bucket.first.shift(bucket.due - 1))
            runs = [(bucket.first, bucket.due)]
            if await per_group(ends[0]) is not await per_group(ends[1]):
                runs = [(bucket.first.shift(n), 1) for n in range(bucket.due)]
            for period, times in runs:
                for group, n in (await per_group(period)).items():
                    expected[(bucket.index, group)] += n * times
        return {key: n for key, n in expected.items() if n}


async def _indicators(
    session: AsyncSession, query: AggregateQuery, public: bool
) -> list[Indicator]:
    where = query.indicator_field
    # Repeated (indicator=A&indicator=B) or comma-separated: codes never contain a comma.
    codes = list(
        dict.fromkeys(c.strip() for text in query.indicators for c in text.split(",") if c.strip())
    )
    if not codes:
        raise Invalid("name at least one indicator", field=where)
    if len(codes) > MAX_INDICATORS:
        raise Invalid(
            f"{len(codes)} indicators asked for; at most {MAX_INDICATORS} per request", field=where
        )
    found = {
        i.code: i for i in await session.scalars(select(Indicator).where(Indicator.code.in_(codes)))
    }
    for code in codes:
        indicator = found.get(code)
        if indicator is None:
            raise NotFound(f"unknown indicator {code[:64]!r}", field=where)
        if public and not indicator.open:
            raise NotFound(f"indicator {code!r} is not published as open data", field=where)
    return sorted(found.values(), key=lambda i: i.code)


def _bucket(bucket: Cadence | None, indicators: Sequence[Indicator]) -> Cadence:
    """The bucket asked for, by default the coarsest cadence among the indicators."""
    slowest = max(indicators, key=lambda i: Cadence(i.cadence).rank)
    coarsest = Cadence(slowest.cadence)
    if bucket is None:
        return coarsest
    if bucket.rank < coarsest.rank:
        allowed = ", ".join(c.value for c in Cadence if c.rank >= coarsest.rank)
        raise Invalid(
            f"bucket {bucket.value!r} is finer than the {coarsest.value} cadence of "
            f"{slowest.code!r}; allowed buckets: {allowed}",
            field="query.bucket",
        )
    return bucket


def _level(level: Level | None, area: AreaUnit, public: bool) -> Level:
    """The level asked for, by default the area's own (one row per bucket for the whole area)."""
    own = AREA_LEVELS[area.kind]
    level = level or own
    allowed = [x for x in Level if x.rank >= own.rank and (not public or x in PUBLIC_LEVELS)]
    if level not in allowed:
        if public and level not in PUBLIC_LEVELS:
            reason = (
                f"open data is published at nation, province and district level only, not {level}"
            )
        else:
            reason = f"level {level.value!r} is above area {area.code!r} (a {area.kind.value})"
        raise Invalid(
            f"{reason}; allowed levels: {', '.join(x.value for x in allowed)}", field="query.level"
        )
    return level


def _range(
    query: AggregateQuery, bucket: Cadence, now: datetime, tz: tzinfo
) -> tuple[Period, Period]:
    """The first and last bucket: ``to`` defaults to the current bucket, ``from`` to
    :data:`DEFAULT_SPAN` buckets ending with ``to``."""
    last = _bound(query.period_to, "to", bucket, end=True)
    if last is None:
        last = Period.containing(now, bucket, tz)
    first = _bound(query.period_from, "from", bucket, end=False)
    if first is None:
        try:
            first = last.shift(1 - DEFAULT_SPAN)
        except PeriodError as exc:
            raise Invalid(f"no default from: {exc}; give from", field="query.from") from None
    if first > last:
        to = query.period_to or f"{last.id} (the current period, the default)"
        raise Invalid(f"from {query.period_from or first.id} is after to {to}", field="query.from")
    count = last.ordinal - first.ordinal + 1
    if count > MAX_BUCKETS:
        raise Invalid(
            f"from..to spans {count} {bucket.value} buckets; at most {MAX_BUCKETS} per request",
            field="query.from",
        )
    return first, last


def _bound(text: str | None, name: str, bucket: Cadence, *, end: bool) -> Period | None:
    if text is None:
        return None
    try:
        return to_bucket(Period.parse(text), bucket, end=end)
    except PeriodError as exc:
        raise Invalid(str(exc), field=f"query.{name}") from None


# Representations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Representation:
    """An answer ready to send: 200 with a body, or 304 when the client's copy is current."""

    status: int
    body: bytes
    media_type: str | None
    headers: dict[str, str] = field(default_factory=dict)


def choose_format(explicit: OutputFormat | None, accept: str | None) -> OutputFormat:
    """``format=`` wins; otherwise CSV when ``Accept`` prefers ``text/csv`` to JSON."""
    if explicit is not None:
        return explicit
    weights = {"text/csv": 0.0, "application/json": 0.0}
    for item in (accept or "").split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if media.lower() in weights:
            weight = 1.0
            for param in params:
                name, _, number = param.partition("=")
                if name.strip().lower() == "q":
                    try:
                        weight = float(number)
                    except ValueError:
                        weight = 0.0
            weights[media.lower()] = max(weights[media.lower()], weight)
    if weights["text/csv"] > weights["application/json"]:
        return OutputFormat.CSV
    return OutputFormat.JSON


def _csv(rows: Sequence[AggregateRow]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        value = "" if r.value is None else repr(r.value)
        approximate = "true" if r.approximate else "false"
        writer.writerow((r.indicator, r.period, r.area, value, r.reported, r.expected, approximate))
    return buffer.getvalue().encode()


def _matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2)."""
    if if_none_match is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def represent(
    page: Page[AggregateRow],
    fmt: OutputFormat,
    if_none_match: str | None,
    *,
    public: bool,
    filename: str = "aggregates",
) -> Representation:
    """The page as JSON or CSV with its ETag (a hash of the bytes), or a bodiless 304 when
    ``If-None-Match`` already names it. CSV carries the total in ``X-Total-Count``."""
    if fmt is OutputFormat.CSV:
        body, media = _csv(page.items), "text/csv; charset=utf-8"
    else:
        body, media = orjson.dumps(page.model_dump(mode="json")), "application/json"
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {
        "ETag": etag,
        "Vary": "Accept" if public else "Accept, Authorization",
        "Cache-Control": "public, no-cache" if public else "private, no-cache",
        "X-Total-Count": str(page.total),
    }
    if public:
        headers["Access-Control-Allow-Origin"] = "*"
    if _matches(if_none_match, etag):
        return Representation(304, b"", None, headers)
    if fmt is OutputFormat.CSV:
        headers["Content-Disposition"] = f'inline; filename="{filename}.csv"'
    return Representation(200, body, media, headers)
