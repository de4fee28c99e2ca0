"""Two hub processes on one PostgreSQL (issue 6, docs/design.md §7): an event pushed to one reaches
a stream on the other through LISTEN/NOTIFY, under the same id, and `Last-Event-ID` from one process
resumes on the other."""

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from ioc_hub.models import Scope
from tests.conftest import MintKey, bearer
from tests.stream.sse import TIMEOUT, open_stream

DAILY = "DVC-HS-TIEP-NHAN"
COMMUNE = "25741"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def hub_process(database_url: str, log: Path) -> AsyncIterator[str]:
    """``ioc-hub serve`` in a process of its own, until the block ends."""
    port = free_port()
    env = {**os.environ, "IOC_HUB_DATABASE_URL": database_url, "IOC_HUB_LOG_LEVEL": "warning"}
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "ioc_hub", "serve", "--no-migrate", "--port", str(port)),
            env=env,
            stdout=output,
            stderr=output,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with asyncio.timeout(30), httpx.AsyncClient(base_url=url) as http:
            while True:
                if process.returncode is not None:
                    output = await asyncio.to_thread(log.read_text)
                    raise AssertionError(f"the hub exited: {output}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/health")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(15):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


async def push(url: str, auth: dict[str, str], period: str) -> None:
    rows = [{"unit": COMMUNE, "indicator": DAILY, "value": 1, "period": period}]
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as http:
        response = await http.post(
            "/api/v1/observations", json={"observations": rows}, headers=auth
        )
    assert response.status_code == 200, response.text


@pytest.mark.slow
async def test_an_event_pushed_to_one_process_streams_from_another(
    database_url: str, seeded: None, mint_key: MintKey, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("events cross processes through PostgreSQL; SQLite runs one process")
    operator = bearer(await mint_key("74", Scope.COVERAGE_READ))
    writer = bearer(await mint_key("74", Scope.OBSERVATIONS_WRITE))
    # The processes read the real clock: push days that are past there.
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    days = [(today - timedelta(days=n)).isoformat() for n in (3, 2, 1)]

    async with (
        hub_process(database_url, tmp_path / "a.log") as a,
        hub_process(database_url, tmp_path / "b.log") as b,
    ):
        async with open_stream(b, operator) as on_b, open_stream(a, operator) as on_a:
            await push(a, writer, days[0])
            from_b, _ = await on_b.until(lambda e: e.type == "observations")
            from_a, _ = await on_a.until(lambda e: e.type == "observations")
        assert from_b.data["unit"] == COMMUNE
        assert from_b.data["periods"] == [days[0]]
        assert from_b.id is not None
        assert from_b.id == from_a.id, "one id in every process"

        # Missed on A while away, resumed on B.
        await push(a, writer, days[1])
        await push(b, writer, days[2])
        async with open_stream(b, operator, last_event_id=from_a.id) as resumed:
            _, missed = await resumed.until(
                lambda e: e.type == "observations" and e.data["periods"] == [days[2]]
            )
        assert [e.data["periods"] for e in missed if e.type == "observations"] == [[days[1]]]
        assert all(e.type != "reset" for e in missed)
