"""SQLite: a process's request transactions queue in arrival order (``db.transaction_queue``),
each waiting at most the database timeout, then answered 503 like any busy database."""

import asyncio

import httpx
import pytest
from asgi_lifespan import LifespanManager

from ioc_hub.app import create_app
from ioc_hub.config import Settings


async def test_requests_queue_in_order_and_wait_at_most_the_timeout(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL locks rows, not the database: no queue")
    app = create_app(Settings(database_url=database_url, db_timeout_seconds=0.3))
    async with LifespanManager(app):
        queue: asyncio.Lock = app.state.transaction_queue
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            await queue.acquire()  # a transaction that does not end
            try:
                waited = await http.get("/api/v1/units", headers={"Authorization": "Bearer x"})
            finally:
                queue.release()
            assert waited.status_code == 503, waited.text
            assert waited.headers["content-type"] == "application/problem+json"

            # Its turn come, a request is served; many at once are all served.
            answers = await asyncio.gather(
                *(
                    http.get("/api/v1/units", headers={"Authorization": "Bearer x"})
                    for _ in range(20)
                )
            )
            assert {a.status_code for a in answers} == {401}
            # The last one's session closes as its answer goes: then the queue is free.
            async with asyncio.timeout(5), queue:
                pass
