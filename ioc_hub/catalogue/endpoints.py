from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from ioc_hub.access.dependencies import AUTH_RESPONSES, PrincipalDep, RegistryWriter
from ioc_hub.catalogue import service
from ioc_hub.catalogue.schemas import (
    IndicatorCreate,
    IndicatorGroupCreate,
    IndicatorGroupOut,
    IndicatorOut,
    IndicatorUpdate,
    ObligationCreate,
    ObligationOut,
)
from ioc_hub.deps import SessionDep, SettingsDep
from ioc_hub.errors import BODY_LIMIT_RESPONSES, problem_doc
from ioc_hub.kit.pagination import Page, PageDep
from ioc_hub.kit.params import CODE_PATTERN
from ioc_hub.kit.periods import Cadence
from ioc_hub.models import UnitKind

groups = APIRouter(prefix="/api/v1/indicator-groups", tags=["catalogue"], responses=AUTH_RESPONSES)
indicators = APIRouter(prefix="/api/v1/indicators", tags=["catalogue"], responses=AUTH_RESPONSES)
obligations = APIRouter(prefix="/api/v1/obligations", tags=["catalogue"], responses=AUTH_RESPONSES)

GroupCodePath = Annotated[
    str,
    Path(
        max_length=64, pattern=CODE_PATTERN, description="Indicator group code", examples=["G-DVC"]
    ),
]
IndicatorCodePath = Annotated[
    str,
    Path(
        max_length=64,
        pattern=CODE_PATTERN,
        description="Indicator code",
        examples=["DVC-HS-TIEP-NHAN"],
    ),
]

NO_GROUP = problem_doc("No indicator group has this code")
NO_INDICATOR = problem_doc("No indicator has this code")


@groups.post(
    "",
    summary="Create an indicator group",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_indicator_group",
    responses={**BODY_LIMIT_RESPONSES, 409: problem_doc("A group with this code exists already")},
)
async def create_indicator_group(
    body: IndicatorGroupCreate, session: SessionDep, principal: RegistryWriter
) -> IndicatorGroupOut:
    """Add a group to the catalogue (scope `registry:write`, province-level key)."""
    group = await service.create_group(session, principal, body)
    return service.group_out(group)


@groups.get("", summary="List indicator groups", operation_id="list_indicator_groups")
async def list_indicator_groups(
    session: SessionDep, _: PrincipalDep, page: PageDep
) -> Page[IndicatorGroupOut]:
    """The indicator groups, ordered by code."""
    return await service.list_groups(session, page)


@groups.get(
    "/{code}",
    summary="Get an indicator group",
    operation_id="get_indicator_group",
    responses={404: NO_GROUP},
)
async def get_indicator_group(
    code: GroupCodePath, session: SessionDep, _: PrincipalDep
) -> IndicatorGroupOut:
    """One indicator group by its code."""
    return service.group_out(await service.get_group(session, code, field="path.code"))


@indicators.post(
    "",
    summary="Create an indicator",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_indicator",
    responses={
        **BODY_LIMIT_RESPONSES,
        409: problem_doc("An indicator with this code exists already"),
    },
)
async def create_indicator(
    body: IndicatorCreate, session: SessionDep, settings: SettingsDep, principal: RegistryWriter
) -> IndicatorOut:
    """Add an indicator to a group (scope `registry:write`, province-level key)."""
    indicator = await service.create_indicator(session, principal, body)
    return (await service.indicators_out(session, settings, [indicator]))[0]


@indicators.get(
    "",
    summary="List indicators",
    operation_id="list_indicators",
    responses={404: NO_GROUP},
)
async def list_indicators(
    session: SessionDep,
    settings: SettingsDep,
    _: PrincipalDep,
    page: PageDep,
    group: Annotated[
        str | None,
        Query(
            max_length=64, pattern=CODE_PATTERN, description="Only indicators of this group code"
        ),
    ] = None,
    cadence: Annotated[Cadence | None, Query(description="Only indicators of this cadence")] = None,
    open_: Annotated[
        bool | None, Query(alias="open", description="Only open (or only closed) indicators")
    ] = None,
    active: Annotated[bool | None, Query(description="Only active or inactive indicators")] = None,
) -> Page[IndicatorOut]:
    """The catalogue, ordered by code, filtered by group, cadence, open and active flags."""
    return await service.list_indicators(
        session, settings, page, group=group, cadence=cadence, open=open_, active=active
    )


