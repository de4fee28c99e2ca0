from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from ioc_hub.aggregates import service as aggregates
from ioc_hub.aggregates.endpoints import (
    ROWS_RESPONSES,
    Accept,
    AggregatePageDep,
    BoundariesOn,
    BoundariesQuery,
    Bucket,
    ChangedSince,
    Format,
    IfNoneMatch,
    PeriodFrom,
    PeriodTo,
    to_response,
)
from ioc_hub.aggregates.rules import Boundaries, Level
from ioc_hub.aggregates.schemas import AggregateRow, OutputFormat
from ioc_hub.deps import NowDep, ReadSessionDep, RegistryMemoDep, SettingsDep
from ioc_hub.errors import problem_doc
from ioc_hub.kit.pagination import Page
from ioc_hub.kit.params import CODE_PATTERN
from ioc_hub.opendata import service
from ioc_hub.opendata.schemas import Catalog
from ioc_hub.registry.timeline import local_day

router = APIRouter(prefix="/open/v1", tags=["open data"])


@router.get(
    "/catalog",
    summary="Open-data catalogue",
    operation_id="get_open_catalog",
    responses={404: problem_doc("The registry has no province yet")},
)
async def get_open_catalog(
    request: Request,
    response: Response,
    session: ReadSessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> Catalog:
    """Every open indicator (DCAT field names) with its download links; no key needed."""

    def link(code: str, fmt: OutputFormat, level: Level) -> str:
        url = request.url_for("get_open_data", indicator=code)
        return str(url.include_query_params(format=fmt.value, level=level.value))

    response.headers["Access-Control-Allow-Origin"] = "*"
    return await service.catalog(session, link, local_day(now, settings.tz))


@router.get(
    "/data/{indicator}",
    summary="Open data of an indicator",
    operation_id="get_open_data",
    response_model=Page[AggregateRow],
    responses=ROWS_RESPONSES,
)
async def get_open_data(
    indicator: Annotated[
        str,
        Path(
            max_length=64,
            pattern=CODE_PATTERN,
            description="Code of an open indicator",
            examples=["CPI"],
        ),
    ],
    session: ReadSessionDep,
    memo: RegistryMemoDep,
    settings: SettingsDep,
    now: NowDep,
    page: AggregatePageDep,
    bucket: Bucket = None,
    period_from: PeriodFrom = None,
    period_to: PeriodTo = None,
    area: Annotated[
        str | None,
        Query(
            max_length=32,
            pattern=CODE_PATTERN,
            description="The registry's root (the province or the nation), a district or a "
            "province under the nation; default: the root",
        ),
    ] = None,
    level: Annotated[
        Level | None,
        Query(
            description="nation, province or district, at or below the area's (commune and "
            "unit are never published)"
        ),
    ] = None,
    changed_since: ChangedSince = None,
    boundaries: BoundariesQuery = Boundaries.CURRENT,
    boundaries_on: BoundariesOn = None,
    output_format: Format = None,
    if_none_match: IfNoneMatch = None,
    accept: Accept = None,
) -> Response:
    """An open indicator per bucket for the root or its parts; JSON or CSV, no key."""
    query = aggregates.AggregateQuery(
        indicators=[indicator],
        bucket=bucket,
        period_from=period_from,
        period_to=period_to,
        area=area,
        level=level,
        changed_since=changed_since,
        boundaries=boundaries,
        boundaries_on=boundaries_on,
        indicator_field="path.indicator",
    )
    rows = await service.open_data(session, memo, settings, now, query, page)
    fmt = aggregates.choose_format(output_format, accept)
    return to_response(
        aggregates.represent(rows, fmt, if_none_match, public=True, filename=indicator)
    )
