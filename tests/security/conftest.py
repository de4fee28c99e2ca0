from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from ioc_hub.app import create_app
from ioc_hub.config import Settings
from tests.conftest import Clock

ROOMY_MAX_BATCH = 10_000


@pytest.fixture(scope="session")
async def roomy_app(database_url: str) -> AsyncIterator[FastAPI]:
    """The session's database behind the shipped limits (10,000 rows, 16 MB), which the
    ``client`` app lowers to keep ordinary tests small."""
    app = create_app(Settings(database_url=database_url, max_batch=ROOMY_MAX_BATCH))
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
