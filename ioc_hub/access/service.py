"""Access keys: minted once, stored as hashes, bound to a unit's subtree (docs/design.md §6)."""

from datetime import datetime

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.access.principal import Principal, UnitRef
from ioc_hub.access.schemas import KeyCreate, KeyCreated, KeyOut
from ioc_hub.access.tokens import display_prefix, hash_token, new_token
from ioc_hub.errors import Forbidden, Invalid, NotFound, Unauthenticated
from ioc_hub.kit.pagination import Page, PageParams, count_rows
from ioc_hub.models import AccessKey, Scope, Unit, UnitKind
from ioc_hub.registry import service as registry


async def authenticate(session: AsyncSession, token: str | None) -> Principal:
    if not token:
        raise Unauthenticated("missing bearer token: send 'Authorization: Bearer <key>'")
    row = (
        await session.execute(
            select(
                AccessKey.id,
                AccessKey.scopes,
                AccessKey.revoked_at,
                Unit.id.label("unit_id"),
                Unit.code,
                Unit.kind,
                Unit.parent_id,
                Unit.active,
            )
            .join(Unit, Unit.id == AccessKey.unit_id)
            .where(AccessKey.token_hash == hash_token(token))
        )
    ).first()
    if row is None:
        raise Unauthenticated("unknown key")
    if row.revoked_at is not None:
        raise Unauthenticated("this key was revoked")
    if not row.active:
        raise Unauthenticated(f"this key's unit {row.code!r} is inactive")
    unit = UnitRef(id=row.unit_id, code=row.code, kind=UnitKind(row.kind), parent_id=row.parent_id)
    return Principal(key_id=row.id, unit=unit, scopes=frozenset(row.scopes.split()))


def require_scope(principal: Principal, scope: Scope) -> None:
    if scope.value not in principal.scopes:
        raise Forbidden(f"this key lacks the scope {scope.value!r}")


def _key_out(key: AccessKey, unit_code: str) -> KeyOut:
    return KeyOut(
        id=key.id,
        unit=unit_code,
        name=key.name,
        prefix=key.prefix,
        scopes=sorted(Scope(s) for s in key.scope_set),
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


async def mint_key(
    session: AsyncSession, unit: Unit, scopes: list[Scope], name: str = ""
) -> KeyCreated:
    """Create a key without asking who may; the CLI bootstraps the first admin key with it."""
    token = new_token()
    key = AccessKey(
        unit_id=unit.id,
        name=name,
        token_hash=hash_token(token),
        prefix=display_prefix(token),
        scopes=" ".join(sorted({s.value for s in scopes})),
    )
    session.add(key)
    await session.flush()
    await session.refresh(key)
    return KeyCreated(**_key_out(key, unit.code).model_dump(), token=token)


async def create_key(session: AsyncSession, principal: Principal, data: KeyCreate) -> KeyCreated:
    unit = await registry.unit_in_area(session, principal, data.unit, field="body.unit")
    if not unit.active:
        raise Invalid(f"unit {unit.code!r} is inactive", field="body.unit")
    beyond = sorted({s.value for s in data.scopes} - principal.scopes)
    if beyond:
        raise Forbidden(
            f"a key cannot grant scopes it does not hold: {', '.join(beyond)}", field="body.scopes"
        )
    return await mint_key(session, unit, data.scopes, data.name)


def area_clause(principal: Principal) -> ColumnElement[bool]:
    """SQL for "the unit is in the key's area", over ``Unit``: its own unit and its children,
    every unit for a province key (the same rule as :meth:`Principal.covers`)."""
    if principal.is_province:
        return true()
    return (Unit.id == principal.unit.id) | (Unit.parent_id == principal.unit.id)


async def list_keys(
    session: AsyncSession, principal: Principal | None, page: PageParams, *, include_revoked: bool
) -> Page[KeyOut]:
    """Keys the caller's area covers (all of them for the CLI, which passes no principal)."""
    query = select(AccessKey, Unit.code).join(Unit, Unit.id == AccessKey.unit_id)
    if principal is not None:
        query = query.where(area_clause(principal))
    if not include_revoked:
        query = query.where(AccessKey.revoked_at.is_(None))
    rows = await session.execute(page.window(query, AccessKey.id))
    items = [_key_out(key, code) for key, code in rows]
    return Page.of(items, await count_rows(session, query), page)


async def revoke_key(
    session: AsyncSession, principal: Principal | None, key_id: int, now: datetime
) -> KeyOut:
    row = (
        await session.execute(
            select(AccessKey, Unit)
            .join(Unit, Unit.id == AccessKey.unit_id)
            .where(AccessKey.id == key_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"key {key_id} does not exist", field="path.key_id")
    key, unit = row
    if principal is not None:
        registry.require_covered(principal, unit, "path.key_id")
    if key.revoked_at is None:
        key.revoked_at = now
        await session.flush()
    return _key_out(key, unit.code)
