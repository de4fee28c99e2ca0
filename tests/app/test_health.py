import httpx
import pytest

from ioc_hub.app import create_app
from ioc_hub.config import Settings


async def test_health_and_ready_on_a_migrated_database(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    ready = await client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["ready"] is True
    assert ready.json()["migration"] == ready.json()["head"]


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///{tmp}/never-migrated.db",
        "postgresql+asyncpg://nobody@127.0.0.1:1/none",
    ],
)
async def test_ready_is_503_when_the_database_is_unusable(tmp_path: object, url: str) -> None:
    from asgi_lifespan import LifespanManager

    app = create_app(Settings(database_url=url.format(tmp=tmp_path), db_timeout_seconds=2))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            assert (await http.get("/health")).status_code == 200
            ready = await http.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["ready"] is False
