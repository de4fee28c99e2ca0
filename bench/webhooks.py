"""Webhook delivery throughput: the dispatcher of a hub process (``ioc-hub serve``, one worker,
on PostgreSQL) delivering a full outbox to one local receiver (``ioc-hub webhook-receiver``,
which verifies every signature). The rate is taken from the first notification received to the
last, so the hub's start-up is left out. Goal: ≥ 500 notifications/s.

``python -m bench.webhooks [--quick]``."""

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import cpu_seconds, free_port, server, table, throwaway_database
from ioc_hub.db import create_session_factory
from ioc_hub.models import WebhookEndpoint
from ioc_hub.webhooks.outbox import publish
from ioc_hub.webhooks.service import new_secret

GOAL = 500.0
PER_TRANSACTION = 100


async def fill_outbox(url: str, receiver_port: int, count: int) -> str:
    """One endpoint at the receiver and ``count`` notifications for it; its secret."""
    engine = create_async_engine(url)
    sessions = create_session_factory(engine)
    secret = new_secret()
    try:
        async with sessions() as session, session.begin():
            session.add(
                WebhookEndpoint(
                    url=f"http://127.0.0.1:{receiver_port}/hook",
                    description="bench",
                    event_types="alert.firing",
                    secret=secret,
                )
            )
        for start in range(0, count, PER_TRANSACTION):
            async with sessions() as session, session.begin():
                for n in range(start, min(start + PER_TRANSACTION, count)):
                    await publish(session, "alert.firing", {"rule": 1, "subject": str(n)})
    finally:
        await engine.dispose()
    return secret


@dataclass
class Measured:
    rate: float
    """Notifications/s from the first received to the last."""
    hub_cpu_ms: float
    """CPU the hub process spent per notification meanwhile."""
    receiver_cpu_ms: float


async def receive(port: int, secret: str, count: int, hub_port: int, url: str) -> Measured:
    """Start the receiver, then the hub; measure from the first notification received to the
    last."""
    receiver = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "ioc_hub", "webhook-receiver", "--port", str(port)),
        env={**os.environ, "IOC_HUB_WEBHOOK_SECRET": secret},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert receiver.stdout is not None
    env = {"IOC_HUB_DATABASE_URL": url, "IOC_HUB_WEBHOOKS_ALLOW_PRIVATE": "true"}
    argv = ["-m", "ioc_hub", "serve", "--no-migrate", "--port", str(hub_port)]
    try:
        with server(argv, hub_port, env) as hub:
            seen = 0
            async with asyncio.timeout(600):
                async for _ in receiver.stdout:
                    seen += 1
                    if seen == 1:
                        first = time.perf_counter()
                        cpu = cpu_seconds(hub.pid), cpu_seconds(receiver.pid)
                    if seen == count:
                        break
            elapsed = time.perf_counter() - first
            hub_cpu = cpu_seconds(hub.pid) - cpu[0]
            receiver_cpu = cpu_seconds(receiver.pid) - cpu[1]
    finally:
        receiver.terminate()
        await receiver.wait()
    per = 1000 / (count - 1)
    return Measured((count - 1) / elapsed, hub_cpu * per, receiver_cpu * per)


async def main(quick: bool) -> int:
    count = 1000 if quick else 10_000
    async with throwaway_database("bench_webhooks") as url:
        port, hub_port = free_port(), free_port()
        secret = await fill_outbox(url, port, count)
        measured = await receive(port, secret, count, hub_port, url)
    rate = measured.rate
    verdict = "pass" if rate >= GOAL else "FAIL"
    print(
        f"{count} notifications; CPU per notification: hub {measured.hub_cpu_ms:.2f} ms, "
        f"receiver {measured.receiver_cpu_ms:.2f} ms (with a core each: "
        f"{1000 / max(measured.hub_cpu_ms, measured.receiver_cpu_ms):.0f}/s)"
    )
    print(
        table(
            [("webhook notifications/s, one receiver", f"{rate:.0f}", f">= {GOAL:g}", verdict)],
            ["figure", "measured", "goal", ""],
        )
    )
    return 0 if rate >= GOAL else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 notifications, not 10,000")
    sys.exit(asyncio.run(main(parser.parse_args().quick)))
