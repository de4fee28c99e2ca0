"""Aggregates across the 2025 reform (docs/design.md §8), on hand-computed figures.

The shipped reform is applied to the seeded registry. Around the new ward 25945 (Phường Tân Đông
Hiệp, which continues the code of the old Phường Tân Bình):

- old 25945 Tân Bình went whole into it (its self-edge, share 1, primary);
- old 25948 Tân Đông Hiệp was divided between 25945 (primary) and 25942 (share unknown);
- old 25939 Thái Hòa was divided between 25891 Tân Khánh (primary) and 25945 (share unknown);
- old 25942 Dĩ An and 25960 An Bình went whole into the new 25942.

Quarterly indicators obliged on every commune: 91 communes exist on 2025-06-30, 36 on
2025-09-30. Values (quarter: unit → value):

    2025-Q2: 25945 → 100, 25948 → 40, 25939 → 7, 25942 → 1000, 25891 → 3
    2025-Q3: 25945 → 150, 25942 → 500

The clock is 2026-11-28, so both quarters are due and ``current`` means the tree of that day.
"""

from typing import Any

import httpx
import pytest

from tests.aggregates.helpers import make_indicator, oblige, push
from tests.catalogue.problems import assert_problem
from tests.registry.test_reorganise import reform

URL = "/api/v1/aggregates"
QUARTERS = {"bucket": "quarterly", "from": "2025-Q2", "to": "2025-Q3"}
VALUES = [
    ("25945", "2025-Q2", 100.0),
    ("25948", "2025-Q2", 40.0),
    ("25939", "2025-Q2", 7.0),
    ("25942", "2025-Q2", 1000.0),
    ("25891", "2025-Q2", 3.0),
    ("25945", "2025-Q3", 150.0),
    ("25942", "2025-Q3", 500.0),
]

Row = tuple[str, str, float | None, int, int, bool]


@pytest.fixture
async def reformed(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, str]:
    """Sum, avg and max indicators with the values above, the reform applied; the admin key."""
    for code, how in (("T-SUM", "sum"), ("T-AVG", "avg"), ("T-MAX", "max")):
        await make_indicator(client, admin, code, cadence="quarterly", time=how, area=how)
        await oblige(client, admin, indicator=code, unit_kind="commune")
    await reform(client, admin)
    for code in ("T-SUM", "T-AVG", "T-MAX"):
        await push(client, admin, code, VALUES)
    return admin


async def rows(client: httpx.AsyncClient, auth: dict[str, str], **params: Any) -> list[Row]:
    """(period, area, value, reported, expected, approximate) of one indicator's rows."""
    response = await client.get(URL, params={**QUARTERS, **params}, headers=auth)
    assert response.status_code == 200, response.text
    return [
        (r["period"], r["area"], r["value"], r["reported"], r["expected"], r["approximate"])
        for r in response.json()["items"]
    ]


# 25945 under current: in Q2 old Tân Bình whole (100) plus Tân Đông Hiệp, divided with an unknown
# share, whole to its primary successor (40, approximate); Thái Hòa's share here is unknown and
# 25945 is not its primary: nothing. Expected: the two communes whose values reach 25945. Under
# avg each predecessor weighs its share (1 for both: whole, and the whole of an unknown split).
# Under as_reported, on 2025-04-01 25945 is Phường Tân Bình alone. Q3 is the new ward's own.
NEW_WARD_Q3 = ("2025-Q3", "25945", 150.0, 1, 1, False)
TAN_BINH_Q2 = ("2025-Q2", "25945", 100.0, 1, 1, False)
NEW_WARD = {
    ("T-SUM", "current"): [("2025-Q2", "25945", 140.0, 2, 2, True), NEW_WARD_Q3],
    ("T-AVG", "current"): [("2025-Q2", "25945", 70.0, 2, 2, True), NEW_WARD_Q3],
    ("T-SUM", "as_reported"): [TAN_BINH_Q2, NEW_WARD_Q3],
    ("T-AVG", "as_reported"): [TAN_BINH_Q2, NEW_WARD_Q3],
}


@pytest.mark.parametrize(("indicator", "boundaries"), list(NEW_WARD))
async def test_the_new_ward_25945_on_each_map(
    client: httpx.AsyncClient, reformed: dict[str, str], indicator: str, boundaries: str
) -> None:
    assert (
        await rows(client, reformed, indicator=indicator, area="25945", boundaries=boundaries)
        == NEW_WARD[(indicator, boundaries)]
    )


async def test_a_non_primary_successor_of_an_unknown_share_gets_nothing_and_stays_exact(
    client: httpx.AsyncClient, reformed: dict[str, str]
) -> None:
    # New 25942 = old 25942 (1000) + 25960 (nothing pushed); 25948's share here is unknown and
    # 25942 is not its primary, so it neither adds to the value nor to the expected count.
    assert await rows(client, reformed, indicator="T-SUM", area="25942") == [
        ("2025-Q2", "25942", 1000.0, 1, 2, False),
        ("2025-Q3", "25942", 500.0, 1, 1, False),
    ]


