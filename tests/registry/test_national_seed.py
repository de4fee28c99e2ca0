"""`ioc-hub seed --registry vietnam-2025`: the nation, its 34 provinces and 3,321 communes,
synthetic departments, the catalogue's obligations; idempotent, and alone in its database."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.errors import Conflict
from ioc_hub.models import Obligation, Scope, Unit, UnitVersion
from ioc_hub.seed import RegistryName, seed_all
from tests.conftest import MintKey, bearer
from tests.fixtures.database import ENGINES, database_url_for

NATIONAL = RegistryName.VIETNAM_2025
# Per province: enough to hold a second copy of a Bình Dương department (it has 18).
DEPARTMENTS = 19


@pytest.fixture
async def national(session_factory: async_sessionmaker[AsyncSession]) -> list[str]:
    async with session_factory() as session, session.begin():
        return await seed_all(session, NATIONAL, DEPARTMENTS)


async def count(client: httpx.AsyncClient, token: str, **params: str) -> int:
    response = await client.get(
        "/api/v1/units", params={**params, "limit": 1}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


async def test_national_seed_holds_the_nation_its_provinces_communes_and_departments(
    client: httpx.AsyncClient, national: list[str], mint_key: MintKey
) -> None:
    assert national[0] == f"units: {1 + 34 + 3321 + 34 * DEPARTMENTS} created, 0 already present"
    token = await mint_key("VN", *Scope)
    assert await count(client, token, kind="nation") == 1
    assert await count(client, token, kind="province") == 34
    assert await count(client, token, kind="commune") == 3321
    assert await count(client, token, kind="department") == 34 * DEPARTMENTS
    assert await count(client, token, kind="district") == 0
    assert await count(client, token, parent="VN") == 34
    # Hà Nội holds its communes (126 of them) and its synthetic departments, named as such.
    assert await count(client, token, parent="01", kind="commune") == 126
    hanoi = await client.get(
        "/api/v1/units", params={"parent": "01", "kind": "department"}, headers=bearer(token)
    )
    departments = {u["code"]: u for u in hanoi.json()["items"]}
    assert len(departments) == DEPARTMENTS
    assert all(u["name"].endswith("(synthetic)") for u in departments.values())
    assert departments["01-DEPT-SYT"]["name"] == "Sở Y tế, Thành phố Hà Nội (synthetic)"
    assert departments["01-DEPT-SNV-2"]["name"].startswith("Sở Nội vụ 2,")
    commune = (await client.get("/api/v1/units/00004", headers=bearer(token))).json()
    assert commune | {"kind": "commune", "parent": "01", "subtype": "phường"} == commune
    assert commune["name_ascii"] == "Phuong Ba Dinh"

    # Obligations: kind-wide ones as in Bình Dương, and Bình Dương's health department's on the
    # first copy of it in every province (not on the second copy of another department).
    obligations = await client.get(
        "/api/v1/obligations", params={"limit": 1000}, headers=bearer(token)
    )
    listed = obligations.json()["items"]
    assert any(o["indicator"] == "DVC-HS-TIEP-NHAN" and o["unit_kind"] == "commune" for o in listed)
    staleness = await client.get(
        "/api/v1/staleness", params={"unit": "01-DEPT-SYT", "limit": 1000}, headers=bearer(token)
    )
    own = {i["indicator"] for i in staleness.json()["items"]}
    assert "YT-LUOT-NHAP-VIEN" in own  # obliged on DEPT-SYT alone in the catalogue
    other = await client.get(
        "/api/v1/staleness", params={"unit": "01-DEPT-SNV-2", "limit": 1000}, headers=bearer(token)
    )
    assert "YT-LUOT-NHAP-VIEN" not in {i["indicator"] for i in other.json()["items"]}

    # Coverage counts departments and communes, never the nation or the provinces.
    coverage = (
        await client.get("/api/v1/coverage", params={"limit": 1}, headers=bearer(token))
    ).json()
    assert {k: v["registered"] for k, v in coverage["kinds"].items() if v["registered"]} == {
        "department": 34 * DEPARTMENTS,
        "commune": 3321,
    }
    assert "nation" not in coverage["kinds"]
    assert "province" not in coverage["kinds"]
    in_hanoi = await client.get(
        "/api/v1/coverage", params={"area": "01", "limit": 1000}, headers=bearer(token)
    )
    assert in_hanoi.json()["units"]["total"] == 126 + DEPARTMENTS


async def test_a_province_key_reaches_its_own_communes_only(
    client: httpx.AsyncClient, national: list[str], mint_key: MintKey
) -> None:
    token = await mint_key("01", Scope.COVERAGE_READ)
    mine = await client.get("/api/v1/coverage", params={"limit": 1}, headers=bearer(token))
    assert mine.status_code == 200
    assert mine.json()["kinds"]["commune"]["registered"] == 126
    other = await client.get(
        "/api/v1/coverage", params={"area": "79", "limit": 1}, headers=bearer(token)
    )
    assert other.status_code == 403
    assert "province '01' and its units" in other.json()["detail"]


async def test_national_seed_twice_changes_nothing_and_is_quick(
    national: list[str], session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with session_factory() as session:
        before = (await session.execute(select(Unit.code, Unit.updated_at))).all()
        obligations = await session.scalar(select(func.count()).select_from(Obligation))
    started = time.monotonic()
    async with session_factory() as session, session.begin():
        report = await seed_all(session, NATIONAL, DEPARTMENTS)
    assert time.monotonic() - started < 10
    async with session_factory() as session:
        after = (await session.execute(select(Unit.code, Unit.updated_at))).all()
        versions = await session.scalar(select(func.count()).select_from(UnitVersion))
        again = await session.scalar(select(func.count()).select_from(Obligation))
    assert sorted(before) == sorted(after)
    assert versions == len(after)  # one version per unit, none added
    assert again == obligations
    assert report[0] == f"units: 0 created, {len(after)} already present"
    assert report[-1].startswith("obligations: 0 created")


async def test_a_database_holds_one_registry(
    national: list[str], session_factory: async_sessionmaker[AsyncSession]
) -> None:
    with pytest.raises(Conflict, match="holds the national registry"):
        async with session_factory() as session, session.begin():
            await seed_all(session)


async def test_the_national_registry_is_refused_over_binh_duong(
    seeded: None, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    with pytest.raises(Conflict, match="registry rooted at '74'"):
        async with session_factory() as session, session.begin():
            await seed_all(session, NATIONAL)


@pytest.fixture(params=ENGINES)
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async for url in database_url_for(request.param, tmp_path):
        yield url


async def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ioc_hub", *args],
        env={**os.environ, "IOC_HUB_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_seed_command_takes_the_registry_and_its_departments(fresh_url: str) -> None:
    seeded = await run(fresh_url, "seed", "--registry", "vietnam-2025", "--departments", "2")
    assert seeded.returncode == 0, seeded.stderr
    assert f"units: {1 + 34 + 3321 + 34 * 2} created, 0 already present" in seeded.stderr
    assert "obligations:" in seeded.stderr
    refused = await run(fresh_url, "seed")
    assert refused.returncode == 1
    assert "holds the national registry" in refused.stderr
    # Departments are the national registry's; the emulator's import-only run needs a backfill.
    misplaced = await run(fresh_url, "seed", "--departments", "3")
    assert misplaced.returncode == 2
    assert "--departments" in misplaced.stderr
    no_history = await run(fresh_url, "simulate", "--admin-key", "ioch_x", "--import-only")
    assert no_history.returncode == 2
    assert "--import-only" in no_history.stderr
