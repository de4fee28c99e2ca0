"""Time the hub's process spends in Python's cyclic garbage collector per 1,000-row push, with
what import and startup built frozen out of the collector's sight (``gc.freeze()`` in the app's
lifespan) and without.

A 1,000-row push allocates thousands of dicts, enough to set the collector off; now and then
that is a full collection, which walks every tracked object in the process, the app's own
150,000 included. The hub app runs in process (ASGI calls, no uvicorn) on PostgreSQL; the same
pushes go once frozen, once thawed (``gc.unfreeze()``), in one run.

Run: ``python -m bench.gc_pauses`` (``--pushes N`` per side).
"""

import argparse
import asyncio
import gc
import os
import time
from typing import Any

import asyncpg

from bench.common import asyncpg_dsn, table, throwaway_database
from bench.ingest import BATCH, RESET, batches, prepare, push_body
from bench.push_cost import _push

WARM_UP = 10


class Collector:
    """Collections and the time they took, per generation, while counting."""

    def __init__(self) -> None:
        self.counts = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.counts[info["generation"]] += 1
            self.seconds[info["generation"]] += time.perf_counter() - self._started


async def _round(app: Any, bodies: list[bytes], token: str, url: str) -> Collector:
    reset = await asyncpg.connect(asyncpg_dsn(url))
    await reset.execute(RESET)
    await reset.close()
    for body in bodies[:WARM_UP]:
        await _push(app, body, token)
    collector = Collector()
    gc.callbacks.append(collector)
    try:
        for body in bodies[WARM_UP:]:
            await _push(app, body, token)
    finally:
        gc.callbacks.remove(collector)
    return collector


async def main(pushes: int) -> None:
    async with throwaway_database("ioc_hub_bench_gc") as url:
        series, token = await prepare(url)
        bodies = [push_body(b) for b in batches(series, BATCH * (WARM_UP + pushes))]
        os.environ["IOC_HUB_DATABASE_URL"] = url
        os.environ["IOC_HUB_LOG_LEVEL"] = "warning"
        from ioc_hub.main import app

        async with app.router.lifespan_context(app):
            frozen_objects = gc.get_freeze_count()
            frozen = await _round(app, bodies, token, url)
            gc.unfreeze()
            thawed = await _round(app, bodies, token, url)
            gc.freeze()

    def per_push(c: Collector) -> str:
        return f"{sum(c.seconds) / pushes * 1000:.2f}"

    def collections(c: Collector) -> str:
        return " / ".join(map(str, c.counts))

    print(
        f"Python's collector in the hub's process, {pushes} pushes of {BATCH} rows in process "
        f"on PostgreSQL after {WARM_UP} to warm up; {frozen_objects:,} objects frozen at startup"
    )
    print(
        table(
            [
                ("frozen (as the hub runs)", per_push(frozen), collections(frozen)),
                ("thawed", per_push(thawed), collections(thawed)),
            ],
            ["startup objects", "collector ms per push", "collections, generation 0 / 1 / 2"],
        )
    )
    ratio = sum(frozen.seconds) / sum(thawed.seconds) if sum(thawed.seconds) else float("nan")
    print(f"collector time, frozen / thawed: {ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=60, help="1,000-row pushes per side")
    asyncio.run(main(parser.parse_args().pushes))