async def test_max_counts_a_divided_commune_as_one_value_of_its_primary_successor(
    client: httpx.AsyncClient, reformed: dict[str, str]
) -> None:
    # 25891 (Phường Tân Khánh) in Q2: old 25891's own 3 and Thái Hòa's 7 (25891 is its primary
    # successor); five old communes reach it (four whole, Thái Hòa divided).
    by_commune = await rows(client, reformed, indicator="T-MAX", level="commune", to="2025-Q2")
    assert {area: rest for _, area, *rest in by_commune if area in {"25891", "25945"}} == {
        "25891": [7.0, 2, 5, True],
        "25945": [100.0, 2, 2, True],
    }


async def test_the_province_on_each_side_of_the_reform(
    client: httpx.AsyncClient, reformed: dict[str, str]
) -> None:
    # Every old commune reaches a new one, whole or through its primary successor: 91 expected
    # in Q2, 36 in Q3; Q2 holds all five values.
    assert await rows(client, reformed, indicator="T-SUM") == [
        ("2025-Q2", "79", 1150.0, 5, 91, True),
        ("2025-Q3", "79", 650.0, 2, 36, False),
    ]
    assert await rows(client, reformed, indicator="T-SUM", boundaries="as_reported") == [
        ("2025-Q2", "74", 1150.0, 5, 91, False),
        ("2025-Q3", "79", 650.0, 2, 36, False),
    ]
    # A year spanning the reform is seamless under current: both halves in one row.
    year = {"bucket": "yearly", "from": "2025", "to": "2025"}
    assert await rows(client, reformed, indicator="T-SUM", **year) == [
        ("2025", "79", 1800.0, 7, 2 * 91 + 2 * 36, True)
    ]


async def test_as_reported_rolls_old_communes_up_to_old_districts(
    client: httpx.AsyncClient, reformed: dict[str, str]
) -> None:
    by_district = await rows(
        client, reformed, indicator="T-SUM", level="district", boundaries="as_reported"
    )
    # 724 (Dĩ An) held Tân Bình, Tân Đông Hiệp and Dĩ An; 723 (Tân Uyên) held Thái Hòa and
    # Tân Phước Khánh (old 25891). After the reform no district exists, so Q3 has no district row.
    q2 = {area: rest for period, area, *rest in by_district if period == "2025-Q2"}
    assert q2["724"][:2] == [1140.0, 3]
    assert q2["723"][:2] == [10.0, 2]
    assert len(q2) == 9
    assert {period for period, *_ in by_district} == {"2025-Q2"}


async def test_an_earlier_boundaries_day_uses_that_days_tree(
    client: httpx.AsyncClient, reformed: dict[str, str]
) -> None:
    # On 2025-06-30 no edge is in force yet: 25945 is still Tân Bình, and 79 does not exist.
    before = {"boundaries_on": "2025-06-30", "to": "2025-Q2"}
    assert await rows(client, reformed, indicator="T-SUM", area="25945", **before) == [
        ("2025-Q2", "25945", 100.0, 1, 1, False)
    ]
    assert await rows(client, reformed, indicator="T-SUM", **before) == [
        ("2025-Q2", "74", 1150.0, 5, 91, False)
    ]


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ({"boundaries": "today"}, "query.boundaries", "current"),
        ({"boundaries_on": "2025-13-01"}, "query.boundaries_on", "date"),
        ({"boundaries_on": "0"}, "query.boundaries_on", "expected an ISO 8601 day"),
        (
            {"boundaries": "as_reported", "boundaries_on": "2025-07-01"},
            "query.boundaries_on",
            "boundaries=as_reported uses the map of each period's first day",
        ),
        (
            {"area": "724"},
            "query.area",
            "unit '724' does not exist on 2026-11-28 (today): ask for boundaries=as_reported",
        ),
        (
            {"area": "79", "boundaries": "as_reported", "from": "2024-Q1", "to": "2024-Q2"},
            "query.area",
            "unit '79' does not exist in the periods from 2024-01-01 to 2024-06-30",
        ),
        (
            {"boundaries_on": "2025-06-30", "area": "79"},
            "query.area",
            "unit '79' does not exist on 2025-06-30",
        ),
    ],
)
async def test_boundaries_that_make_no_sense_are_refused_naming_the_field(
    client: httpx.AsyncClient,
    reformed: dict[str, str],
    params: dict[str, str],
    field: str,
    reason: str,
) -> None:
    response = await client.get(URL, params={"indicator": "T-SUM", **params}, headers=reformed)
    assert_problem(response, 422, field, reason)
