"""What the data-quality tests share: a series with a baseline worked out by hand."""

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

NOW = "2026-11-28T10:00:00+00:00"  # 17:00 in the province
DAILY = "DVC-HS-TIEP-NHAN"  # daily, range 0..20000; communes report it
COMMUNE = "25741"  # a commune of district 718
NEIGHBOUR = "25816"  # a commune of another district

# 60 days before November 2026 (2026-09-01 .. 2026-10-30) holding 10, 12, 14 twenty times
# each: median 12 and MAD 2 (deviations: 20 zeros, 40 twos); mean 12, sd √(160/59).
BASELINE_DAYS = [date(2026, 9, 1) + timedelta(days=i) for i in range(60)]
BASELINE_VALUES = [(10.0, 12.0, 14.0)[i % 3] for i in range(60)]
# What a November value of 30 scores against it.
MODIFIED_Z_30 = 0.6745 * 18 / 2
BOUNDS = (12 - 3 * 2 / 0.6745, 12 + 3 * 2 / 0.6745)
# The commune's November 2 value of 30 as an outlier row (and in its stream event).
ROW_30 = {
    "unit": COMMUNE,
    "indicator": DAILY,
    "period": "2026-11-02",
    "value": 30.0,
    "centre": 12.0,
    "spread": 2.0,
    "score": pytest.approx(MODIFIED_Z_30),
    "lower": pytest.approx(BOUNDS[0]),
    "upper": pytest.approx(BOUNDS[1]),
    "n": 60,
}


def rows(unit: str, days: list[date], values: list[float]) -> list[dict[str, Any]]:
    return [
        {"unit": unit, "indicator": DAILY, "value": v, "period": d.isoformat()}
        for d, v in zip(days, values, strict=True)
    ]


async def push(
    client: httpx.AsyncClient, auth: dict[str, str], observations: list[dict[str, Any]]
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/observations", json={"observations": observations}, headers=auth
    )
    assert response.status_code == 200, response.text
    summary: dict[str, Any] = response.json()
    return summary


async def push_baseline(
    client: httpx.AsyncClient, auth: dict[str, str], unit: str = COMMUNE
) -> None:
    summary = await push(client, auth, rows(unit, BASELINE_DAYS, BASELINE_VALUES))
    assert (summary["created"], summary["flagged"]) == (60, 0)
