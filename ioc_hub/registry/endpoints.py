from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from ioc_hub.access.dependencies import AUTH_RESPONSES, PrincipalDep, RegistryWriter
from ioc_hub.deps import SessionDep
from ioc_hub.errors import BODY_LIMIT_RESPONSES, problem_doc
from ioc_hub.kit.pagination import Page, PageDep
from ioc_hub.kit.params import CODE_PATTERN
from ioc_hub.models import UnitKind
from ioc_hub.registry import service
from ioc_hub.registry.schemas import UnitCreate, UnitOut, UnitUpdate

router = APIRouter(prefix="/api/v1/units", tags=["registry"], responses=AUTH_RESPONSES)

CodePath = Annotated[
    str, Path(max_length=64, pattern=CODE_PATTERN, description="Unit code", examples=["25741"])
]


@router.post(
    "",
    summary="Register a unit",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_unit",
    responses={
        **BODY_LIMIT_RESPONSES,
        404: problem_doc("The registry has no province yet"),
        409: problem_doc("A unit with this code exists already"),
    },
)
async def create_unit(body: UnitCreate, session: SessionDep, principal: RegistryWriter) -> UnitOut:
    """Register a reporting unit under its parent (scope `registry:write`)."""
    unit = await service.create_unit(session, principal, body)
    return (await service.to_out(session, [unit]))[0]


@router.get(
    "",
    summary="List units",
    operation_id="list_units",
    responses={404: problem_doc("The parent unit does not exist")},
)
async def list_units(
    session: SessionDep,
    _: PrincipalDep,
    page: PageDep,
    kind: Annotated[UnitKind | None, Query(description="Only units of this kind")] = None,
    parent: Annotated[
        str | None,
        Query(max_length=64, pattern=CODE_PATTERN, description="Only children of this unit code"),
    ] = None,
    active: Annotated[bool | None, Query(description="Only active or inactive units")] = None,
) -> Page[UnitOut]:
    """The registry, ordered by code, filtered by kind, parent and active flag."""
    return await service.list_units(session, page, kind=kind, parent=parent, active=active)


@router.get(
    "/{code}",
    summary="Get a unit",
    operation_id="get_unit",
    responses={404: problem_doc("No unit has this code")},
)
async def get_unit(code: CodePath, session: SessionDep, _: PrincipalDep) -> UnitOut:
    """One unit by its code."""
    unit = await service.get_unit(session, code, field="path.code")
    return (await service.to_out(session, [unit]))[0]


@router.patch(
    "/{code}",
    summary="Update a unit",
    operation_id="update_unit",
    responses={
        **BODY_LIMIT_RESPONSES,
        404: problem_doc("No unit has this code"),
        409: problem_doc("The unit still has active children"),
    },
)
async def update_unit(
    code: CodePath, body: UnitUpdate, session: SessionDep, principal: RegistryWriter
) -> UnitOut:
    """Rename, move under another parent, or (de)activate a unit (scope `registry:write`)."""
    unit = await service.update_unit(session, principal, code, body)
    return (await service.to_out(session, [unit]))[0]


@router.delete(
    "/{code}",
    summary="Deactivate a unit",
    operation_id="deactivate_unit",
    responses={
        404: problem_doc("No unit has this code"),
        409: problem_doc("The unit still has active children"),
    },
)
async def deactivate_unit(
    code: CodePath, session: SessionDep, principal: RegistryWriter
) -> UnitOut:
    """Mark a unit inactive; units are never hard-deleted, so their history stays."""
    unit = await service.deactivate_unit(session, principal, code)
    return (await service.to_out(session, [unit]))[0]
