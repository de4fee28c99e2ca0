"""The reference the issue names for single-row pushes: a FastAPI endpoint doing one asyncpg
upsert per request, with none of the hub's work (no key, no validation, no state, no events).
It shows in the same run how close the hub comes to what one insert per request allows."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from bench.bare_app import ANSWER

_UPSERT = """
INSERT INTO observations (unit_id, indicator_id, period, period_start, value, received_at,
    first_received_at, revision, imported)
VALUES ($1, $2, $3, $4, $5, now(), now(), 1, false)
ON CONFLICT (unit_id, indicator_id, period, period_start) DO UPDATE SET value = excluded.value
"""
_DSN = os.environ.get("IOC_HUB_DATABASE_URL", "").replace("postgresql+asyncpg://", "postgresql://")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = pool = await asyncpg.create_pool(_DSN, min_size=4, max_size=10)
    app.state.units = {r["code"]: r["id"] for r in await pool.fetch("SELECT id, code FROM units")}
    app.state.indicators = {
        r["code"]: r["id"] for r in await pool.fetch("SELECT id, code FROM indicators")
    }
    yield
    await pool.close()


app = FastAPI(lifespan=_lifespan)


@app.post("/api/v1/observations")
async def one_insert(request: Request) -> Response:
    row = orjson.loads(await request.body())["observations"][0]
    state = request.app.state
    await state.pool.execute(
        _UPSERT,
        state.units[row["unit"]],
        state.indicators[row["indicator"]],
        row["period"],
        date.fromisoformat(row["period"]),
        float(row["value"]),
    )
    return Response(ANSWER, media_type="application/json")
