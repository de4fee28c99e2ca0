"""The DHIS2 door's routes: ``/api/dataValueSets`` at DHIS2's own path, so that a DHIS2 client
given the hub's base URL works unchanged, and the identifier mappings under ``/api/v1``."""

import base64
import binascii
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request, Security, status
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import Field

from ioc_hub.access import service as access
from ioc_hub.access.dependencies import AUTH_RESPONSES, PrincipalDep, RegistryWriter
from ioc_hub.access.principal import Principal
from ioc_hub.deps import NowDep, ReadSessionDep, SessionDep
from ioc_hub.dhis2 import mappings, service
from ioc_hub.dhis2.schemas import (
    DataValueSetIn,
    DataValueSetOut,
    Dhis2WebMessage,
    ImportStrategy,
    MappingIn,
    MappingOut,
    MappingUpdate,
)
from ioc_hub.errors import BODY_LIMIT_RESPONSES, Unauthenticated, problem_doc
from ioc_hub.ingest.endpoints import IngestDep
from ioc_hub.kit.openapi import json_body
from ioc_hub.kit.pagination import Page, PageDep
from ioc_hub.models import Dhis2Kind, Scope

authorization = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    scheme_name="DHIS2Authorization",
    description="A hub key in any of DHIS2's forms: `ApiToken <key>` (a personal access token), "
    "`Basic` with any user name and the key as password, or `Bearer <key>`",
)


def dhis2_token(header: str | None) -> str | None:
    """The hub key in an ``Authorization`` header of any form DHIS2 clients send."""
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    match scheme.lower():
        case "apitoken" | "bearer":
            return credentials or None
        case "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise Unauthenticated("Basic credentials must be base64 of 'user:key'") from None
            _, colon, password = decoded.partition(":")
            if not colon:
                raise Unauthenticated("Basic credentials must be base64 of 'user:key'")
            return password or None
    raise Unauthenticated(
        f"unsupported Authorization scheme {printable_scheme(scheme)}: "
        "send 'ApiToken <key>', Basic with the key as password, or 'Bearer <key>'"
    )


def printable_scheme(scheme: str) -> str:
    return repr("".join(ch if ch.isprintable() else "?" for ch in scheme[:20]))


def dhis2_scoped(scope: Scope) -> Any:
    """A dependency: the caller, authenticated by any of DHIS2's header forms, with ``scope``."""

    async def dependency(
        session: SessionDep, header: Annotated[str | None, Security(authorization)]
    ) -> Principal:
        principal = await access.authenticate(session, dhis2_token(header))
        access.require_scope(principal, scope)
        return principal

    return dependency


Writer = Annotated[Principal, Depends(dhis2_scoped(Scope.OBSERVATIONS_WRITE))]
Reader = Annotated[Principal, Depends(dhis2_scoped(Scope.AGGREGATES_READ))]

# DHIS2's identifier schemes, in any case: uid, code, name, attribute:<uid>.
_SCHEME = (
    r"^([Uu][Ii][Dd]|[Cc][Oo][Dd][Ee]|[Nn][Aa][Mm][Ee]"
    r"|[Aa][Tt][Tt][Rr][Ii][Bb][Uu][Tt][Ee]:[A-Za-z0-9]{1,50})$"
)
_SCHEME_WORDS = (
    "CODE (the default here) or a mapped identifier; UID, NAME and attribute schemes are refused "
    "with a conflict, the hub having none of them"
)
Identifier = Annotated[str, Field(min_length=1, max_length=64)]

door = APIRouter(tags=["dhis2"], responses=AUTH_RESPONSES)

IMPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **BODY_LIMIT_RESPONSES,
    200: {"model": Dhis2WebMessage, "description": "Every row stored (or, with dryRun, storable)"},
    409: {
        "model": Dhis2WebMessage,
        "description": "Some rows conflicted (`WARNING`; the others were stored), or the body "
        "could not be read or named an unsupported id scheme (`ERROR`; nothing was stored). "
        "The conflicts say which rows and why, with DHIS2's error codes",
    },
    413: problem_doc("Body larger than `max_body_bytes`, or more rows than `max_batch`"),
}


@door.post(
    "/api/dataValueSets",
    summary="Import a DHIS2 data value set",
    operation_id="dhis2_import_data_values",
    response_model=Dhis2WebMessage,
    responses=IMPORT_RESPONSES,
    openapi_extra=json_body(DataValueSetIn, "A DHIS2 data value set (JSON)"),
)
async def import_data_values(
    request: Request,
    session: SessionDep,
    principal: Writer,
    ingest: IngestDep,
    now: NowDep,
    after_commit: BackgroundTasks,
    id_scheme: Annotated[
        str | None, Query(alias="idScheme", pattern=_SCHEME, description=_SCHEME_WORDS)
    ] = None,
    data_element_id_scheme: Annotated[
        str | None, Query(alias="dataElementIdScheme", pattern=_SCHEME, description=_SCHEME_WORDS)
    ] = None,
    org_unit_id_scheme: Annotated[
        str | None, Query(alias="orgUnitIdScheme", pattern=_SCHEME, description=_SCHEME_WORDS)
    ] = None,
    dry_run: Annotated[
        bool, Query(alias="dryRun", description="Check and count, store nothing")
    ] = False,
    import_strategy: Annotated[
        ImportStrategy,
        Query(alias="importStrategy", description="DELETE deletes, keeping a revision"),
    ] = ImportStrategy.CREATE_AND_UPDATE,
) -> JSONResponse:
    """DHIS2's `POST /api/dataValueSets`: rows go through the same checks and storage as a
    push (scope `observations:write`); the reply is DHIS2's import summary."""
    options = service.Options(
        id_scheme=id_scheme,
        data_element_id_scheme=data_element_id_scheme,
        org_unit_id_scheme=org_unit_id_scheme,
        dry_run=dry_run,
        strategy=import_strategy,
    )
    imported = await service.import_set(
        ingest, session, principal, await request.body(), options, now
    )
    # Background tasks run once the response is sent, so after the session committed.
    after_commit.add_task(ingest.notify, imported.outcome)
    message = imported.message
    return JSONResponse(message.model_dump(mode="json"), status_code=message.httpStatusCode)


