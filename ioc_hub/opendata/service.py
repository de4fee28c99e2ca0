"""Open data (the article's open-data portal and catalogue): indicators flagged ``open`` are
published without a key, for the registry's root as a whole and by its parts (a province and its
districts; the nation and its provinces), through the aggregates service — never a commune's or
a single unit's figures, never an indicator that is not open."""

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.aggregates import service as aggregates
from ioc_hub.aggregates.rules import Level
from ioc_hub.aggregates.schemas import AggregateRow, OutputFormat
from ioc_hub.config import Settings
from ioc_hub.errors import NotFound
from ioc_hub.kit.pagination import Page, PageParams
from ioc_hub.kit.periods import Cadence
from ioc_hub.models import Indicator, IndicatorGroup, SeriesState, UnitKind
from ioc_hub.opendata.schemas import (
    ACCRUAL_PERIODICITY,
    CONFORMS_TO,
    Catalog,
    Dataset,
    Distribution,
    Publisher,
)
from ioc_hub.registry import timeline
from ioc_hub.registry.memo import RegistryMemo

# Builds the absolute download URL of an indicator's data in a format at a level.
LinkBuilder = Callable[[str, OutputFormat, Level], str]

# What the catalogue offers for each kind of root: the whole, then its parts, with their titles.
_PUBLISHED = {
    UnitKind.PROVINCE: ((Level.PROVINCE, "Toàn tỉnh"), (Level.DISTRICT, "Theo huyện, thành phố")),
    UnitKind.NATION: ((Level.NATION, "Toàn quốc"), (Level.PROVINCE, "Theo tỉnh, thành phố")),
}
_MEDIA = {OutputFormat.JSON: "application/json", OutputFormat.CSV: "text/csv"}


async def catalog(session: AsyncSession, link: LinkBuilder, today: date) -> Catalog:
    """Every open indicator, ordered by code, with a download per level and format; published
    by the root of ``today``'s tree, the province or the nation (docs/design.md §8)."""
    tree = timeline.tree_on(today)
    root = (
        await session.execute(
            select(tree.c.name, tree.c.kind)
            .where(tree.c.parent_id.is_(None), tree.c.kind.in_([k.value for k in _PUBLISHED]))
            .order_by(tree.c.code)
            .limit(1)
        )
    ).one_or_none()
    if root is None:
        raise NotFound("the registry has no province yet; run `ioc-hub seed`")
    name, levels = root.name, _PUBLISHED[UnitKind(root.kind)]
    publisher = Publisher(name=name)
    rows = (
        await session.execute(
            select(Indicator, IndicatorGroup)
            .join(IndicatorGroup, IndicatorGroup.id == Indicator.group_id)
            .where(Indicator.open.is_(True))
            .order_by(Indicator.code)
        )
    ).all()
    # series_state is kept at ingest: one row per series, so this never scans observations.
    received: dict[int, datetime] = {}
    if rows:
        latest = await session.execute(
            select(SeriesState.indicator_id, func.max(SeriesState.last_received_at).label("latest"))
            .where(SeriesState.indicator_id.in_([i.id for i, _ in rows]))
            .group_by(SeriesState.indicator_id)
        )
        received = {row.indicator_id: row.latest for row in latest}
    datasets = [
        Dataset(
            identifier=indicator.code,
            title=indicator.name,
            description=indicator.description,
            keyword=[group.code, indicator.cadence],
            theme=[group.name],
            accrualPeriodicity=ACCRUAL_PERIODICITY[Cadence(indicator.cadence)],
            cadence=Cadence(indicator.cadence),
            measurementUnit=indicator.measurement_unit,
            modified=received.get(indicator.id),
            spatial=name,
            publisher=publisher,
            distribution=[
                Distribution(
                    title=f"{title}, {fmt.value.upper()}",
                    format=fmt.value.upper(),
                    mediaType=_MEDIA[fmt],
                    downloadURL=link(indicator.code, fmt, level),
                )
                for level, title in levels
                for fmt in OutputFormat
            ],
        )
        for indicator, group in rows
    ]
    return Catalog(
        conformsTo=CONFORMS_TO,
        title=f"Dữ liệu mở – {name}",
        description=(
            "Các chỉ số mở của Trung tâm Điều hành thông minh (IOC): số liệu tổng hợp "
            f"{levels[0][1].lower()} và {levels[1][1].lower()}."
        ),
        publisher=publisher,
        modified=max((d.modified for d in datasets if d.modified is not None), default=None),
        dataset=datasets,
    )


async def open_data(
    session: AsyncSession,
    memo: RegistryMemo,
    settings: Settings,
    now: datetime,
    query: aggregates.AggregateQuery,
    page: PageParams,
) -> Page[AggregateRow]:
    """An open indicator's aggregates, as anyone may read them."""
    return await aggregates.aggregate(
        session, settings, now, query, page, principal=None, memo=memo
    )
