"""Keys are never kept in plaintext (docs/design.md §6, issue 7): a hub process logging at debug
level mints keys, is called with them on many routes — and with unknown, revoked and malformed ones
— and afterwards neither its output nor any column of any table holds a token."""

import hashlib
import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from ioc_hub.models import Scope
from tests.fixtures.database import create_database, drop_database
from tests.fixtures.process import cli, mint, running_hub

DAILY = "DVC-HS-TIEP-NHAN"


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    url = await create_database(request.param, tmp_path)
    try:
        yield url
    finally:
        await drop_database(url)


async def dump(url: str) -> str:
    """Every row of every table (the schema's own included), as text."""
    engine = create_async_engine(url)
    lines: list[str] = []
    try:
        async with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                tables = await connection.scalars(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
                for table in list(tables):
                    rows = await connection.scalars(
                        text(f'SELECT row_to_json(t)::text FROM "{table}" t')
                    )
                    lines.extend(f"{table}: {row}" for row in rows)
            else:
                tables = await connection.scalars(
                    text("SELECT name FROM sqlite_master WHERE type = 'table'")
                )
                for table in list(tables):
                    rows = await connection.execute(text(f'SELECT * FROM "{table}"'))
                    lines.extend(f"{table}: {tuple(row)}" for row in rows)
    finally:
        await engine.dispose()
    return "\n".join(lines)


def sqlite_files(url: str) -> bytes:
    """The SQLite database's bytes on disk, journal included: free pages too."""
    path = Path(url.split("///", 1)[1])
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def needles(token: str) -> list[str]:
    """The token, and its secret part without the stored display prefix (``ioch_`` + 6)."""
    return [token, token.removeprefix("ioch_"), token[11:], token[-20:]]


@pytest.mark.slow
async def test_no_token_in_logs_or_database(fresh_url: str, tmp_path: Path) -> None:
    await cli(fresh_url, "seed")
    admin = await mint(fresh_url, "74", *(s.value for s in Scope))
    day = (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date() - timedelta(days=2)).isoformat()
    tokens = {"admin": admin}
    statuses: list[tuple[str, int]] = []
    answers: list[str] = []

    async with running_hub(fresh_url, tmp_path / "hub.log", IOC_HUB_LOG_LEVEL="debug") as hub:
        async with httpx.AsyncClient(base_url=hub.url, timeout=30) as http:

            async def call(
                who: str, method: str, path: str, json: object = None, **headers: str
            ) -> httpx.Response:
                """``who``: a key's name, a raw token, or "" for none."""
                if who:
                    headers["Authorization"] = f"Bearer {tokens.get(who, who)}"
                response = await http.request(method, path, json=json, headers=headers)
                statuses.append((f"{method} {path}", response.status_code))
                if path != "/api/v1/keys" or method != "POST":  # shown once, at creation
                    answers.append(response.text)
                return response

            for who, unit, scopes in [
                ("commune", "25741", ["observations:write", "aggregates:read"]),
                ("district", "718", ["observations:write", "aggregates:read"]),
                ("operator", "74", ["coverage:read", "aggregates:read"]),
                ("doomed", "25741", ["observations:write"]),
            ]:
                created = await call(
                    "admin",
                    "POST",
                    "/api/v1/keys",
                    json={"unit": unit, "scopes": scopes, "name": who},
                )
                assert created.status_code == 201, created.text
                tokens[who] = created.json()["token"]
                tokens[f"{who}-id"] = str(created.json()["id"])

            rows = [
                {"indicator": DAILY, "value": 4, "period": day},
                {"indicator": "NOPE", "value": 1, "period": day},
            ]
            pushed = await call(
                "commune",
                "POST",
                "/api/v1/observations",
                json={"observations": rows},
                Idempotency_Key="secrecy-1",
            )
            assert pushed.status_code == 200, pushed.text
            await call("commune", "POST", "/api/v1/heartbeat", json={})
            await call("district", "POST", "/api/v1/observations", json={"observations": rows})
            for who, path in [
                ("commune", f"/api/v1/observations?indicator={DAILY}"),
                ("commune", f"/api/v1/aggregates?indicator={DAILY}"),
                ("district", "/api/v1/units?limit=5"),
                ("district", "/api/v1/coverage"),  # 403: no coverage:read
                ("operator", "/api/v1/coverage"),
                ("operator", "/api/v1/staleness?limit=5"),
                ("operator", "/api/v1/rejections"),
                ("admin", "/api/v1/keys?include_revoked=true"),
                ("", "/api/v1/units"),  # 401: no key
                (f"ioch_{secrets.token_urlsafe(32)}", "/api/v1/units"),  # 401: unknown
                ("", "/metrics"),
            ]:
                await call(who, "GET", path)
            revoked = await call("admin", "DELETE", f"/api/v1/keys/{tokens['doomed-id']}")
            assert revoked.status_code in (200, 204), revoked.text
            for path in ["/api/v1/units", "/api/v1/observations"]:
                assert (await call("doomed", "GET", path)).status_code == 401
            assert (
                await call("doomed", "POST", "/api/v1/observations", json={"observations": rows})
            ).status_code == 401
            # Malformed credentials carrying a real token.
            for header in [
                f"Basic {tokens['commune']}",
                f"Bearer {tokens['commune']}x",
                f"Bearer  {tokens['operator']} extra",
                tokens["operator"],
            ]:
                response = await http.get("/api/v1/units", headers={"Authorization": header})
                assert response.status_code == 401, header
            for who in ("commune", "operator", "district"):
                response = await http.get("/api/v1/units", headers={"X-Api-Key": tokens[who]})
                assert response.status_code == 401
        await hub.stop()
        log = hub.output()

    assert [status for _, status in statuses] == [
        *[201] * 4,  # keys minted
        *[200] * 6,  # push, heartbeat, push, three reads
        403,  # a district key asking for coverage
        *[200] * 4,
        401,  # no key
        401,  # an unknown key
        200,  # /metrics
        200,  # the revocation
        *[401] * 3,  # the revoked key
    ], statuses
    assert "POST /api/v1/observations" in log, "the access log was on"
    database = await dump(fresh_url)
    raw = sqlite_files(fresh_url) if fresh_url.startswith("sqlite") else b""
    secrets_used = {who: token for who, token in tokens.items() if not who.endswith("-id")}
    for who, token in secrets_used.items():
        assert hashlib.sha256(token.encode()).hexdigest() in database, f"{who}'s hash is kept"
        for needle in needles(token):
            assert needle not in log, f"{who}'s token in the hub's output"
            assert all(needle not in answer for answer in answers), f"{who}'s token answered"
            assert needle not in database, f"{who}'s token in the database"
            assert needle.encode() not in raw, f"{who}'s token in the SQLite files"
