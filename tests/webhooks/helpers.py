"""Receivers for the webhook tests: the ``Receiver`` that ``ioc-hub webhook-receiver`` runs,
served in the test's event loop, and ways to publish and wait."""

import asyncio
import contextlib
import io
import os
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.webhooks.outbox import publish
from ioc_hub.webhooks.receiver import Receiver
from tests.conftest import bearer
from tests.fixtures.live import bound_socket, serve

WAIT = 20.0
ALL_TYPES = ["alert.firing", "alert.resolved", "outlier.flagged", "endpoint.disabled"]


@dataclass
class Received:
    """What one receiver printed: a line per verified notification."""

    url: str
    secret: str = ""
    webhook: dict[str, Any] = field(default_factory=dict)
    out: io.StringIO = field(default_factory=io.StringIO)

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.out.getvalue().splitlines()]

    def delivered(self) -> list[dict[str, Any]]:
        """Notifications answered with a 2xx."""
        return [line for line in self.lines if 200 <= line["answered"] < 300]


@contextlib.asynccontextmanager
async def receiver(
    client: httpx.AsyncClient,
    token: str,
    event_types: list[str] | None = None,
    **options: Any,
) -> AsyncIterator[Received]:
    """A webhook registered through the API, and a receiver listening at its URL that verifies
    with its secret (``options``: the receiver's ``fail_first``, ``status``, ``delay``)."""
    sock = bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    created = await client.post(
        "/api/v1/webhooks",
        json={"url": url, "event_types": event_types or ALL_TYPES},
        headers=bearer(token),
    )
    assert created.status_code == 201, created.text
    received = Received(url, created.json()["secret"], created.json())
    app = Receiver(received.secret, out=received.out, **options)
    async with serve(app, sock):
        yield received


async def publish_now(
    sessions: async_sessionmaker[AsyncSession], event_type: str, data: dict[str, object]
) -> None:
    """``publish`` in a transaction of its own, as a feature's change would."""
    async with sessions() as session, session.begin():
        await publish(session, event_type, data)


async def until(condition: Callable[[], Any], within: float = WAIT) -> Any:
    """Wait for ``condition()`` to be true (it may be a coroutine function); its value."""
    async with asyncio.timeout(within):
        while True:
            value = condition()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.05)


async def deliveries(client: httpx.AsyncClient, token: str, webhook_id: int) -> list[Any]:
    answer = await client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    items: list[Any] = answer.json()["items"]
    return items


async def settled(client: httpx.AsyncClient, token: str, webhook_id: int, status: str) -> list[Any]:
    """The webhook's deliveries once there are some and every one is in ``status``; else
    none (for :func:`until`)."""
    found = await deliveries(client, token, webhook_id)
    return found if found and all(d["status"] == status for d in found) else []


@dataclass
class ReceiverProcess:
    """``ioc-hub webhook-receiver`` in a process of its own; ``lines`` fill from its stdout."""

    process: asyncio.subprocess.Process
    lines: list[dict[str, Any]] = field(default_factory=list)

    async def read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(orjson.loads(raw))

    def ids(self) -> set[str]:
        return {line["webhook_id"] for line in self.lines if 200 <= line["answered"] < 300}


@contextlib.asynccontextmanager
async def receiver_process(
    port: int, *options: str, secret: str | None = None
) -> AsyncIterator[ReceiverProcess]:
    """The receiver on ``port``, with ``secret`` (or ``options`` saying where to find it)."""
    env = {**os.environ, **({"IOC_HUB_WEBHOOK_SECRET": secret} if secret else {})}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "ioc_hub", "webhook-receiver", "--port", str(port), *options),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    receiving = ReceiverProcess(process)
    reader = asyncio.create_task(receiving.read())
    try:
        async with asyncio.timeout(WAIT), httpx.AsyncClient() as http:
            while True:  # up once it answers (405 to a GET)
                with contextlib.suppress(httpx.TransportError):
                    await http.get(f"http://127.0.0.1:{port}/")
                    break
                await asyncio.sleep(0.05)
        yield receiving
    finally:
        process.terminate()
        await process.wait()
        await reader
