from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fixtures.database import create_database, drop_database


@pytest.fixture
async def scratch_url(tmp_path: Path) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database of the test's own (skipped without
    ``IOC_HUB_TEST_DATABASE_URL``); the processes under test migrate and seed it themselves."""
    url = await create_database("postgresql", tmp_path)
    try:
        yield url
    finally:
        await drop_database(url)
