"""The engine for asyncpg or aiosqlite, SQLite's pragmas, and the request-owned session."""

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from ioc_hub.config import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    """One engine per process, owned by the app's lifespan (nothing connects at import)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(
            url, connect_args={"timeout": settings.db_timeout_seconds, "isolation_level": None}
        )
        _configure_sqlite(engine, busy_timeout_ms=int(settings.db_timeout_seconds * 1000))
        return engine
    # No pre-ping: it costs a round trip per request. A connection broken by a database restart
    # fails one request (503) and is invalidated; the pool reconnects on the next checkout.
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_timeout=settings.db_timeout_seconds,
        connect_args=_asyncpg_connect_args(settings),
    )


def create_read_engine(settings: Settings, url: str) -> AsyncEngine:
    """The read replica's engine (docs/design.md §7, Read replica). A read that cannot have a
    working replica connection goes to the primary, so the failure must come at checkout: each
    checkout pings its connection, and waits for one no longer than the lag bound (a replica
    that slow is as good as a lagging one)."""
    wait = min(settings.db_timeout_seconds, settings.read_max_lag_seconds)
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_timeout=wait,
        pool_pre_ping=True,
        connect_args={**_asyncpg_connect_args(settings), "timeout": wait},
    )


def _asyncpg_connect_args(settings: Settings) -> dict[str, Any]:
    # No JIT: estimates over partitions pass its threshold for statements that run in
    # milliseconds, and compiling them cost more than running them (docs/design.md §7).
    return {
        "timeout": settings.db_timeout_seconds,
        "command_timeout": settings.db_timeout_seconds * 3,
        "server_settings": {"application_name": "ioc-hub", "jit": "off"},
    }


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    # pysqlite's own transaction handling starts transactions late and lets a reader that later
    # writes fail with "database is locked" without waiting. Taking the write lock up front makes
    # concurrent requests queue on busy_timeout instead.
    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def transaction_queue(engine: AsyncEngine) -> asyncio.Lock | None:
    """On SQLite, the lock that queues a process's request transactions in arrival order.

    Every SQLite transaction here takes the database's write lock (``BEGIN IMMEDIATE``), and a
    connection that finds it taken polls for it with growing sleeps, serving nobody in order:
    under a burst of pushes the unlucky ones wait many times longer than the rest. Queued in the
    process, each waits only for the transactions ahead of it. PostgreSQL locks rows, not the
    database: no queue."""
    return asyncio.Lock() if engine.dialect.name == "sqlite" else None


async def session_scope(
    factory: async_sessionmaker[AsyncSession],
    queue: asyncio.Lock | None = None,
    wait_seconds: float | None = None,
) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits when the block succeeds and rolls back otherwise,
    after the transactions ahead of it in ``queue`` (see :func:`transaction_queue`). Waiting
    longer than ``wait_seconds`` raises ``TimeoutError`` (the hub answers 503, as for a busy
    database). Not reentrant: a request holds one session."""
    async with contextlib.AsyncExitStack() as turn:
        if queue is not None:
            async with asyncio.timeout(wait_seconds):
                await queue.acquire()
            turn.callback(queue.release)
        async with factory() as session, session.begin():
            yield session


transaction = contextlib.asynccontextmanager(session_scope)
""":func:`session_scope` as ``async with``: for work outside a request (the stream, the
background loops, a scrape), which queues with the requests' transactions like them. On SQLite a
session opened beside the queue races them for the write lock, and both sides then poll for it."""

Transaction = Callable[[], contextlib.AbstractAsyncContextManager[AsyncSession]]
"""Opens a :func:`transaction` whose factory, queue and wait are already chosen."""


def transactions(
    factory: async_sessionmaker[AsyncSession], queue: asyncio.Lock | None, wait_seconds: float
) -> Transaction:
    """What the app's parts outside a request open their transactions with (one per app)."""
    return functools.partial(transaction, factory, queue, wait_seconds)
