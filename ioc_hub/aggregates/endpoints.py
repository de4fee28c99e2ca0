from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import StringConstraints

from ioc_hub.access.dependencies import AUTH_RESPONSES, scoped
from ioc_hub.access.principal import Principal
from ioc_hub.aggregates import service
from ioc_hub.aggregates.rules import Boundaries, Level
from ioc_hub.aggregates.schemas import CSV_EXAMPLE, AggregateRow, OutputFormat
from ioc_hub.deps import NowDep, ReadSessionDep, RegistryMemoDep, SettingsDep
from ioc_hub.errors import problem_doc
from ioc_hub.kit.pagination import Offset, Page, PageParams
from ioc_hub.kit.params import CODE_LIST_PATTERN, CODE_PATTERN, IsoDate, IsoDateTime
from ioc_hub.kit.periods import PERIOD_PATTERN, Cadence
from ioc_hub.models import Scope

Reader = Annotated[Principal, Depends(scoped(Scope.AGGREGATES_READ))]


async def page_params(
    limit: Annotated[int, Query(ge=1, le=10_000, description="Rows per page")] = 1000,
    offset: Offset = 0,
) -> PageParams:
    """Pages of aggregates are larger than other lists': a download is usually one page."""
    return PageParams(limit=limit, offset=offset)


AggregatePageDep = Annotated[PageParams, Depends(page_params)]

# The query parameters the private and the open endpoint share.
Bucket = Annotated[
    Cadence | None,
    Query(description="Time bucket: the indicator's cadence (the default) or a coarser one"),
]
PeriodFrom = Annotated[
    str | None,
    Query(
        alias="from",
        max_length=10,
        pattern=PERIOD_PATTERN,
        description="First period, any cadence (2026-01, 2026-Q1, 2026-W05…); "
        "default: 12 buckets before `to`",
        examples=["2026-01"],
    ),
]
PeriodTo = Annotated[
    str | None,
    Query(
        alias="to",
        max_length=10,
        pattern=PERIOD_PATTERN,
        description="Last period, inclusive; default: the current bucket",
        examples=["2026-12"],
    ),
]
ChangedSince = Annotated[
    IsoDateTime | None,
    Query(
        description="Only rows with an observation received (created or changed) at or after "
        "this time; poll with the time of your previous pull minus a minute (an answer may "
        "come from a read replica a few seconds behind)"
    ),
]
Format = Annotated[
    OutputFormat | None,
    Query(alias="format", description="json or csv; overrides the Accept header"),
]
IfNoneMatch = Annotated[
    str | None,
    Header(alias="If-None-Match", description="ETag of a copy you hold: 304 when it is current"),
]
Accept = Annotated[str | None, Header(alias="Accept", include_in_schema=False)]
BoundariesQuery = Annotated[
    Boundaries,
    Query(
        description="The map across reorganisations: `current` carries values of units that no "
        "longer exist to the units of `boundaries_on` through lineage (by share); `as_reported` "
        "rolls each period up the tree of its own first day",
    ),
]
BoundariesOn = Annotated[
    IsoDate | None,
    Query(
        description="With boundaries=current, the day whose tree the answer uses; default: "
        "today in the province's zone",
        examples=["2025-07-01"],
    ),
]

ROWS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Rows as JSON (a page) or CSV (`X-Total-Count` holds the total)",
        "content": {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}},
    },
    304: {"description": "Not modified: the ETag in If-None-Match is still current"},
    404: problem_doc("Unknown indicator or area"),
}

router = APIRouter(prefix="/api/v1/aggregates", tags=["aggregates"], responses=AUTH_RESPONSES)


def to_response(representation: service.Representation) -> Response:
    return Response(
        representation.body,
        representation.status,
        headers=representation.headers,
        media_type=representation.media_type,
    )


@router.get(
    "",
    summary="Aggregated values",
    operation_id="get_aggregates",
    response_model=Page[AggregateRow],
    responses=ROWS_RESPONSES,
)
async def get_aggregates(
    session: ReadSessionDep,
    memo: RegistryMemoDep,
    settings: SettingsDep,
    principal: Reader,
    now: NowDep,
    page: AggregatePageDep,
    indicator: Annotated[
        list[Annotated[str, StringConstraints(pattern=CODE_LIST_PATTERN)]],
        Query(
            description="Indicator code; repeat it or separate codes with commas",
            examples=["DVC-HS-TIEP-NHAN"],
        ),
    ],
    bucket: Bucket = None,
    period_from: PeriodFrom = None,
    period_to: PeriodTo = None,
    area: Annotated[
        str | None,
        Query(
            max_length=32,
            pattern=CODE_PATTERN,
            description="Province, district or commune code; default: the key's area",
        ),
    ] = None,
    level: Annotated[
        Level | None,
        Query(description="Group rows by province, district, commune or unit; default: the area"),
    ] = None,
    changed_since: ChangedSince = None,
    boundaries: BoundariesQuery = Boundaries.CURRENT,
    boundaries_on: BoundariesOn = None,
    output_format: Format = None,
    if_none_match: IfNoneMatch = None,
    accept: Accept = None,
) -> Response:
    """Indicators per bucket and area, reports received against expected; JSON or CSV, ETag."""
    query = service.AggregateQuery(
        indicators=indicator,
        bucket=bucket,
        period_from=period_from,
        period_to=period_to,
        area=area,
        level=level,
        changed_since=changed_since,
        boundaries=boundaries,
        boundaries_on=boundaries_on,
    )
    rows = await service.aggregate(
        session, settings, now, query, page, principal=principal, memo=memo
    )
    fmt = service.choose_format(output_format, accept)
    return to_response(service.represent(rows, fmt, if_none_match, public=False))
