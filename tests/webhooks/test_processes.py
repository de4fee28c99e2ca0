"""Real processes: the hub (``ioc-hub serve``) SIGKILLed while deliveries are pending loses
none of them after its restart, and ``ioc-hub webhook-receiver`` verifies and prints each one
(issue 19, faults)."""

import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from ioc_hub.db import create_session_factory
from ioc_hub.models import DeliveryStatus, WebhookDelivery
from ioc_hub.webhooks.outbox import publish
from tests.fixtures.database import create_database, drop_database
from tests.fixtures.process import Hub, cli, free_port, mint
from tests.webhooks.helpers import receiver_process, until

NOTIFICATIONS = 300
SETTINGS = {
    "IOC_HUB_WEBHOOKS_ALLOW_PRIVATE": "true",
    "IOC_HUB_WEBHOOKS_TIMEOUT_SECONDS": "2",
    "IOC_HUB_WEBHOOKS_RETRY_SCHEDULE": "[0, 0.5, 0.5, 0.5, 0.5, 0.5]",
    "IOC_HUB_WEBHOOKS_CONCURRENCY": "4",
    "IOC_HUB_WEBHOOKS_POLL_SECONDS": "0.2",
    "IOC_HUB_LOG_LEVEL": "debug",
}


@pytest.fixture
async def scratch_url(tmp_path: Path) -> AsyncIterator[str]:
    url = await create_database("postgresql", tmp_path)
    try:
        yield url
    finally:
        await drop_database(url)


async def publish_many(database_url: str, count: int) -> None:
    """``count`` notifications, ten per transaction, from a process other than the hub."""
    engine = create_async_engine(database_url)
    sessions = create_session_factory(engine)
    try:
        for start in range(0, count, 10):
            async with sessions() as session, session.begin():
                for n in range(start, min(start + 10, count)):
                    await publish(session, "alert.firing", {"n": n})
    finally:
        await engine.dispose()


async def count_pending(database_url: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            pending = await connection.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.status != DeliveryStatus.DELIVERED)
            )
    finally:
        await engine.dispose()
    return pending or 0


@pytest.mark.slow
async def test_a_hub_killed_mid_delivery_loses_no_notification(
    scratch_url: str, tmp_path: Path
) -> None:
    await cli(scratch_url, "seed")
    token = await mint(scratch_url, "74", "alerts:admin")
    port = free_port()
    hub = Hub(scratch_url, tmp_path / "hub.log", **SETTINGS)
    await hub.start()
    try:
        async with httpx.AsyncClient(base_url=hub.url) as http:
            created = await http.post(
                "/api/v1/webhooks",
                json={"url": f"http://127.0.0.1:{port}/hook", "event_types": ["alert.firing"]},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        # A slow receiver: deliveries are still pending when the hub dies.
        async with receiver_process(port, "--delay", "0.05", secret=secret) as receiver:
            await publish_many(scratch_url, NOTIFICATIONS)
            await until(lambda: len(receiver.ids()) >= 30, within=60)
            await hub.kill()
            at_kill = len(receiver.ids())
            assert at_kill < NOTIFICATIONS, "everything went out before the kill"
            await hub.start()
            await until(lambda: len(receiver.ids()) == NOTIFICATIONS, within=120)
            await until(lambda: _none_pending(scratch_url), within=30)
    finally:
        await hub.stop()
    attempts = Counter(line["webhook_id"] for line in receiver.lines)
    assert len(attempts) == NOTIFICATIONS
    assert {line["data"]["n"] for line in receiver.lines} == set(range(NOTIFICATIONS))
    # Each line was verified by the receiver with the reference library; at least once each,
    # more than once only for what was in flight at the kill.
    assert sum(attempts.values()) - NOTIFICATIONS <= NOTIFICATIONS - at_kill
    log = hub.output()
    assert secret not in log
    assert secret.removeprefix("whsec_") not in log


async def _none_pending(database_url: str) -> bool:
    return await count_pending(database_url) == 0


@pytest.mark.slow
async def test_the_receiver_command_waits_for_its_secret_and_refuses_a_bad_signature(
    tmp_path: Path,
) -> None:
    port = free_port()
    secret_file = tmp_path / "hook.secret"
    body = b'{"type":"alert.firing","timestamp":"2026-12-03T00:00:00Z","data":{}}'
    headers = {
        "webhook-id": "msg_forged",
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl",
    }
    async with (
        receiver_process(port, "--secret-file", str(secret_file)) as receiver,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        early = await http.post("/", content=body, headers=headers)
        secret_file.write_text("whsec_" + "A" * 43 + "=\n")
        forged = await http.post("/", content=body, headers=headers)
    assert early.status_code == 503
    assert forged.status_code == 400
    assert receiver.lines == []
