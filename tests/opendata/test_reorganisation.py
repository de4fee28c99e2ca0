"""Open data across the 2025 reform (docs/design.md §8): the same boundaries as aggregates,
published by the province of the day. Figures as in tests/aggregates/test_reorganisation.py."""

import httpx

from tests.aggregates.helpers import make_indicator, oblige, push
from tests.aggregates.test_reorganisation import QUARTERS, VALUES
from tests.catalogue.problems import assert_problem
from tests.conftest import Clock, bearer
from tests.registry.test_reorganise import reform

CODE = "T-OPEN"


async def test_open_data_follows_the_boundaries_asked_for(
    client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    admin = bearer(admin_token)
    await make_indicator(client, admin, CODE, cadence="quarterly", open_data=True)
    await oblige(client, admin, indicator=CODE, unit_kind="commune")
    await reform(client, admin)
    await push(client, admin, CODE, VALUES)

    async def rows(**params: str) -> list[tuple[str, str, float | None, int, int, bool]]:
        response = await client.get(f"/open/v1/data/{CODE}", params={**QUARTERS, **params})
        assert response.status_code == 200, response.text
        return [
            (r["period"], r["area"], r["value"], r["reported"], r["expected"], r["approximate"])
            for r in response.json()["items"]
        ]

    assert await rows() == [
        ("2025-Q2", "79", 1150.0, 5, 91, True),
        ("2025-Q3", "79", 650.0, 2, 36, False),
    ]
    assert await rows(boundaries="as_reported") == [
        ("2025-Q2", "74", 1150.0, 5, 91, False),
        ("2025-Q3", "79", 650.0, 2, 36, False),
    ]
    by_district = await rows(boundaries="as_reported", level="district")
    assert ("2025-Q2", "724", 1140.0, 3, 7, False) in by_district, "724 had 7 communes"
    assert await rows(level="district") == [], "the two-tier map has no district"
    refused = await client.get(f"/open/v1/data/{CODE}", params={"boundaries": "then"})
    assert_problem(refused, 422, "query.boundaries", "as_reported")

    catalog = (await client.get("/open/v1/catalog")).json()
    assert catalog["publisher"] == {"name": "Thành phố Hồ Chí Minh"}
