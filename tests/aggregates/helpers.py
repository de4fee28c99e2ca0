"""Shared by the aggregates and open-data tests: indicators made to measure, pushes as the
province, and rows read back as plain tuples."""

from typing import Any

import httpx

from ioc_hub.registry.seed import load_registry_file

# 719 (Huyện Bàu Bàng) has seven communes; 724 (Thành phố Dĩ An) seven too.
DISTRICT = "719"
A, B = "25816", "25819"  # two communes of 719
ELSEWHERE = "25942"  # a commune of 724


def communes(district: str | None = None) -> list[str]:
    """Codes of the shipped registry's communes (of one district), sorted."""
    return sorted(
        u["code"]
        for u in load_registry_file()["units"]
        if u["kind"] == "commune" and (district is None or u["parent"] == district)
    )


async def make_indicator(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    code: str,
    *,
    cadence: str = "daily",
    time: str = "sum",
    area: str = "sum",
    open_data: bool = False,
) -> None:
    body = {
        "code": code,
        "name": f"Chỉ số thử {code}",
        "group": "G-CCHC",
        "cadence": cadence,
        "measurement_unit": "x",
        "time_aggregation": time,
        "area_aggregation": area,
        "open": open_data,
    }
    response = await client.post("/api/v1/indicators", json=body, headers=admin)
    assert response.status_code == 201, response.text


async def oblige(client: httpx.AsyncClient, admin: dict[str, str], **target: str) -> None:
    response = await client.post("/api/v1/obligations", json=target, headers=admin)
    assert response.status_code == 201, response.text


async def push(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    indicator: str,
    rows: list[tuple[str, str, float]],
) -> None:
    """Push (unit, period, value) rows of one indicator; every row must be accepted."""
    for start in range(0, len(rows), 500):
        body = {
            "observations": [
                {"unit": unit, "indicator": indicator, "period": period, "value": value}
                for unit, period, value in rows[start : start + 500]
            ]
        }
        response = await client.post("/api/v1/observations", json=body, headers=auth)
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == 0, response.json()


Row = tuple[str, str, float | None, int, int]


def table(items: list[dict[str, Any]]) -> list[Row]:
    """Rows as (period, area, value, reported, expected)."""
    return [(r["period"], r["area"], r["value"], r["reported"], r["expected"]) for r in items]


async def aggregates(
    client: httpx.AsyncClient, auth: dict[str, str], indicator: str, **params: Any
) -> list[Row]:
    """The rows of one indicator's aggregates, checked to be a 200 JSON page holding them all."""
    params = {key.removesuffix("_"): value for key, value in params.items()}
    response = await client.get(
        "/api/v1/aggregates", params={"indicator": indicator, **params}, headers=auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    assert {r["indicator"] for r in body["items"]} <= {indicator}
    return table(body["items"])
