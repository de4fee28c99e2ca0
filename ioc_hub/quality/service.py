"""Outliers of stored values, and follow-ups (docs/design.md §9).

``outliers`` judges the values of a window against their series' baselines: by default each
value against the ``baseline_months`` calendar months before the month its period starts in
(the rule ingest flags by, ``quality.flagging``), or every value against one fixed window.
The baselines' statistics come from :func:`repository.baselines` (SQL on PostgreSQL); each
value is then scored by :func:`stats.judge`, the one formula both engines share.
"""

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

import orjson
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.access.principal import Principal
from ioc_hub.access.service import area_clause
from ioc_hub.aggregates.schemas import OutputFormat
from ioc_hub.errors import Invalid, NotFound
from ioc_hub.ingest import reads
from ioc_hub.kit.dialect import upsert
from ioc_hub.kit.pagination import AnySelect, Page, PageParams, count_rows
from ioc_hub.kit.periods import Cadence, Period, PeriodError, month_of
from ioc_hub.models import FollowUp, Indicator, Observation, Unit, UnitKind
from ioc_hub.quality import repository
from ioc_hub.quality.schemas import (
    CSV_COLUMNS,
    FollowUpIn,
    FollowUpOut,
    FollowUpState,
    OutlierRow,
    OutliersOut,
)
from ioc_hub.quality.stats import Algorithm, flag, judge_range, months_before
from ioc_hub.registry import service as registry

DEFAULT_DAYS = 90
"""The default window: this many days up to the end of ``to``."""

MAX_JUDGED = 200_000
"""Most stored values one request judges."""

MAX_INDICATORS = 20


@dataclass(frozen=True)
class OutlierQuery:
    """What a caller asks for, as sent."""

    indicators: Sequence[str] = ()
    area: str | None = None
    period_from: str | None = None
    period_to: str | None = None
    algorithm: Algorithm = Algorithm.MODIFIED_Z
    threshold: float = 3.0
    max_results: int = 1000
    baseline_months: int | None = None
    baseline_from: str | None = None
    baseline_to: str | None = None
    lower: float | None = None
    upper: float | None = None


async def outliers(
    session: AsyncSession,
    principal: Principal,
    query: OutlierQuery,
    *,
    now: datetime,
    tz: tzinfo,
    min_points: int,
    default_months: int,
) -> OutliersOut:
    """The values of ``query``'s window and area that score above its threshold, worst first."""
    _check_algorithm_options(query)
    start, end = _window(query, now, tz)
    conditions = [area_clause(principal), *await _area(session, principal, query.area)]
    conditions += await _indicators(session, query.indicators)
    values = await repository.values_in(session, conditions, start, end, MAX_JUDGED + 1)
    if len(values) > MAX_JUDGED:
        raise Invalid(
            f"more than {MAX_JUDGED} stored values in the window and area: narrow from/to, the "
            "area or the indicators",
            field="query.from",
        )
    rows = (
        _outside_range(values, query)
        if query.algorithm is Algorithm.RANGE
        else await _scored(session, values, query, min_points, default_months)
    )
    rows.sort(key=lambda r: (-r.score, r.indicator, r.unit, r.period))
    return OutliersOut(
        algorithm=query.algorithm,
        threshold=query.threshold,
        judged=len(values),
        total=len(rows),
        items=rows[: query.max_results],
    )


def _check_algorithm_options(query: OutlierQuery) -> None:
    if query.algorithm is not Algorithm.RANGE:
        for name in ("lower", "upper"):
            if getattr(query, name) is not None:
                raise Invalid(f"{name} applies to algorithm=range only", field=f"query.{name}")
    else:
        for name in ("baseline_months", "baseline_from", "baseline_to"):
            if getattr(query, name) is not None:
                raise Invalid(
                    f"{name} applies to z_score and modified_z; range judges against bounds",
                    field=f"query.{name}",
                )
    if query.lower is not None and query.upper is not None and query.lower > query.upper:
        raise Invalid(f"lower {query.lower} is above upper {query.upper}", field="query.lower")
    fixed = query.baseline_from is not None or query.baseline_to is not None
    if fixed and query.baseline_months is not None:
        raise Invalid(
            "give baseline_months (each value's own months) or baseline_from and baseline_to "
            "(one window for all), not both",
            field="query.baseline_months",
        )