async def export_query(
    data_set: Annotated[
        list[Identifier] | None,
        Query(alias="dataSet", description="Indicator group code; repeatable"),
    ] = None,
    data_element: Annotated[
        list[Identifier] | None,
        Query(alias="dataElement", description="Indicator code or mapped identifier; repeatable"),
    ] = None,
    period: Annotated[
        list[Identifier] | None,
        Query(description="DHIS2 period id (202401, 2024W3...); repeatable"),
    ] = None,
    start_date: Annotated[
        date | None, Query(alias="startDate", description="First period start, inclusive")
    ] = None,
    end_date: Annotated[
        date | None, Query(alias="endDate", description="Last period start, inclusive")
    ] = None,
    org_unit: Annotated[
        list[Identifier] | None,
        Query(alias="orgUnit", description="Unit code or mapped identifier; repeatable"),
    ] = None,
    children: Annotated[bool, Query(description="Also the org units' children")] = False,
) -> service.ExportQuery:
    return service.ExportQuery(
        data_sets=data_set or [],
        data_elements=data_element or [],
        periods=period or [],
        start_date=start_date,
        end_date=end_date,
        org_units=org_unit or [],
        children=children,
    )


EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: problem_doc("No such data set, data element or org unit"),
}


@door.get(
    "/api/dataValueSets",
    summary="Export a DHIS2 data value set",
    operation_id="dhis2_export_data_values",
    responses=EXPORT_RESPONSES,
)
@door.get(
    "/api/dataValueSets.json",
    summary="Export a DHIS2 data value set (.json, as DHIS2 clients ask)",
    operation_id="dhis2_export_data_values_json",
    responses=EXPORT_RESPONSES,
)
async def export_data_values(
    session: ReadSessionDep,
    principal: Reader,
    query: Annotated[service.ExportQuery, Depends(export_query)],
) -> DataValueSetOut:
    """DHIS2's `GET /api/dataValueSets`: stored values in DHIS2's shape, within the key's area
    (scope `aggregates:read`). Give `dataSet` or `dataElement`, `period` or `startDate` and
    `endDate`, and `orgUnit`."""
    return await service.export_set(session, principal, query)


router = APIRouter(prefix="/api/v1/dhis2/mappings", tags=["dhis2"], responses=AUTH_RESPONSES)
MappingId = Annotated[int, Path(ge=1, le=2**31 - 1)]
NO_MAPPING: dict[int | str, dict[str, Any]] = {404: problem_doc("No mapping has this id")}


@router.post(
    "",
    summary="Map a DHIS2 identifier",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_dhis2_mapping",
    responses={
        **BODY_LIMIT_RESPONSES,
        409: problem_doc("This identifier is mapped already"),
    },
)
async def create_mapping(
    body: MappingIn, session: SessionDep, principal: RegistryWriter
) -> MappingOut:
    """Let DHIS2 senders name an indicator (`dataElement`) or a unit (`orgUnit`) by their own
    identifier (`registry:write`, province keys)."""
    return await mappings.create_mapping(session, principal, body)


@router.get("", summary="List DHIS2 mappings", operation_id="list_dhis2_mappings")
async def list_mappings(
    session: SessionDep,
    _: PrincipalDep,
    page: PageDep,
    kind: Annotated[Dhis2Kind | None, Query(description="Only mappings of this kind")] = None,
) -> Page[MappingOut]:
    """DHIS2 identifiers and the hub codes they name, oldest first."""
    return await mappings.list_mappings(session, page, kind)


@router.get(
    "/{mapping_id}",
    summary="Get a DHIS2 mapping",
    operation_id="get_dhis2_mapping",
    responses=NO_MAPPING,
)
async def get_mapping(mapping_id: MappingId, session: SessionDep, _: PrincipalDep) -> MappingOut:
    """One mapping."""
    return await mappings.get_mapping(session, mapping_id)


@router.patch(
    "/{mapping_id}",
    summary="Point a DHIS2 mapping elsewhere",
    operation_id="update_dhis2_mapping",
    responses={**BODY_LIMIT_RESPONSES, **NO_MAPPING},
)
async def update_mapping(
    mapping_id: MappingId, body: MappingUpdate, session: SessionDep, principal: RegistryWriter
) -> MappingOut:
    """Change the hub code a DHIS2 identifier names (`registry:write`, province keys)."""
    return await mappings.update_mapping(session, principal, mapping_id, body)


@router.delete(
    "/{mapping_id}",
    summary="Remove a DHIS2 mapping",
    operation_id="delete_dhis2_mapping",
    responses=NO_MAPPING,
)
async def delete_mapping(
    mapping_id: MappingId, session: SessionDep, principal: RegistryWriter
) -> MappingOut:
    """Remove a mapping for good and return what it was (`registry:write`, province keys)."""
    return await mappings.delete_mapping(session, principal, mapping_id)
