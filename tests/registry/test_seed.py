"""`ioc-hub seed` loads the real Bình Dương registry, and running it twice changes nothing."""

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.models import Unit
from ioc_hub.seed import seed_all
from tests.conftest import bearer


async def test_seed_holds_the_articles_units_with_official_codes(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    auth = bearer(admin_token)
    counts = {}
    for kind in ("ministry", "department", "vertical_agency", "district", "commune"):
        response = await client.get(f"/api/v1/units?kind={kind}&limit=1", headers=auth)
        counts[kind] = response.json()["total"]
    assert counts == {
        "ministry": 3,
        "department": 18,
        "vertical_agency": 6,
        "district": 9,
        "commune": 91,
    }
    districts = await client.get("/api/v1/units?kind=district", headers=auth)
    district_codes = {u["code"] for u in districts.json()["items"]}
    assert district_codes == {str(code) for code in range(718, 727)}

    communes = await client.get("/api/v1/units?kind=commune&limit=1000", headers=auth)
    assert all(u["parent"] in district_codes for u in communes.json()["items"])
    assert all(len(u["code"]) == 5 and u["code"].isdigit() for u in communes.json()["items"])

    hiep_thanh = await client.get("/api/v1/units/25741", headers=auth)
    assert hiep_thanh.json()["name"] == "Phường Hiệp Thành"
    assert hiep_thanh.json()["parent"] == "718"
    province = await client.get("/api/v1/units/74", headers=auth)
    assert province.json()["name"] == "Bình Dương"
    assert province.json()["kind"] == "province"


async def test_seed_twice_changes_nothing(
    seeded: None, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with session_factory() as session:
        before = (await session.execute(select(Unit.code, Unit.updated_at))).all()
    async with session_factory() as session, session.begin():
        report = await seed_all(session)
    async with session_factory() as session:
        after = (await session.execute(select(Unit.code, Unit.updated_at))).all()
        total = await session.scalar(select(func.count()).select_from(Unit))
    assert sorted(before) == sorted(after)
    assert total == 128  # 127 units and the province
    assert "0 created" in report[0]
