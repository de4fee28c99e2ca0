from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import StringConstraints

from ioc_hub.access.dependencies import AUTH_RESPONSES, scoped
from ioc_hub.access.principal import Principal
from ioc_hub.aggregates.schemas import OutputFormat
from ioc_hub.aggregates.service import choose_format
from ioc_hub.deps import NowDep, ReadSessionDep, SessionDep, SettingsDep
from ioc_hub.errors import problem_doc
from ioc_hub.kit.pagination import Page, PageDep
from ioc_hub.kit.params import CODE_LIST_PATTERN, CODE_PATTERN
from ioc_hub.kit.periods import PERIOD_PATTERN
from ioc_hub.models import Scope
from ioc_hub.quality import service
from ioc_hub.quality.schemas import (
    CSV_EXAMPLE,
    FollowUpIn,
    FollowUpOut,
    FollowUpState,
    OutliersOut,
)
from ioc_hub.quality.stats import Algorithm

# Data quality is the operators' standing work: the scope they read coverage with.
Operator = Annotated[Principal, Depends(scoped(Scope.COVERAGE_READ))]

Indicators = Annotated[
    list[Annotated[str, StringConstraints(pattern=CODE_LIST_PATTERN)]],
    Query(
        alias="indicator",
        description="Indicator code; repeat it or separate codes with commas; default: all",
        examples=["DVC-HS-TIEP-NHAN"],
    ),
]
Area = Annotated[
    str | None,
    Query(
        max_length=32,
        pattern=CODE_PATTERN,
        description="A unit code: that unit and the units below it; default: the key's area",
    ),
]


def _period(name: str, description: str) -> Any:
    return Query(
        alias=name, max_length=10, pattern=PERIOD_PATTERN, description=description, examples=[]
    )


router = APIRouter(prefix="/api/v1", tags=["quality"], responses=AUTH_RESPONSES)


@router.get(
    "/outliers",
    summary="Outliers of stored values",
    operation_id="get_outliers",
    response_model=OutliersOut,
    responses={
        200: {
            "description": "Flagged values, worst first, as JSON or CSV (`X-Total-Count`: all "
            "flagged)",
            "content": {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}},
        },
        404: problem_doc("Unknown indicator or area"),
    },
)
async def get_outliers(
    session: ReadSessionDep,
    settings: SettingsDep,
    principal: Operator,
    now: NowDep,
    indicator: Indicators = [],  # noqa: B006 (FastAPI copies defaults)
    area: Area = None,
    period_from: Annotated[
        str | None,
        _period("from", "First period judged, any cadence; default: 90 days before `to` ends"),
    ] = None,
    period_to: Annotated[
        str | None, _period("to", "Last period judged, inclusive, any cadence; default: today")
    ] = None,
    algorithm: Annotated[
        Algorithm,
        Query(
            description="`modified_z`: 0.6745·|x − median| / MAD; `z_score`: |x − mean| / sd; "
            "`range`: outside `lower`..`upper` (default: the indicator's valid range)"
        ),
    ] = Algorithm.MODIFIED_Z,
    threshold: Annotated[
        float,
        Query(ge=0.0, le=1e6, description="Values scoring above it are flagged (not for range)"),
    ] = 3.0,
    max_results: Annotated[int, Query(ge=1, le=10_000, description="Rows returned")] = 1000,
    baseline_months: Annotated[
        int | None,
        Query(
            ge=1,
            le=120,
            description="Each value's baseline: its series in this many calendar months before "
            "the month its period starts in (default: the hub's `outlier_baseline_months`, 12)",
        ),
    ] = None,
    baseline_from: Annotated[
        str | None,
        _period("baseline_from", "With baseline_to: one baseline window for every value"),
    ] = None,
    baseline_to: Annotated[
        str | None, _period("baseline_to", "Last period of the fixed baseline, inclusive")
    ] = None,
    lower: Annotated[
        float | None,
        Query(ge=-1e300, le=1e300, description="range: flag values below (default: the min)"),
    ] = None,
    upper: Annotated[
        float | None,
        Query(ge=-1e300, le=1e300, description="range: flag values above (default: the max)"),
    ] = None,
    output_format: Annotated[
        OutputFormat | None,
        Query(alias="format", description="json or csv; overrides the Accept header"),
    ] = None,
    accept: Annotated[str | None, Header(alias="Accept", include_in_schema=False)] = None,
) -> Response:
    """Stored values of the key's area that are improbable against their series' baseline
    (docs/design.md §9), worst first; JSON or CSV. Nothing is judged against fewer than the
    hub's `outlier_min_points` values, nor against a baseline without spread."""
    query = service.OutlierQuery(
        indicators=indicator,
        area=area,
        period_from=period_from,
        period_to=period_to,
        algorithm=algorithm,
        threshold=threshold,
        max_results=max_results,
        baseline_months=baseline_months,
        baseline_from=baseline_from,
        baseline_to=baseline_to,
        lower=lower,
        upper=upper,
    )
    answer = await service.outliers(
        session,
        principal,
        query,
        now=now,
        tz=settings.tz,
        min_points=settings.outlier_min_points,
        default_months=settings.outlier_baseline_months,
    )
    body, media = service.render(answer, choose_format(output_format, accept))
    return Response(body, media_type=media, headers={"X-Total-Count": str(answer.total)})


@router.put(
    "/observations/{unit}/{indicator}/{period}/follow-up",
    summary="Mark a value for follow-up",
    operation_id="set_follow_up",
    responses={404: problem_doc("No such unit, indicator or value")},
)
async def set_follow_up(
    unit: Annotated[str, Path(max_length=64, pattern=CODE_PATTERN)],
    indicator: Annotated[str, Path(max_length=64, pattern=CODE_PATTERN)],
    period: Annotated[str, Path(pattern=PERIOD_PATTERN)],
    body: FollowUpIn,
    session: SessionDep,
    principal: Operator,
    now: NowDep,
) -> FollowUpOut:
    """Mark a stored value for follow-up with a note, or mark it dealt with (`follow_up`
    false). The key must cover the unit; scope `coverage:read`."""
    return await service.set_follow_up(session, principal, (unit, indicator, period), body, now)


@router.get(
    "/follow-ups",
    summary="List follow-ups",
    operation_id="list_follow_ups",
    responses={404: problem_doc("Unknown indicator or area")},
)
async def list_follow_ups(
    session: SessionDep,
    principal: Operator,
    page: PageDep,
    indicator: Indicators = [],  # noqa: B006 (FastAPI copies defaults)
    area: Area = None,
    state: Annotated[
        FollowUpState, Query(description="open (the default), closed or any")
    ] = FollowUpState.OPEN,
) -> Page[FollowUpOut]:
    """Values marked for follow-up in the key's area, most recently changed first."""
    return await service.list_follow_ups(
        session, principal, page, area=area, indicators=indicator, state=state
    )
