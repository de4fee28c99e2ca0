"""DHIS2 identifiers mapped to the hub's codes (docs/design.md §10): a sender's data elements
and org units keep the identifiers its DHIS2 gives them."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.access.principal import Principal
from ioc_hub.dhis2.schemas import MappingIn, MappingOut, MappingUpdate
from ioc_hub.errors import Conflict, Forbidden, NotFound, no_such
from ioc_hub.kit.pagination import Page, PageParams, count_rows
from ioc_hub.models import Dhis2Kind, Dhis2Mapping, Indicator, Unit


def _require_province(principal: Principal) -> None:
    if not principal.is_province:
        raise Forbidden(
            "DHIS2 mappings are province-wide: only a province-level key may change them "
            f"(this key is bound to unit {principal.unit.code!r})"
        )


def _out(mapping: Dhis2Mapping) -> MappingOut:
    return MappingOut(
        id=mapping.id,
        kind=Dhis2Kind(mapping.kind),
        dhis2_id=mapping.dhis2_id,
        code=mapping.code,
        created_at=mapping.created_at,
    )


async def _check_target(session: AsyncSession, kind: Dhis2Kind, code: str) -> None:
    model = Indicator if kind is Dhis2Kind.DATA_ELEMENT else Unit
    if await session.scalar(select(model.id).where(model.code == code)) is None:
        what = "indicator" if kind is Dhis2Kind.DATA_ELEMENT else "unit"
        raise no_such(f"{what} {code!r} does not exist", field="body.code")


async def _get(session: AsyncSession, mapping_id: int) -> Dhis2Mapping:
    mapping = await session.get(Dhis2Mapping, mapping_id)
    if mapping is None:
        raise NotFound(f"mapping {mapping_id} does not exist", field="path.mapping_id")
    return mapping


async def create_mapping(
    session: AsyncSession, principal: Principal, data: MappingIn
) -> MappingOut:
    _require_province(principal)
    await _check_target(session, data.kind, data.code)
    mapping = Dhis2Mapping(kind=data.kind.value, dhis2_id=data.dhis2_id, code=data.code)
    try:
        async with session.begin_nested():
            session.add(mapping)
    except IntegrityError:
        raise Conflict(
            f"{data.kind.value} {data.dhis2_id!r} is mapped already", field="body.dhis2_id"
        ) from None
    await session.refresh(mapping)
    return _out(mapping)


async def list_mappings(
    session: AsyncSession, page: PageParams, kind: Dhis2Kind | None
) -> Page[MappingOut]:
    query = select(Dhis2Mapping)
    if kind is not None:
        query = query.where(Dhis2Mapping.kind == kind.value)
    rows = await session.scalars(page.window(query, Dhis2Mapping.id))
    return Page.of([_out(m) for m in rows], await count_rows(session, query), page)


async def get_mapping(session: AsyncSession, mapping_id: int) -> MappingOut:
    return _out(await _get(session, mapping_id))


async def update_mapping(
    session: AsyncSession, principal: Principal, mapping_id: int, data: MappingUpdate
) -> MappingOut:
    _require_province(principal)
    mapping = await _get(session, mapping_id)
    await _check_target(session, Dhis2Kind(mapping.kind), data.code)
    mapping.code = data.code
    await session.flush()
    return _out(mapping)


async def delete_mapping(
    session: AsyncSession, principal: Principal, mapping_id: int
) -> MappingOut:
    _require_province(principal)
    mapping = await _get(session, mapping_id)
    out = _out(mapping)
    await session.delete(mapping)
    await session.flush()
    return out
