from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from ioc_hub.access import service
from ioc_hub.access.dependencies import AUTH_RESPONSES, KeysAdmin
from ioc_hub.access.schemas import KeyCreate, KeyCreated, KeyOut
from ioc_hub.deps import NowDep, SessionDep
from ioc_hub.errors import BODY_LIMIT_RESPONSES, problem_doc
from ioc_hub.kit.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/keys", tags=["access"], responses=AUTH_RESPONSES)


@router.post(
    "",
    summary="Create an access key",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_key",
    responses=BODY_LIMIT_RESPONSES,
)
async def create_key(body: KeyCreate, session: SessionDep, principal: KeysAdmin) -> KeyCreated:
    """Mint a key for a unit in the caller's area; the token is shown in this response only."""
    return await service.create_key(session, principal, body)


@router.get("", summary="List access keys", operation_id="list_keys")
async def list_keys(
    session: SessionDep,
    principal: KeysAdmin,
    page: PageDep,
    include_revoked: Annotated[bool, Query(description="Also list revoked keys")] = False,
) -> Page[KeyOut]:
    """Keys of units in the caller's area; tokens are never shown."""
    return await service.list_keys(session, principal, page, include_revoked=include_revoked)


@router.delete(
    "/{key_id}",
    summary="Revoke an access key",
    operation_id="revoke_key",
    responses={404: problem_doc("No key has this id")},
)
async def revoke_key(
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    principal: KeysAdmin,
    now: NowDep,
) -> KeyOut:
    """Revoke a key at once; further calls with it get 401. Revoking twice is harmless."""
    return await service.revoke_key(session, principal, key_id, now)
