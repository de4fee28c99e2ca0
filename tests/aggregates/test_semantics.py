"""What an aggregate means (docs/design.md §5), on hand-computed fixtures: over time by the
indicator's time aggregation, then over units by its area aggregation; reported against expected.

The clock is 2026-11-28 17:00 in Asia/Ho_Chi_Minh, so November 2026 has 28 days due.
"""

from datetime import date, timedelta

import httpx
import pytest

from tests.aggregates.helpers import (
    DISTRICT,
    ELSEWHERE,
    A,
    B,
    aggregates,
    communes,
    make_indicator,
    oblige,
    push,
)

# Per unit over October: A reports 10 (Oct 5) and 30 (Oct 20); B reports 20 (Oct 10) and
# 50 (Oct 12). Over time A → sum 40, avg 20, min 10, max 30, last 30 (its Oct 20);
# B → sum 70, avg 35, min 20, max 50, last 50 (its Oct 12). Over units, `last` takes A's value:
# its latest period (Oct 20) is later than B's (Oct 12).
COMBINATIONS = {
    ("sum", "sum"): 110.0,
    ("sum", "avg"): 55.0,
    ("sum", "min"): 40.0,
    ("sum", "max"): 70.0,
    ("sum", "last"): 40.0,
    ("avg", "sum"): 55.0,
    ("avg", "avg"): 27.5,
    ("avg", "min"): 20.0,
    ("avg", "max"): 35.0,
    ("avg", "last"): 20.0,
    ("min", "sum"): 30.0,
    ("min", "avg"): 15.0,
    ("min", "min"): 10.0,
    ("min", "max"): 20.0,
    ("min", "last"): 10.0,
    ("max", "sum"): 80.0,
    ("max", "avg"): 40.0,
    ("max", "min"): 30.0,
    ("max", "max"): 50.0,
    ("max", "last"): 30.0,
    ("last", "sum"): 80.0,
    ("last", "avg"): 40.0,
    ("last", "min"): 30.0,
    ("last", "max"): 50.0,
    ("last", "last"): 30.0,
}


@pytest.mark.parametrize(("time", "area"), list(COMBINATIONS))
async def test_every_time_and_area_aggregation_combines_as_defined(
    client: httpx.AsyncClient, admin: dict[str, str], time: str, area: str
) -> None:
    code = f"T-{time}-{area}".upper()
    await make_indicator(client, admin, code, time=time, area=area)
    await oblige(client, admin, indicator=code, unit_kind="commune", district=DISTRICT)
    await push(
        client,
        admin,
        code,
        [
            (A, "2026-10-05", 10),
            (A, "2026-10-20", 30),
            (B, "2026-10-10", 20),
            (B, "2026-10-12", 50),
        ],
    )
    rows = await aggregates(
        client, admin, code, bucket="monthly", from_="2026-10", to="2026-10", area=DISTRICT
    )
    # Seven communes of 719 are obliged, 31 days each.
    assert rows == [("2026-10", DISTRICT, COMBINATIONS[(time, area)], 4, 7 * 31)]


