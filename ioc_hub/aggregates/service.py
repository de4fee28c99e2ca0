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
  (departments, agencies and ministries count at province level only).
- ``reported``: the observations — (unit, period) pairs — of the indicator in the bucket and
  group, every one of them whichever the aggregation.
- ``expected``: the active units of the group obliged to report the indicator (today's
  obligations, as :func:`obligated_series` expands them; an inactive indicator expects nothing)
  × the periods of its cadence in the bucket that are not in the future (a period is in the
  future once it starts after the current one, as for pushes). Data from a unit without an
  obligation still counts in ``value`` and ``reported``, so ``reported`` may exceed
  ``expected``.

A row is answered for every (bucket, group) with data or with something expected; with
``changed_since`` only for those with an observation received (created or changed) at or after
that time, which is what a poller needs to refresh. Rows are ordered by indicator code, period
and area code.
"""

import csv
import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.access.principal import Principal, UnitRef
from ioc_hub.aggregates import repository
from ioc_hub.aggregates.rules import (
    AREA_LEVELS,
    DEFAULT_SPAN,
    MAX_BUCKETS,
    AreaUnit,
    Bucket,
    Level,
    expected_units,
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
from ioc_hub.models import Aggregation, Indicator, Unit, UnitKind
from ioc_hub.registry import service as registry

MAX_INDICATORS = 20
# Rows one request may compute (buckets × groups × indicators), whatever page it asks for.
MAX_ROWS = 200_000
# Open data is published for these levels only (the issue: never commune or unit level).
PUBLIC_LEVELS = (Level.PROVINCE, Level.DISTRICT)


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
    indicator_field: str = "query.indicator"


async def aggregate(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    query: AggregateQuery,
    page: PageParams,
    *,
    principal: Principal | None,
) -> Page[AggregateRow]:
    """The rows of ``query`` for ``principal``, or for the public (open data) when it is None:
    then only open indicators, at province and district level."""
    public = principal is None
    units = await _units(session)
    province = _province(units)
    area = _area(units, province, query.area, principal)
    indicators = await _indicators(session, query, public)
    bucket = _bucket(query.bucket, indicators)
    level = _level(query.level, area, public)
    first, last = _range(query, bucket, now, settings.tz)
    members = groups(units, area, level, province.id)
    n_groups = len(set(members.values()))
    size = (last.ordinal - first.ordinal + 1) * n_groups * len(indicators)
    if size > MAX_ROWS:
        raise Invalid(
            f"the answer would have up to {size} rows (buckets × areas × indicators); at most "
            f"{MAX_ROWS}: narrow from/to, the area or the level",
            field="query.from",
        )
    # Filtered here rather than by unit in SQL: a long IN list costs more than the few extra rows.
    obligated = [
        (unit_id, indicator_id)
        for unit_id, indicator_id in await obligated_series(
            session, indicator_ids=[i.id for i in indicators]
        )
        if unit_id in members
    ]
    codes = {u.id: u.code for u in units}
    pending: list[_Pending] = []
    for indicator in indicators:
        cadence = Cadence(indicator.cadence)
        try:
            plan = plan_buckets(cadence, first, last, Period.containing(now, cadence, settings.tz))
        except PeriodError as exc:  # only at the very end of year 9999
            raise Invalid(str(exc), field="query.to") from None
        found = await repository.cells(
            session,
            indicator_id=indicator.id,
            time_aggregation=Aggregation(indicator.time_aggregation),
            area_aggregation=Aggregation(indicator.area_aggregation),
            buckets=plan,
            members=members,
            changed_since=query.changed_since,
        )
        per_group = expected_units((u for u, i in obligated if i == indicator.id), members)
        pending += _pending(
            indicator.code, plan, found, per_group, codes, gaps=query.changed_since is None
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
    per_group: Mapping[int, int],
    codes: Mapping[int, str],
    *,
    gaps: bool,
) -> list[_Pending]:
    """One indicator's rows in order (period, then area code): the cells with data and, with
    ``gaps``, every (bucket, group) with something expected but no data."""
    cells: dict[tuple[int, int], repository.Cell | None] = {(c.bucket, c.group): c for c in found}
    if gaps:
        for bucket in plan:
            if bucket.due:
                for group in per_group:
                    cells.setdefault((bucket.index, group), None)
    return [
        _Pending(
            indicator=indicator,
            bucket=plan[index],
            area=codes[group],
            cell=cells[(index, group)],
            expected=per_group.get(group, 0) * plan[index].due,
        )
        for index, group in sorted(cells, key=lambda key: (key[0], codes[key[1]]))
    ]


async def _units(session: AsyncSession) -> list[AreaUnit]:
    """Every unit, active or not: an inactive unit's history still counts in its area."""
    rows = await session.execute(select(Unit.id, Unit.code, Unit.kind, Unit.parent_id))
    return [AreaUnit(r.id, r.code, UnitKind(r.kind), r.parent_id) for r in rows]


def _province(units: Sequence[AreaUnit]) -> AreaUnit:
    for unit in units:
        if unit.kind is UnitKind.PROVINCE:
            return unit
    raise NotFound("the registry has no province yet; run `ioc-hub seed`")


def _area(
    units: Sequence[AreaUnit], province: AreaUnit, code: str | None, principal: Principal | None
) -> AreaUnit:
    if principal is not None and principal.unit.kind not in AREA_LEVELS:
        unit = principal.unit
        raise Forbidden(
            f"a key bound to {unit.kind.value} {unit.code!r} reads no area: aggregates are read "
            "with a province, district or commune key",
            field="query.area",
        )
    if code is None:
        code = principal.unit.code if principal is not None else province.code
    area = next((u for u in units if u.code == code), None)
    if area is None:
        raise NotFound(f"unit {code!r} does not exist", field="query.area")
    if area.kind not in AREA_LEVELS:
        raise Invalid(
            f"area must be the province, a district or a commune; {code!r} is a {area.kind.value}",
            field="query.area",
        )
    if principal is None and AREA_LEVELS[area.kind] not in PUBLIC_LEVELS:
        raise Invalid(
            f"open data is published for the province and its districts only; {code!r} is a "
            f"{area.kind.value}",
            field="query.area",
        )
    if principal is not None:
        target = UnitRef(id=area.id, code=area.code, kind=area.kind, parent_id=area.parent_id)
        registry.require_covered(principal, target, "query.area")
    return area


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
            reason = f"open data is published at province and district level only, not {level}"
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
        writer.writerow((r.indicator, r.period, r.area, value, r.reported, r.expected))
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
