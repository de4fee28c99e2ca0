"""Fixtures: a migrated database per engine, the real app over httpx, keys and a movable clock.

Every test that asks for ``client`` (or anything built on it) runs once on SQLite and once on
PostgreSQL.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.access import service as access
from ioc_hub.app import create_app
from ioc_hub.config import Settings
from ioc_hub.models import Scope
from ioc_hub.registry import service as registry
from ioc_hub.seed import seed_all
from tests.fixtures.database import ENGINES, clean, database_url_for
from tests.fixtures.live import serve
from tests.fixtures.process import cli, mint
from tests.simulate.helpers import play_reform

ROOMY_MAX_BATCH = 10_000

# Test receivers listen on loopback; retries come fast, and an attempt gives up soon.
WEBHOOKS = {
    "webhooks_allow_private": True,
    "webhooks_retry_schedule": (0, 0.2, 0.2, 0.2, 0.2),
    "webhooks_timeout_seconds": 2.0,
    "webhooks_poll_seconds": 0.2,
}


@pytest.fixture(scope="session", params=ENGINES)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    async for url in database_url_for(request.param, tmp_path_factory.mktemp("db")):
        yield url


@dataclass(frozen=True)
class Reformed:
    """A database the reform has been played on: its URL, the province key with every scope
    that played it, and the play's summary (``ioc-hub simulate --scenario reform --json``)."""

    url: str
    admin: str
    summary: dict[str, Any]


@pytest.fixture(scope="session", params=ENGINES)
async def reformed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Reformed]:
    """The reform played once per engine and run (it takes minutes): the tests that read it back
    over HTTP and in the browser only read."""
    async for url in database_url_for(request.param, tmp_path_factory.mktemp("reform")):
        await cli(url, "seed")
        admin = await mint(url, "74", *Scope)
        yield Reformed(url, admin, await play_reform(url, admin))


@pytest.fixture(scope="session")
async def hub_app(database_url: str) -> AsyncIterator[FastAPI]:
    # Tests run alert passes themselves (tests/alerts), at the instants they choose.
    settings = Settings(
        database_url=database_url,
        max_batch=500,
        max_body_bytes=256_000,
        alert_evaluator=False,
        owed_keeper=False,
        **WEBHOOKS,
    )
    app = create_app(settings)
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def app(hub_app: FastAPI) -> AsyncIterator[FastAPI]:
    # Events of the previous test's pushes are published off the request path: let them go out
    # before this test opens a stream, or they would arrive in it.
    async with asyncio.timeout(10):
        await hub_app.state.stream.publisher.drained()
    await clean(hub_app.state.engine)
    hub_app.state.clock = None
    yield hub_app
    hub_app.state.clock = None


@pytest.fixture(scope="session")
async def live_hub(hub_app: FastAPI) -> AsyncIterator[str]:
    """The session's app over real HTTP, one server per engine."""
    async with serve(hub_app) as url:
        yield url


@pytest.fixture
def live_url(app: FastAPI, live_hub: str) -> str:
    """Base URL of the app over real HTTP, for a test with a clean database like ``client``."""
    return live_hub


@pytest.fixture
def session_factory(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = app.state.session_factory
    return factory


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
        yield http


@pytest.fixture
async def seeded(session_factory: async_sessionmaker[AsyncSession]) -> None:
    """The shipped Bình Dương registry (and catalogue), as `ioc-hub seed` loads it."""
    async with session_factory() as session, session.begin():
        await seed_all(session)


MintKey = Callable[..., Awaitable[str]]


@pytest.fixture
def mint_key(session_factory: async_sessionmaker[AsyncSession]) -> MintKey:
    """``await mint_key("718", Scope.AGGREGATES_READ, ...)`` → a bearer token for that unit."""

    async def mint(unit: str, *scopes: Scope, name: str = "test") -> str:
        async with session_factory() as session, session.begin():
            target = await registry.get_unit(session, unit)
            created = await access.mint_key(session, target, list(scopes), name)
        return created.token

    return mint


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def admin_token(seeded: None, mint_key: MintKey) -> str:
    return await mint_key("74", *Scope, name="admin")


@dataclass
class Clock:
    """A clock the test moves by hand; the app reads it through ``app.state.clock``."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def set(self, iso: str) -> None:
        self.now = datetime.fromisoformat(iso)


@pytest.fixture
def clock(app: FastAPI) -> Clock:
    fixed = Clock(datetime(2026, 11, 28, 10, 0, tzinfo=UTC))
    app.state.clock = fixed
    return fixed


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
async def roomy_app(database_url: str) -> AsyncIterator[FastAPI]:
    """The session's database behind the shipped limits (10,000 rows, 16 MB), which the
    ``client`` app lowers to keep ordinary tests small."""
    app = create_app(
        Settings(
            database_url=database_url,
            max_batch=ROOMY_MAX_BATCH,
            alert_evaluator=False,
            owed_keeper=False,
            # One dispatcher per test database, the ``client`` app's: a notification is then
            # announced on the stream the tests read.
            webhooks_dispatcher=False,
            **WEBHOOKS,
        )
    )
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def roomy_client(
    app: FastAPI, roomy_app: FastAPI, clock: Clock
) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``client`` (``app`` has emptied the database), with the shipped limits."""
    roomy_app.state.clock = clock
    transport = httpx.ASGITransport(app=roomy_app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            yield http
    finally:
        roomy_app.state.clock = None