@indicators.get(
    "/{code}",
    summary="Get an indicator",
    operation_id="get_indicator",
    responses={404: NO_INDICATOR},
)
async def get_indicator(
    code: IndicatorCodePath, session: SessionDep, settings: SettingsDep, _: PrincipalDep
) -> IndicatorOut:
    """One indicator by its code, with the grace in force."""
    indicator = await service.get_indicator(session, code, field="path.code")
    return (await service.indicators_out(session, settings, [indicator]))[0]


@indicators.patch(
    "/{code}",
    summary="Update an indicator",
    operation_id="update_indicator",
    responses={
        **BODY_LIMIT_RESPONSES,
        404: NO_INDICATOR,
    },
)
async def update_indicator(
    code: IndicatorCodePath,
    body: IndicatorUpdate,
    session: SessionDep,
    settings: SettingsDep,
    principal: RegistryWriter,
) -> IndicatorOut:
    """Rename, regroup, change the range, grace or flags; cadence and aggregations never change."""
    indicator = await service.update_indicator(session, principal, code, body)
    return (await service.indicators_out(session, settings, [indicator]))[0]


@indicators.delete(
    "/{code}",
    summary="Deactivate an indicator",
    operation_id="deactivate_indicator",
    responses={404: NO_INDICATOR},
)
async def deactivate_indicator(
    code: IndicatorCodePath, session: SessionDep, settings: SettingsDep, principal: RegistryWriter
) -> IndicatorOut:
    """Mark an indicator inactive; indicators are never hard-deleted, so their history stays."""
    indicator = await service.deactivate_indicator(session, principal, code)
    return (await service.indicators_out(session, settings, [indicator]))[0]


@obligations.post(
    "",
    summary="Create an obligation",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_obligation",
    responses={
        **BODY_LIMIT_RESPONSES,
        409: problem_doc("The same obligation exists already"),
    },
)
async def create_obligation(
    body: ObligationCreate, session: SessionDep, principal: RegistryWriter
) -> ObligationOut:
    """Oblige one unit, or every unit of a kind, to report an indicator (`registry:write`)."""
    return await service.create_obligation(session, principal, body)


@obligations.get(
    "",
    summary="List obligations",
    operation_id="list_obligations",
    responses={404: problem_doc("The indicator or unit of a filter does not exist")},
)
async def list_obligations(
    session: SessionDep,
    _: PrincipalDep,
    page: PageDep,
    indicator: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=CODE_PATTERN,
            description="Only obligations of this indicator code",
        ),
    ] = None,
    unit: Annotated[
        str | None,
        Query(
            max_length=32,
            pattern=CODE_PATTERN,
            description="Only obligations assigned to this unit code",
        ),
    ] = None,
    unit_kind: Annotated[
        UnitKind | None, Query(description="Only kind-wide obligations of this kind")
    ] = None,
) -> Page[ObligationOut]:
    """Obligations as assigned (kind-wide ones are not expanded), oldest first."""
    return await service.list_obligations(
        session, page, indicator=indicator, unit=unit, unit_kind=unit_kind
    )


@obligations.delete(
    "/{obligation_id}",
    summary="Remove an obligation",
    operation_id="delete_obligation",
    responses={404: problem_doc("No obligation has this id")},
)
async def delete_obligation(
    obligation_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    principal: RegistryWriter,
) -> ObligationOut:
    """Remove an obligation for good and return what it was (`registry:write`)."""
    return await service.delete_obligation(session, principal, obligation_id)


router = APIRouter()
router.include_router(groups)
router.include_router(indicators)
router.include_router(obligations)
