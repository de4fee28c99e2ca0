from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from ioc_hub.access.dependencies import AUTH_RESPONSES, PrincipalDep, RegistryWriter
from ioc_hub.access.principal import Principal
from ioc_hub.deps import ReadSessionDep, SessionDep
from ioc_hub.errors import BODY_LIMIT_RESPONSES, Forbidden, problem_doc
from ioc_hub.kit.pagination import Page, PageDep
from ioc_hub.kit.params import CODE_PATTERN, IsoDate
from ioc_hub.models import UnitKind
from ioc_hub.registry import reorganise, service
from ioc_hub.registry.schemas import (
    ReorganisationIn,
    ReorganisationOut,
    UnitCreate,
    UnitHistory,
    UnitOut,
    UnitUpdate,
)

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
    session: ReadSessionDep,
    _: PrincipalDep,
    page: PageDep,
    kind: Annotated[UnitKind | None, Query(description="Only units of this kind")] = None,
    parent: Annotated[
        str | None,
        Query(max_length=64, pattern=CODE_PATTERN, description="Only children of this unit code"),
    ] = None,
    active: Annotated[bool | None, Query(description="Only active or inactive units")] = None,
    at: Annotated[
        IsoDate | None,
        Query(
            description="The tree as of this day: units that existed then, as they were then",
            examples=["2025-06-30"],
        ),
    ] = None,
) -> Page[UnitOut]:
    """The registry, ordered by code, filtered by kind, parent and active flag."""
    return await service.list_units(session, page, kind=kind, parent=parent, active=active, day=at)


@router.get(
    "/{code}",
    summary="Get a unit",
    operation_id="get_unit",
    responses={404: problem_doc("No unit has this code")},
)
async def get_unit(code: CodePath, session: SessionDep, _: PrincipalDep) -> UnitHistory:
    """One unit by its code, with its versions, predecessors and successors."""
    unit = await service.get_unit(session, code, field="path.code")
    return await service.history(session, unit)


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


# --- reorganisations (docs/design.md §8) ------------------------------------------------------

reorganisations = APIRouter(
    prefix="/api/v1/reorganisations", tags=["registry"], responses=AUTH_RESPONSES
)


async def province_registrar(principal: RegistryWriter) -> Principal:
    """A reorganisation redraws the map: for province keys only."""
    if not principal.is_province:
        raise Forbidden(
            "reorganisations are for province keys only; "
            f"this key is bound to unit {principal.unit.code!r}"
        )
    return principal


ProvinceRegistrar = Annotated[Principal, Depends(province_registrar)]


@reorganisations.post(
    "",
    summary="Apply a reorganisation",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_reorganisation",
    responses={
        **BODY_LIMIT_RESPONSES,
        200: {
            "model": ReorganisationOut,
            "description": "Dry run: what would change; nothing was applied",
        },
        409: problem_doc("A unit already has a version from that day"),
    },
)
async def create_reorganisation(
    body: ReorganisationIn,
    session: SessionDep,
    _: ProvinceRegistrar,
    response: Response,
    dry_run: Annotated[
        bool, Query(description="Validate and count what would change; apply nothing")
    ] = False,
) -> ReorganisationOut:
    """Validate the event whole and apply it atomically (scope `registry:write`, province
    key). Units that end, units that start, new versions from the day and lineage edges."""
    out = await reorganise.apply(session, body, dry_run=dry_run)
    if dry_run:
        response.status_code = status.HTTP_200_OK
    return out


@reorganisations.get("", summary="List reorganisations", operation_id="list_reorganisations")
async def list_reorganisations(session: SessionDep, _: PrincipalDep) -> list[ReorganisationOut]:
    """Every reorganisation applied, oldest first."""
    return await reorganise.list_reorganisations(session)


@reorganisations.get(
    "/builtin/{name}",
    summary="A shipped reorganisation, as an event for this registry",
    operation_id="builtin_reorganisation",
)
async def builtin_reorganisation(
    name: Annotated[reorganise.Builtin, Path(description="A shipped reorganisation")],
    session: SessionDep,
    _: PrincipalDep,
) -> ReorganisationIn:
    """The event ``POST`` takes, built from the shipped data and today's registry: for
    ``binh-duong-2025``, the 1 July 2025 reform of Bình Dương into Thành phố Hồ Chí Minh."""
    return await reorganise.builtin(session, name)


@reorganisations.delete(
    "/{id}",
    summary="Undo a reorganisation",
    operation_id="undo_reorganisation",
    responses={
        404: problem_doc("No reorganisation has this id"),
        409: problem_doc(
            "Data is stored under its new units for periods from its day on, a later "
            "reorganisation depends on it, or a unit it started has keys"
        ),
    },
)
async def undo_reorganisation(
    id: Annotated[int, Path(ge=1, le=2**31 - 1, description="Reorganisation id")],
    session: SessionDep,
    _: ProvinceRegistrar,
) -> ReorganisationOut:
    """Remove the reorganisation and all it wrote, while nothing depends on it."""
    return await reorganise.undo(session, id)