def _period(text: str, name: str) -> Period:
    try:
        return Period.parse(text)
    except PeriodError as exc:
        raise Invalid(str(exc), field=f"query.{name}") from None


def _span(first: str, last: str, names: tuple[str, str]) -> tuple[date, date]:
    """[start, end) from the first day of ``first`` to the end of ``last``."""
    low, high = _period(first, names[0]), _period(last, names[1])
    if low.start >= high.end:
        raise Invalid(f"{names[0]} {first} is after {names[1]} {last}", field=f"query.{names[0]}")
    return low.start, high.end


def _window(query: OutlierQuery, now: datetime, tz: tzinfo) -> tuple[date, date]:
    """The judged window: ``to`` defaults to today, ``from`` to :data:`DEFAULT_DAYS` days
    before the end of ``to``."""
    last = query.period_to or Period.containing(now, Cadence.DAILY, tz).id
    if query.period_from is not None:
        return _span(query.period_from, last, ("from", "to"))
    end = _period(last, "to").end
    try:
        start = end - timedelta(days=DEFAULT_DAYS)
    except OverflowError:
        raise Invalid("no default from before this to; give from", field="query.from") from None
    return start, end


async def _area(
    session: AsyncSession, principal: Principal, code: str | None
) -> list[ColumnElement[bool]]:
    """The area's units: the unit named and the units below it."""
    if code is None:
        return []
    area = await registry.unit_in_area(session, principal, code, field="query.area")
    if area.kind == UnitKind.PROVINCE:
        return []
    return [(Unit.id == area.id) | (Unit.parent_id == area.id)]


async def _indicators(session: AsyncSession, texts: Sequence[str]) -> list[ColumnElement[bool]]:
    # Repeated (indicator=A&indicator=B) or comma-separated: codes never contain a comma.
    codes = list(dict.fromkeys(c for text in texts for c in text.split(",") if c))
    if not codes:
        return []
    if len(codes) > MAX_INDICATORS:
        raise Invalid(
            f"{len(codes)} indicators asked for; at most {MAX_INDICATORS} per request",
            field="query.indicator",
        )
    rows = await session.execute(
        select(Indicator.code, Indicator.id).where(Indicator.code.in_(codes))
    )
    found = {r.code: r.id for r in rows}
    for code in codes:
        if code not in found:
            raise NotFound(f"unknown indicator {code!r}", field="query.indicator")
    return [Indicator.id.in_(list(found.values()))]


async def _scored(
    session: AsyncSession,
    values: Sequence[repository.Judged],
    query: OutlierQuery,
    min_points: int,
    default_months: int,
) -> list[OutlierRow]:
    if query.baseline_from is not None or query.baseline_to is not None:
        if query.baseline_from is None or query.baseline_to is None:
            missing = "baseline_from" if query.baseline_from is None else "baseline_to"
            raise Invalid(f"{missing} is needed with the other", field=f"query.{missing}")
        fixed = _span(query.baseline_from, query.baseline_to, ("baseline_from", "baseline_to"))

        def window(v: repository.Judged) -> repository.Window:
            return repository.Window(v.unit_id, v.indicator_id, *fixed)

    else:
        months = query.baseline_months or default_months

        def window(v: repository.Judged) -> repository.Window:
            month = month_of(v.period_start)
            return repository.Window(v.unit_id, v.indicator_id, months_before(month, months), month)

    windows = {v: window(v) for v in values}
    found = await repository.baselines(session, set(windows.values()))
    rows = []
    for v, w in windows.items():
        baseline = found.get(w)
        if baseline is None:
            continue
        judgement = flag(v.value, baseline, query.algorithm, query.threshold, min_points)
        if judgement is None:
            continue
        rows.append(
            OutlierRow(
                unit=v.unit,
                indicator=v.indicator,
                period=v.period,
                value=v.value,
                centre=judgement.centre,
                spread=judgement.spread,
                score=judgement.score,
                lower=judgement.lower,
                upper=judgement.upper,
                n=baseline.n,
            )
        )
    return rows


