"""A 5,000-row XLSX upload (the spreadsheet door, docs/design.md §10), measured in one run.

The seeded Bình Dương registry; one province key uploads a form of 5,000 values (the
communes' obligated daily series over the past days, values within each indicator's range)
to ``ioc-hub serve`` (one process) over HTTP. Measured: the seconds from sending the file to
the import summary (parsed and stored; goal ≤ 3 s), and how far the hub process's resident
memory rose above where it stood after a warm-up upload, sampled from /proc every 5 ms (goal ≤
100 MB). Also shown: the seconds openpyxl's read-only reader alone takes over the same file, in
this process, and, to tell the machine's load from the door's cost, the same number of rows
pushed as JSON to the same hub right after (upload / push in one run). On PostgreSQL (a
throwaway database) and on a temporary SQLite file.

Run: ``python -m bench.upload [--quick]`` (``--quick``: 500 rows).
"""

import argparse
import asyncio
import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
from openpyxl import Workbook
from sqlalchemy import select

from bench.common import free_port, fresh_database, server, table
from ioc_hub.access.service import mint_key
from ioc_hub.catalogue.service import obligated_series
from ioc_hub.config import Settings
from ioc_hub.db import create_engine, create_session_factory
from ioc_hub.models import Indicator, Scope, Unit
from ioc_hub.registry.service import get_province
from ioc_hub.seed import seed_all
from ioc_hub.sheets.layout import COLUMNS
from ioc_hub.sheets.reader import Format, Limits, read_upload

MB = 1024 * 1024


async def prepare(url: str, rows: int) -> tuple[str, bytes, bytes]:
    """Seed; a province key, a form of ``rows`` values of obligated daily series, and a native
    push of as many values of the same series on earlier days (so both create rows)."""
    engine = create_engine(Settings(database_url=url))
    try:
        async with create_session_factory(engine)() as session, session.begin():
            await seed_all(session)
            daily = {
                i.id: i
                for i in await session.scalars(
                    select(Indicator).where(Indicator.cadence == "daily")
                )
            }
            codes = {u.id: u.code for u in await session.scalars(select(Unit))}
            series = await obligated_series(session, indicator_ids=daily)
            key = await mint_key(session, await get_province(session), [Scope.OBSERVATIONS_WRITE])
    finally:
        await engine.dispose()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([c.header for c in COLUMNS])
    pushed = []
    today = datetime.now(UTC).date()
    days = rows // len(series) + 1
    for n in range(rows):
        unit_id, indicator_id = series[n % len(series)]
        indicator = daily[indicator_id]
        day = today - timedelta(days=2 + n // len(series))
        value = (n * 7) % int(indicator.max_value if indicator.max_value is not None else 1000)
        sheet.append(
            [codes[unit_id], indicator.code, indicator.name, indicator.measurement_unit,
             day.isoformat(), indicator.min_value, indicator.max_value, value]
        )  # fmt: skip
        earlier = (day - timedelta(days=days)).isoformat()
        pushed.append(
            {"unit": codes[unit_id], "indicator": indicator.code, "value": value, "period": earlier}
        )
    out = io.BytesIO()
    book.save(out)
    return key.token, out.getvalue(), orjson.dumps({"observations": pushed})


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def measure(engine: str, rows: int) -> tuple[float, float, int, float]:
    """Seconds to the summary, peak RSS growth in bytes, rows created; then seconds for the
    same number of rows pushed as JSON (``POST /api/v1/observations``) to the same hub."""
    async with fresh_database(engine, "ioc_hub_bench_upload") as url:
        token, form, push_body = await prepare(url, rows)
        port = free_port()
        argv = ["-m", "ioc_hub", "serve", "--no-migrate", "--port", str(port)]
        env = {"IOC_HUB_DATABASE_URL": url, "IOC_HUB_LOG_LEVEL": "warning"}
        with server(argv, port, env) as process:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            ) as http:

                async def send(content: bytes) -> httpx.Response:
                    return await http.post("/api/v1/uploads", files={"file": ("f.xlsx", content)})

                await send(empty_workbook())  # warm-up: imports, the registry cache
                baseline = peak = rss(process.pid)
                done = asyncio.Event()

                async def sample() -> None:
                    nonlocal peak
                    while not done.is_set():
                        peak = max(peak, rss(process.pid))
                        await asyncio.sleep(0.005)

                sampler = asyncio.create_task(sample())
                started = time.perf_counter()
                response = await send(form)
                seconds = time.perf_counter() - started
                done.set()
                await sampler
                started = time.perf_counter()
                pushed = await http.post(
                    "/api/v1/observations",
                    content=push_body,
                    headers={"Content-Type": "application/json"},
                )
                push_seconds = time.perf_counter() - started
        assert response.status_code == 200, response.text
        assert pushed.json()["created"] == rows, pushed.text
        return seconds, float(peak - baseline), int(response.json()["created"]), push_seconds


def empty_workbook() -> bytes:
    out = io.BytesIO()
    Workbook().save(out)
    return out.getvalue()


def parse_seconds(form: bytes) -> float:
    started = time.perf_counter()
    read_upload(io.BytesIO(form), Format.XLSX, "f", Limits.of(Settings()))
    return time.perf_counter() - started


async def main(rows: int) -> None:
    results = [(engine, *await measure(engine, rows)) for engine in ("postgresql", "sqlite")]
    async with fresh_database("sqlite", "ioc_hub_bench_upload") as url:
        _, form, _ = await prepare(url, rows)
    parse = parse_seconds(form)
    print(
        table(
            [
                (e, f"{c:,}", f"{s:.2f}", f"{g / MB:.1f}", f"{p:.2f}", f"{s / p:.1f}")
                for e, s, g, c, p in results
            ],
            ["engine", "rows created", "upload s", "RSS growth MB", "JSON push s", "upload/push"],
        )
    )
    print(f"openpyxl read-only parse of the same file, in this process: {parse:.2f} s")
    for engine, seconds, growth, _, _ in results:
        name = "PostgreSQL" if engine == "postgresql" else "SQLite"
        print(f"upload {rows:,} rows seconds, {name}  {seconds:.2f}  <= 3  "
              f"{'pass' if seconds <= 3 else 'FAIL'}")  # fmt: skip
        print(f"upload {rows:,} rows RSS growth MB, {name}  {growth / MB:.1f}  <= 100  "
              f"{'pass' if growth <= 100 * MB else 'FAIL'}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 rows")
    asyncio.run(main(500 if parser.parse_args().quick else 5000))
