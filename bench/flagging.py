"""Where outlier flagging's time goes at ingest (docs/design.md §9), without concurrency.

``bench.ingest`` measures flagging on against off with four clients and two workers, where lock
waits and scheduling blur what each batch costs. Here one hub runs in this process and the same
batches go one at a time: a year of history pushed through the hub (so its caches hold what a
running hub's hold), then 60 new days of 1,000-row batches. Printed for flagging on and off:
each batch's time and the SQL statements that took longest; then the ratio over all batches,
over those that start a month (each computes every series' baseline of it) and over the others.
No goal: ``bench.ingest`` holds the goal (on ≥ 0.8 × off); this says what to change to reach it.

Run: ``python -m bench.flagging``. Database: a throwaway one on ``IOC_HUB_BENCH_DATABASE_URL``'s
server (default: the local ``test`` database's).
"""

import asyncio
import contextlib
import gc
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from unittest import mock

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import table, throwaway_database
from bench.ingest import (
    RESET,
    flagging_work,
    history_batches,
    month_starts,
    prepare,
    push_body,
)
from ioc_hub.app import create_app
from ioc_hub.config import Settings
from ioc_hub.quality import flagging as steps

NEW_DAYS = 60
TOP = 6


class StatementTimes:
    """Time per SQL statement (its first words), while ``recording``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.recording = False
        self.times: dict[str, list[float]] = defaultdict(list)
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)

    def _before(self, conn: Any, *_: Any) -> None:
        conn.info["started"] = time.perf_counter()

    def _after(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.recording:
            took = time.perf_counter() - conn.info["started"]
            self.times[" ".join(statement.split())[:90]].append(took)

    def top(self) -> list[tuple[str, str, str]]:
        ranked = sorted(self.times.items(), key=lambda kv: -sum(kv[1]))[:TOP]
        return [(f"{sum(t) * 1000:,.0f}", str(len(t)), text) for text, t in ranked]


class StepTimes:
    """Each push's time in flagging's step before its write (the caches dropped and the
    baselines found, ``baselines_for``) and after it (the values judged and the flags stored,
    ``flag_values``), while ``recording()``."""

    def __init__(self) -> None:
        self.before: list[float] = []
        self.after: list[float] = []

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        with (
            mock.patch.object(steps, "baselines_for", _timed(steps.baselines_for, self.before)),
            mock.patch.object(steps, "flag_values", _timed(steps.flag_values, self.after)),
        ):
            yield


def _timed(step: Callable[..., Awaitable[Any]], into: list[float]) -> Callable[..., Any]:
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await step(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - started)

    return timed


async def one_run(
    url: str, token: str, flagging: bool, history: Any, work: Any
) -> tuple[list[float], StepTimes]:
    """Push the history, then time the work batch by batch: each batch's seconds, and its
    time in flagging's steps."""
    app = create_app(Settings(database_url=url, outlier_flagging=flagging, log_level="warning"))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub", headers=headers
        ) as http,
    ):
        engine: AsyncEngine = app.state.engine
        statements = StatementTimes(engine)
        async with engine.begin() as connection:
            await connection.exec_driver_sql(RESET)

        async def push(batch: Any) -> None:
            answer = await http.post("/api/v1/observations", content=push_body(batch), timeout=120)
            if answer.status_code != 200:
                raise RuntimeError(f"push failed: {answer.status_code} {answer.text[:300]}")

        for batches_of_a_day in history_batches(history):
            for batch in batches_of_a_day:
                await push(batch)
        async with engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
        statements.recording = True
        each = []
        timed = StepTimes()
        with timed.recording():
            for batch in work:
                started = time.perf_counter()
                await push(batch)
                each.append(time.perf_counter() - started)
        statements.recording = False
    total = sum(each)
    state = "on" if flagging else "off"
    print(f"flagging {state}: {total:.2f} s for {len(work)} batches; ms per batch, in order:")
    print("  " + " ".join(f"{t * 1000:.0f}" for t in each))
    print(table(statements.top(), [f"SQL ms ({state})", "calls", "statement"]))
    return each, timed


async def main() -> None:
    async with throwaway_database("ioc_hub_bench_flagging") as url:
        series, token = await prepare(url)
        history, work = flagging_work(series, NEW_DAYS)
        # The hub runs in this process, beside the year of history it is fed: frozen, as the
        # hub's own start-up heap is (ioc_hub/main.py), so that full collections do not walk it
        # (about 140 ms each, in the middle of any batch).
        gc.collect()
        gc.freeze()
        off, off_steps = await one_run(url, token, False, history, work)
        on, on_steps = await one_run(url, token, True, history, work)
    starts = month_starts(work)
    others = [i for i in range(len(work)) if i not in starts]
    rows = []
    for name, chosen in [
        ("all batches", range(len(work))),
        ("batches that start a month", starts),
        ("the others", others),
    ]:
        off_s, on_s = sum(off[i] for i in chosen), sum(on[i] for i in chosen)
        rows.append(
            (
                name,
                str(len(chosen)),
                f"{off_s * 1000:,.0f}",
                f"{on_s * 1000:,.0f}",
                f"{off_s / on_s:.3f}",
            )
        )
    print(
        f"{len(series)} daily series, {NEW_DAYS} new days, one batch at a time, in process "
        "(no goal here):"
    )
    print(table(rows, ["batches", "count", "off ms", "on ms", "off / on"]))

    def mean_ms(times: list[float], chosen: list[int]) -> str:
        return f"{sum(times[i] for i in chosen) / len(chosen) * 1000:.1f}"

    print(
        table(
            [
                (name, mean_ms(t.before, chosen), mean_ms(t.after, chosen))
                for state, t in [("off", off_steps), ("on", on_steps)]
                for name, chosen in [
                    (f"{state}, batches that start a month", starts),
                    (f"{state}, the others", others),
                ]
            ],
            ["flagging's steps, mean ms a batch", "before the write", "after it"],
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