def _outside_range(values: Sequence[repository.Judged], query: OutlierQuery) -> list[OutlierRow]:
    """Values outside the bounds given, or else their indicator's valid range."""
    rows = []
    for v in values:
        lower = query.lower if query.lower is not None else v.min_value
        upper = query.upper if query.upper is not None else v.max_value
        judgement = judge_range(v.value, lower, upper)
        if judgement is None:
            continue
        rows.append(
            OutlierRow(
                unit=v.unit,
                indicator=v.indicator,
                period=v.period,
                value=v.value,
                centre=None,
                spread=None,
                score=judgement.score,
                lower=judgement.lower,
                upper=judgement.upper,
                n=None,
            )
        )
    return rows


def render(answer: OutliersOut, fmt: OutputFormat) -> tuple[bytes, str]:
    """The answer as JSON, or CSV (one line per row; ``X-Total-Count`` carries the total)."""
    if fmt is OutputFormat.JSON:
        return orjson.dumps(answer.model_dump(mode="json")), "application/json"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in answer.items:
        writer.writerow(
            [
                "" if x is None else repr(x) if isinstance(x, float) else x
                for x in r.model_dump().values()
            ]
        )
    return buffer.getvalue().encode(), "text/csv; charset=utf-8"


# --- follow-up --------------------------------------------------------------------------------


async def set_follow_up(
    session: AsyncSession,
    principal: Principal,
    path: tuple[str, str, str],
    body: FollowUpIn,
    now: datetime,
) -> FollowUpOut:
    """Mark (or unmark) the observation ``path`` names (unit, indicator, period) for follow-up."""
    observation = await reads.observation_id(session, principal, *path)
    statement = upsert(session, FollowUp)
    statement = statement.on_conflict_do_update(
        index_elements=[FollowUp.observation_id],
        set_={
            "follow_up": statement.excluded.follow_up,
            "note": statement.excluded.note,
            "updated_at": statement.excluded.updated_at,
            "key_id": statement.excluded.key_id,
        },
    )
    await session.execute(
        statement,
        {
            "observation_id": observation,
            "follow_up": body.follow_up,
            "note": body.note,
            "updated_at": now,
            "key_id": principal.key_id,
        },
    )
    rows = await session.execute(_follow_ups().where(Observation.id == observation))
    return _follow_up_out(rows.one())


def _follow_ups() -> AnySelect:
    return (
        select(
            Unit.code,
            Indicator.code,
            Observation.period,
            Observation.value,
            FollowUp.follow_up,
            FollowUp.note,
            FollowUp.updated_at,
        )
        .select_from(FollowUp)
        .join(Observation, Observation.id == FollowUp.observation_id)
        .join(Unit, Unit.id == Observation.unit_id)
        .join(Indicator, Indicator.id == Observation.indicator_id)
    )


def _follow_up_out(row: Sequence[object]) -> FollowUpOut:
    return FollowUpOut.model_validate(dict(zip(FollowUpOut.model_fields, row, strict=True)))


async def list_follow_ups(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    area: str | None,
    indicators: Sequence[str],
    state: FollowUpState,
) -> Page[FollowUpOut]:
    """Follow-ups in the key's area, most recently changed first."""
    query = _follow_ups().where(
        area_clause(principal),
        *await _area(session, principal, area),
        *await _indicators(session, indicators),
    )
    if state is not FollowUpState.ANY:
        query = query.where(FollowUp.follow_up == (state is FollowUpState.OPEN))
    rows = await session.execute(
        page.window(query, FollowUp.updated_at.desc(), FollowUp.observation_id)
    )
    return Page.of([_follow_up_out(r) for r in rows], await count_rows(session, query), page)
