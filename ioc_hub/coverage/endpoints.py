from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ioc_hub.access.dependencies import AUTH_RESPONSES, scoped
from ioc_hub.access.principal import Principal
from ioc_hub.coverage import service
from ioc_hub.coverage.rules import SeriesStatus
from ioc_hub.coverage.schemas import (
    CompletenessReport,
    CoverageReport,
    GroupBy,
    StalenessReport,
)
from ioc_hub.coverage.service import SeriesFilter
from ioc_hub.deps import NowDep, ReadSessionDep, SettingsDep
from ioc_hub.errors import problem_doc
from ioc_hub.kit.pagination import PageDep
from ioc_hub.kit.params import CODE_PATTERN
from ioc_hub.kit.periods import Cadence
from ioc_hub.models import Scope, UnitKind

Operator = Annotated[Principal, Depends(scoped(Scope.COVERAGE_READ))]

router = APIRouter(
    prefix="/api/v1",
    tags=["coverage"],
    responses={
        **AUTH_RESPONSES,
        404: problem_doc("A filter names an unknown unit, indicator or group"),
    },
)

AtQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        description="Evaluate as of this ISO 8601 instant, with an offset (default: now). A past "
        "instant is evaluated from stored receipt times; a future one as if nothing more arrives",
        examples=["2026-11-30T08:00:00+07:00"],
    ),
]
KindQuery = Annotated[
    UnitKind | None, Query(description="Only units of this kind (not `province`)")
]
DistrictQuery = Annotated[
    str | None,
    Query(
        max_length=32,
        pattern=CODE_PATTERN,
        description="Only this district and its communes (a district code); bounded by the "
        "key's area",
        examples=["718"],
    ),
]

AreaQuery = Annotated[
    str | None,
    Query(
        max_length=32,
        pattern=CODE_PATTERN,
        description="Same as `district`: the area's code (a province of the nation as well)",
        examples=["718"],
    ),
]


def series_filter(
    unit: Annotated[
        str | None,
        Query(
            max_length=32,
            pattern=CODE_PATTERN,
            description="Only this unit's series",
            examples=["25741"],
        ),
    ] = None,
    kind: KindQuery = None,
    district: DistrictQuery = None,
    area: AreaQuery = None,
    indicator: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=CODE_PATTERN,
            description="Only this indicator",
            examples=["DVC-HS-TIEP-NHAN"],
        ),
    ] = None,
    group: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=CODE_PATTERN,
            description="Only indicators of this group",
            examples=["G-DVC"],
        ),
    ] = None,
    cadence: Annotated[Cadence | None, Query(description="Only indicators of this cadence")] = None,
) -> SeriesFilter:
    return SeriesFilter.of(
        unit=unit,
        kind=kind,
        district=district,
        area=area,
        indicator=indicator,
        group=group,
        cadence=cadence,
    )


FilterDep = Annotated[SeriesFilter, Depends(series_filter)]


@router.get("/coverage", summary="Connection coverage", operation_id="get_coverage")
async def get_coverage(
    session: ReadSessionDep,
    settings: SettingsDep,
    principal: Operator,
    now: NowDep,
    page: PageDep,
    at: AtQuery = None,
    kind: KindQuery = None,
    district: DistrictQuery = None,
    area: AreaQuery = None,
) -> CoverageReport:
    """Connected over registered units per kind ("department 17/18"), then unit by unit."""
    return await service.coverage(
        session,
        settings,
        principal,
        page,
        filters=SeriesFilter.of(kind=kind, district=district, area=area),
        at_text=at,
        now=now,
    )


@router.get("/staleness", summary="Staleness per series", operation_id="get_staleness")
async def get_staleness(
    session: ReadSessionDep,
    settings: SettingsDep,
    principal: Operator,
    now: NowDep,
    page: PageDep,
    filters: FilterDep,
    at: AtQuery = None,
    status: Annotated[
        list[SeriesStatus] | None,
        Query(description="Only series in these statuses (repeat the parameter for several)"),
    ] = None,
) -> StalenessReport:
    """Every obligated series with its status, lag and deadline, worst first."""
    return await service.staleness(
        session,
        settings,
        principal,
        page,
        filters=filters,
        statuses=set(status) if status else None,
        at_text=at,
        now=now,
    )


@router.get(
    "/completeness", summary="Completeness (reporting rate)", operation_id="get_completeness"
)
async def get_completeness(
    session: ReadSessionDep,
    settings: SettingsDep,
    principal: Operator,
    now: NowDep,
    page: PageDep,
    filters: FilterDep,
    period_from: Annotated[
        str,
        Query(
            alias="from",
            max_length=10,
            description="First period of the range, inclusive (any cadence; DHIS2 ids accepted)",
            examples=["2026-11"],
        ),
    ],
    period_to: Annotated[
        str,
        Query(
            alias="to",
            max_length=10,
            description="Last period of the range, inclusive (any cadence)",
            examples=["2026-11"],
        ),
    ],
    group_by: Annotated[GroupBy, Query(description="What each row counts")] = GroupBy.KIND,
    at: AtQuery = None,
) -> CompletenessReport:
    """Expected, received and on-time reports over a period range, with their rates."""
    return await service.completeness(
        session,
        settings,
        principal,
        page,
        filters=filters,
        group_by=group_by,
        period_from=period_from,
        period_to=period_to,
        at_text=at,
        now=now,
    )
