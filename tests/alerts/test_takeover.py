"""A dying evaluator (issue 19): two hub processes on one PostgreSQL, the one holding the
evaluator's advisory lock is SIGKILLed, and the other takes the lock and evaluates within the
bound, one evaluation interval (plus a pass)."""

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from ioc_hub.models import Scope
from tests.fixtures.database import create_database, drop_database
from tests.fixtures.process import Hub, cli, mint, running_hub

INTERVAL = 1.0
# One interval for the survivor's next try, one for its pass; the rest is slack for two busy
# cores.
BOUND = 2 * INTERVAL + 8.0

LEADER = text(
    """
    SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()
      AND a.application_name LIKE 'ioc-hub alert evaluator %'
    """
)


async def leader_pid(url: str) -> int | None:
    """The operating-system pid of the hub process holding the evaluator's lock."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            names = (await connection.execute(LEADER)).scalars().all()
    finally:
        await engine.dispose()
    assert len(names) <= 1, names
    return int(names[0].rsplit(" ", 1)[1]) if names else None


async def wait_for_leader(url: str, among: set[int], within: float) -> int:
    async with asyncio.timeout(within):
        while True:
            pid = await leader_pid(url)
            if pid in among:
                return pid
            await asyncio.sleep(0.1)


async def firing(hub: Hub, auth: dict[str, str], subject: str, within: float) -> None:
    async with asyncio.timeout(within), httpx.AsyncClient(base_url=hub.url) as http:
        while True:
            answer = await http.get("/api/v1/alerts", params={"state": "firing"}, headers=auth)
            assert answer.status_code == 200, answer.text
            if any(a["subject"] == subject for a in answer.json()["items"]):
                return
            await asyncio.sleep(0.1)


async def silent_rule(hub: Hub, auth: dict[str, str], unit: str) -> None:
    body = {"name": f"{unit} silent", "condition": {"kind": "unit_silent", "unit": unit}}
    async with httpx.AsyncClient(base_url=hub.url) as http:
        created = await http.post("/api/v1/alert-rules", json=body, headers=auth)
    assert created.status_code == 201, created.text


@pytest.mark.slow
async def test_another_process_takes_over_when_the_evaluator_dies(tmp_path: Path) -> None:
    url = await create_database("postgresql", tmp_path)
    env = {"IOC_HUB_ALERT_INTERVAL_SECONDS": str(INTERVAL)}
    try:
        await cli(url, "seed")
        auth = {"Authorization": f"Bearer {await mint(url, '74', *Scope)}"}
        async with (
            running_hub(url, tmp_path / "a.log", **env) as first,
            running_hub(url, tmp_path / "b.log", **env) as second,
        ):
            hubs = {first.pid: first, second.pid: second}
            leader = hubs[await wait_for_leader(url, set(hubs), BOUND)]
            await silent_rule(first, auth, "DEPT-SNGV")
            await firing(second, auth, "unit:DEPT-SNGV", BOUND)

            await leader.kill()
            killed_at = time.monotonic()
            survivor = next(hub for pid, hub in hubs.items() if pid != leader.pid)
            assert await wait_for_leader(url, {survivor.pid}, BOUND) == survivor.pid
            # The survivor evaluates: a rule made now fires.
            await silent_rule(survivor, auth, "DEPT-SNV")
            await firing(survivor, auth, "unit:DEPT-SNV", BOUND)
            took = time.monotonic() - killed_at
            print(f"takeover and a pass {took:.2f} s after the SIGKILL (bound {BOUND} s)")
    finally:
        await drop_database(url)