async def test_daily_counts_sum_over_a_month_then_over_each_district(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """sum/sum: applications received (seeded: communes, districts and departments report)."""
    code = "DVC-HS-TIEP-NHAN"
    await push(
        client,
        admin,
        code,
        [
            (A, "2026-10-01", 5),
            (A, "2026-10-02", 7),
            (DISTRICT, "2026-10-01", 100),
            (ELSEWHERE, "2026-10-01", 3),
            ("DEPT-SNV", "2026-10-01", 1000),
            (A, "2026-11-02", 9),
        ],
    )
    by_district = await aggregates(
        client, admin, code, bucket="monthly", from_="2026-10", to="2026-11", level="district"
    )
    october = {area: row for period, area, *row in by_district if period == "2026-10"}
    # 719: its own unit and 7 communes are obliged; 724 likewise; 718 has 14 communes.
    assert october[DISTRICT] == [112.0, 3, 8 * 31]
    assert october["724"] == [3.0, 1, 8 * 31]
    assert october["718"] == [None, 0, 15 * 31], "a district nobody reported in is a gap, not 0"
    assert len(october) == 9, "departments count in no district"
    november = {area: row for period, area, *row in by_district if period == "2026-11"}
    assert november[DISTRICT] == [9.0, 1, 8 * 28], "28 days of November are due on the 28th"

    province = await aggregates(
        client, admin, code, bucket="monthly", from_="2026-10", to="2026-10"
    )
    # The province row also holds the departments: 18 + 9 districts + 91 communes are obliged.
    assert province == [("2026-10", "74", 1115.0, 5, 118 * 31)]


async def test_cumulative_counts_take_each_units_latest_period_then_sum(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """last/sum: a backlog is a stock; the bucket's figure is each unit's latest, summed."""
    code = "DVC-HS-QUA-HAN"
    await push(client, admin, code, [(A, "2026-10-05", 10), (A, "2026-10-20", 15)])
    # Sent later but for an earlier day: the latest *period* wins, not the latest push.
    await push(client, admin, code, [(A, "2026-10-10", 12), (B, "2026-10-31", 7)])
    await push(client, admin, code, [(A, "2026-11-03", 20)])

    monthly = await aggregates(
        client, admin, code, bucket="monthly", from_="2026-10", to="2026-11", area=DISTRICT
    )
    assert monthly == [
        ("2026-10", DISTRICT, 22.0, 4, 8 * 31),
        ("2026-11", DISTRICT, 20.0, 1, 8 * 28),
    ]
    quarter = await aggregates(
        client, admin, code, bucket="quarterly", from_="2026-Q4", to="2026-Q4", area=DISTRICT
    )
    # Q4 so far: Oct 1 .. Nov 28 = 59 days due.
    assert quarter == [("2026-Q4", DISTRICT, 27.0, 5, 8 * 59)]


async def test_rates_average_per_unit_first_then_across_units(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """avg/avg: A's months average to 60, B's to 90, so the district reads 75 — not 70, the
    mean of the three reports, which would weigh A twice."""
    code = "DVC-TY-LE-TRUC-TUYEN"  # monthly avg/avg
    await push(client, admin, code, [(A, "2026-07", 50), (A, "2026-08", 70), (B, "2026-09", 90)])
    rows = await aggregates(
        client, admin, code, bucket="quarterly", from_="2026-Q3", to="2026-Q3", area=DISTRICT
    )
    assert rows == [("2026-Q3", DISTRICT, 75.0, 3, 8 * 3)]


async def test_maxima_and_minima(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await push(
        client,
        admin,
        "AQI-MAX",
        [("DEPT-STNMT", "2026-10-01", 80), ("DEPT-STNMT", "2026-10-02", 150)],
    )
    await push(client, admin, "AQI-MAX", [("DEPT-STNMT", "2026-10-05", 95)])
    await push(
        client,
        admin,
        "DO-NUOC-MAT-MIN",
        [
            ("DEPT-STNMT", "2026-10-01", 6.5),
            ("DEPT-STNMT", "2026-10-02", 4.25),
            ("DEPT-STNMT", "2026-10-05", 7),
        ],
    )
    month = {"bucket": "monthly", "from_": "2026-10", "to": "2026-10"}
    assert await aggregates(client, admin, "AQI-MAX", **month) == [("2026-10", "74", 150.0, 3, 31)]
    assert await aggregates(client, admin, "DO-NUOC-MAT-MIN", **month) == [
        ("2026-10", "74", 4.25, 3, 31)
    ]
    weeks = await aggregates(
        client, admin, "AQI-MAX", bucket="weekly", from_="2026-W40", to="2026-W41"
    )
    assert weeks == [("2026-W40", "74", 150.0, 2, 7), ("2026-W41", "74", 95.0, 1, 7)]


async def test_days_fall_into_weeks_months_quarters_and_years(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Values 1, 2, 4, 8 on Sun 29 Mar, Mon 30 Mar, Tue 31 Mar and Wed 1 Apr 2026: each sum
    says exactly which days a bucket holds."""
    await make_indicator(client, admin, "T-DAY")
    await oblige(client, admin, indicator="T-DAY", unit=A)
    days = [(A, "2026-03-29", 1), (A, "2026-03-30", 2), (A, "2026-03-31", 4), (A, "2026-04-01", 8)]
    await push(client, admin, "T-DAY", days)

    async def buckets(
        bucket: str, first: str, last: str
    ) -> list[tuple[str, float | None, int, int]]:
        rows = await aggregates(client, admin, "T-DAY", bucket=bucket, from_=first, to=last, area=A)
        assert {area for _, area, *_ in rows} == {A}
        return [
            (period, value, reported, expected) for period, _, value, reported, expected in rows
        ]

    assert await buckets("daily", "2026-03-29", "2026-03-30") == [
        ("2026-03-29", 1.0, 1, 1),
        ("2026-03-30", 2.0, 1, 1),
    ]
    assert await buckets("weekly", "2026-W13", "2026-W14") == [
        ("2026-W13", 1.0, 1, 7),
        ("2026-W14", 14.0, 3, 7),
    ]
    assert await buckets("monthly", "2026-03", "2026-04") == [
        ("2026-03", 7.0, 3, 31),
        ("2026-04", 8.0, 1, 30),
    ]
    assert await buckets("quarterly", "2026-Q1", "2026-Q2") == [
        ("2026-Q1", 7.0, 3, 90),
        ("2026-Q2", 8.0, 1, 91),
    ]
    # Up to 28 November: 304 days to the end of October, then 28.
    assert await buckets("yearly", "2026", "2026") == [("2026", 15.0, 4, 332)]
    # A coarser bound names its first (or last) bucket: Q1..Q2 in months is January..June.
    assert await buckets("monthly", "2026-Q1", "2026-Q2") == [
        ("2026-01", None, 0, 31),
        ("2026-02", None, 0, 28),
        ("2026-03", 7.0, 3, 31),
        ("2026-04", 8.0, 1, 30),
        ("2026-05", None, 0, 31),
        ("2026-06", None, 0, 30),
    ]


async def test_weeks_fall_into_the_month_of_their_thursday(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """2026-W40 runs Mon 28 Sep – Sun 4 Oct: its Thursday is 1 Oct, so it is October's (and
    Q4's); 2026-W44 runs 26 Oct – 1 Nov and stays in October. 2025-W01 starts on 30 Dec 2024
    and belongs to January 2025."""
    await make_indicator(client, admin, "T-WEEK", cadence="weekly")
    await oblige(client, admin, indicator="T-WEEK", unit=A)
    await push(
        client,
        admin,
        "T-WEEK",
        [
            (A, "2026-W39", 1),
            (A, "2026-W40", 2),
            (A, "2026-W44", 4),
            (A, "2026-W45", 8),
            (A, "2024-W52", 32),
            (A, "2025-W01", 16),
        ],
    )
    months = await aggregates(
        client, admin, "T-WEEK", bucket="monthly", from_="2026-09", to="2026-11", area=A
    )
    # Thursdays: Sep 3..24 (4 weeks), Oct 1..29 (5), Nov 5..26 (4, the last one current).
    assert months == [
        ("2026-09", A, 1.0, 1, 4),
        ("2026-10", A, 6.0, 2, 5),
        ("2026-11", A, 8.0, 1, 4),
    ]
    quarters = await aggregates(
        client, admin, "T-WEEK", bucket="quarterly", from_="2026-Q3", to="2026-Q4", area=A
    )
    # Q3: W27 (Thu 2 Jul) .. W39; Q4 so far: W40 .. W48 (the current week).
    assert quarters == [("2026-Q3", A, 1.0, 1, 13), ("2026-Q4", A, 14.0, 3, 9)]
    new_year = await aggregates(
        client, admin, "T-WEEK", bucket="monthly", from_="2024-12", to="2025-01", area=A
    )
    assert new_year == [("2024-12", A, 32.0, 1, 4), ("2025-01", A, 16.0, 1, 5)]
    # A week as a bound names the month it belongs to.
    assert await aggregates(
        client, admin, "T-WEEK", bucket="monthly", from_="2026-W40", to="2026-W40", area=A
    ) == [("2026-10", A, 6.0, 2, 5)]


async def test_a_gap_shows_as_fewer_reported_than_expected(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """88 of the 91 communes report a monthly rate; the province row says 88 of 91, and the
    three silent communes are rows of their own with no value."""
    code = "ASXH-TY-LE-QUA-TAI-KHOAN"  # monthly avg/avg, every commune reports it
    everyone = communes()
    assert len(everyone) == 91
    reporting, silent = everyone[:88], everyone[88:]
    await push(
        client,
        admin,
        code,
        [(c, "2026-10", 70 if i % 2 else 90) for i, c in enumerate(reporting)],
    )
    window = {"bucket": "monthly", "from_": "2026-10", "to": "2026-10"}
    assert await aggregates(client, admin, code, **window) == [("2026-10", "74", 80.0, 88, 91)]
    by_commune = await aggregates(client, admin, code, level="commune", **window)
    assert len(by_commune) == 91
    assert [row for row in by_commune if row[3] == 0] == [
        ("2026-10", c, None, 0, 1) for c in silent
    ]


async def test_a_gap_in_a_daily_series_over_a_quarter(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Q2 2026 has 91 days; A skips three of them."""
    await make_indicator(client, admin, "T-DAY")
    await oblige(client, admin, indicator="T-DAY", unit=A)
    days = [date(2026, 4, 1) + timedelta(days=n) for n in range(91)]
    skipped = {date(2026, 4, 30), date(2026, 5, 1), date(2026, 6, 15)}
    await push(client, admin, "T-DAY", [(A, d.isoformat(), 1) for d in days if d not in skipped])
    rows = await aggregates(
        client, admin, "T-DAY", bucket="quarterly", from_="2026-Q2", to="2026-Q2", area=A
    )
    assert rows == [("2026-Q2", A, 88.0, 88, 91)]


async def test_units_group_by_level(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """At unit level every unit is its own row (the district's own unit too); a unit without an
    obligation still counts, so reported may exceed expected."""
    await make_indicator(client, admin, "T-DAY")
    await oblige(client, admin, indicator="T-DAY", unit=A)
    await push(
        client,
        admin,
        "T-DAY",
        [(A, "2026-10-01", 1), (B, "2026-10-01", 2), (DISTRICT, "2026-10-01", 4)],
    )
    window = {"bucket": "monthly", "from_": "2026-10", "to": "2026-10", "area": DISTRICT}
    assert await aggregates(client, admin, "T-DAY", level="unit", **window) == [
        ("2026-10", A, 1.0, 1, 31),
        ("2026-10", B, 2.0, 1, 0),
        ("2026-10", DISTRICT, 4.0, 1, 0),
    ]
    assert await aggregates(client, admin, "T-DAY", level="commune", **window) == [
        ("2026-10", A, 1.0, 1, 31),
        ("2026-10", B, 2.0, 1, 0),
    ]
    assert await aggregates(client, admin, "T-DAY", **window) == [("2026-10", DISTRICT, 7.0, 3, 31)]


async def test_several_indicators_come_ordered_by_code(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await make_indicator(client, admin, "T-B")
    await make_indicator(client, admin, "T-A", cadence="monthly")
    await push(client, admin, "T-B", [(A, "2026-10-01", 1)])
    await push(client, admin, "T-A", [(A, "2026-10", 2)])
    response = await client.get(
        "/api/v1/aggregates",
        params={"indicator": "T-B,T-A", "from": "2026-10", "to": "2026-10", "area": A},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    # No bucket given: the coarsest cadence among them (monthly) serves both.
    assert [(r["indicator"], r["period"], r["value"]) for r in response.json()["items"]] == [
        ("T-A", "2026-10", 2.0),
        ("T-B", "2026-10", 1.0),
    ]
    repeated = await client.get(
        "/api/v1/aggregates",
        params=[("indicator", "T-B"), ("indicator", "T-A"), ("from", "2026-10"), ("area", A)],
        headers=admin,
    )
    assert repeated.json()["items"] == response.json()["items"]


async def test_defaults_are_the_keys_area_its_level_and_twelve_buckets_to_now(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await make_indicator(client, admin, "T-MONTH", cadence="monthly")
    await oblige(client, admin, indicator="T-MONTH", unit=A)
    await push(client, admin, "T-MONTH", [(A, "2025-12", 1), (A, "2026-11", 2)])
    rows = await aggregates(client, admin, "T-MONTH")
    assert [row[0] for row in rows] == [f"2025-{m:02d}" for m in (12,)] + [
        f"2026-{m:02d}" for m in range(1, 12)
    ]
    assert rows[0] == ("2025-12", "74", 1.0, 1, 1)
    assert rows[-1] == ("2026-11", "74", 2.0, 1, 1)
    # A bucket in the future holds nothing due and no data: no row at all.
    assert await aggregates(client, admin, "T-MONTH", from_="2026-12", to="2027-01") == []
