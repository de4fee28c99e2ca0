"""The dependency aliases every endpoint takes: settings, the request's session (or, for a route
that only reads, the read session), the clock.

All are ``async def``: FastAPI runs plain ``def`` dependencies in a thread pool, and the hop costs
more than these functions do.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import State

from ioc_hub.config import Settings
from ioc_hub.db import session_scope
from ioc_hub.errors import Invalid
from ioc_hub.registry.memo import RegistryMemo
from ioc_hub.replica import Replica


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: commit on success, roll back on any error."""
    state = request.app.state
    timeout = state.settings.db_timeout_seconds
    async for session in session_scope(state.session_factory, state.transaction_queue, timeout):
        yield session


def now_of(state: State) -> datetime:
    """The app's clock; tests and the emulator replace ``app.state.clock`` to move time."""
    clock = getattr(state, "clock", None)
    now: datetime = clock() if clock is not None else datetime.now(UTC)
    return now


async def get_now(request: Request) -> datetime:
    return now_of(request.app.state)


async def utf8_body(request: Request) -> None:
    """JSON bodies must be UTF-8 (RFC 8259 §8.1), without a byte order mark. FastAPI's parser
    also reads UTF-16 and UTF-32, and a BOM, so they are refused here, for every route. A body
    of another media type is no JSON (FastAPI reads JSON only when told so, or told nothing): a
    form or an upload was parsed already, its stream consumed, and is read for what it is."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        return
    body = await request.body()
    if not body:
        return
    if body.startswith(b"\xef\xbb\xbf"):
        raise Invalid("body must be UTF-8 without a byte order mark", field="body")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"body is not UTF-8: byte {exc.start} is not valid", field="body") from None


async def get_registry_memo(request: Request) -> RegistryMemo:
    memo: RegistryMemo = request.app.state.registry_memo
    return memo


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryMemoDep = Annotated[RegistryMemo, Depends(get_registry_memo)]
# scope="function": the commit happens before the response is sent, so a 2xx means it is stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
NowDep = Annotated[datetime, Depends(get_now)]


async def get_read_session(request: Request, primary: SessionDep) -> AsyncIterator[AsyncSession]:
    """The session of a read-heavy route that only reads: the read replica's while it keeps up
    (docs/design.md §7, Read replica), else the request's own on the primary. Routes that write,
    and reads that must see the caller's own writes at once, take ``SessionDep``."""
    # The fallback is the request's one primary session, the one its key was checked in: a
    # second would wait forever in SQLite's transaction queue. Unused, it opens no connection.
    state = request.app.state
    replica: Replica | None = state.replica
    session = await replica.session() if replica is not None else None
    state.metrics.read(replica=session is not None)
    if session is None:
        yield primary
        return
    async with session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
