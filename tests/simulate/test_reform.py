"""The reform scenario: the emulator's province through the 1 July 2025 reorganisation.

The pure part (the nightly sends, the rows either side of D) is checked here
directly; the play itself end to end, over HTTP, by ``ioc-hub simulate --scenario reform`` as a
real process on each engine, read back from a real hub process.
"""

from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from ioc_hub.kit.periods import Cadence
from ioc_hub.simulate.reform import (
    FIRST_DAY,
    LAST_DAY,
    LOOKBACK,
    SEND_HOURS,
    midnight,
    played_rows,
    send_hour,
    table_instants,
    ticks,
)
from ioc_hub.simulate.scenario import FaultRates, Plan, Scenario
from tests.conftest import Reformed
from tests.fixtures.process import running_hub
from tests.simulate.helpers import (
    ARTICLE,
    TWO_TIER,
    TZ,
    shipped_indicators,
    shipped_obligations,
    shipped_plan,
    shipped_units,
)

D = date(2025, 7, 1)
START, SWITCH, END = (midnight(day, TZ) for day in (FIRST_DAY, D, LAST_DAY + timedelta(days=1)))


def test_the_tables_are_read_at_noon_either_side_of_the_day() -> None:
    before, after = table_instants(D, TZ)
    assert before.isoformat() == "2025-06-30T12:00:00+07:00"
    assert after.isoformat() == "2025-07-02T12:00:00+07:00"
    steps = list(ticks(START, END))
    assert SWITCH in steps
    assert steps[-1] == END
    assert len(steps) == 61 * 24


def test_units_send_once_a_night_everything_that_has_ended_and_on_time() -> None:
    plan = shipped_plan(Scenario.REFORM)
    rows = played_rows(plan, START - LOOKBACK, SWITCH, START, END)
    assert rows
    for row in rows:
        local = row.arrival.astimezone(TZ)
        assert local.hour == send_hour(row.unit, plan.seed) in SEND_HOURS
        assert (local.minute, local.second) == (0, 0)
        assert row.period.end_at(TZ) < row.arrival <= row.deadline
        assert START < row.arrival <= END
    # One request per unit and night: a unit's rows of a night go together.
    nights = Counter((r.unit, r.arrival.date()) for r in rows)
    assert len({arrival for _, arrival in nights}) <= 31
    # May's monthly values, which arrive in June, are played: they connect monthly reporters.
    assert any(r.period.id == "2025-05" for r in rows)
    assert not any(r.period.end_at(TZ) > SWITCH for r in rows)


def test_a_late_value_waits_for_the_night_after_its_deadline() -> None:
    plan = shipped_plan(Scenario.REFORM, faults=FaultRates(late=1.0))
    rows = played_rows(plan, START - LOOKBACK, SWITCH, START, END)
    assert rows
    for row in rows:
        assert row.arrival > row.deadline
        assert row.arrival.astimezone(TZ).hour == send_hour(row.unit, plan.seed)


def test_the_new_map_reports_from_the_day_on_and_the_old_units_end() -> None:
    units = shipped_units()
    ended = {u.code for u in units if u.kind == "district"} | {"25741"}
    after = Plan(
        [u for u in units if u.code not in ended],
        shipped_indicators(),
        shipped_obligations(),
        scenario=Scenario.REFORM,
        faults=FaultRates(),
        seed=1,
        tz=TZ,
    )
    rows = played_rows(after, SWITCH, END, START, END)
    assert {r.unit for r in rows}.isdisjoint(ended)
    daily = [r for r in rows if r.period.cadence is Cadence.DAILY]
    assert min(r.period.start for r in daily) == D
    assert all(r.arrival > SWITCH for r in rows)
    # The same units stay silent on both maps: the article's 17/18 and 4/6 carry on.
    assert after.expected_coverage()["department"] == (17, 18)
    assert after.expected_coverage()["vertical_agency"] == (4, 6)


def table(kinds: dict[str, dict[str, int]]) -> dict[str, list[int]]:
    return {k: [v["connected"], v["registered"]] for k, v in kinds.items()}


@pytest.mark.slow
async def test_reform_scenario_reproduces_both_tables_over_http(
    reformed: Reformed, tmp_path: Path
) -> None:
    fresh_url, admin, summary = reformed.url, reformed.admin, reformed.summary
    assert summary["failures"] == {}
    assert summary["rejected"] == 0
    assert summary["reorganisation"]["effective"] == "2025-07-01"
    assert summary["reorganisation"]["ended"] == 65
    rows = summary["rows"]
    assert rows["pushed"] == summary["accepted"]["created"] == rows["planned"] > 25_000
    played = summary["coverage_at"]
    assert list(played) == ["2025-06-30T12:00:00+07:00", "2025-07-02T12:00:00+07:00"]
    for instant, expected in zip(played, (ARTICLE, TWO_TIER), strict=True):
        assert played[instant]["coverage"] == played[instant]["expected"] == table(expected)

    # Read back from a real hub process: the article's table, then the two-tier map's.
    async with (
        running_hub(fresh_url, tmp_path / "hub.log") as hub,
        httpx.AsyncClient(
            base_url=hub.url, headers={"Authorization": f"Bearer {admin}"}, timeout=60
        ) as http,
    ):
        for instant, expected in zip(played, (ARTICLE, TWO_TIER), strict=True):
            answer = await http.get("/api/v1/coverage", params={"at": instant, "limit": 1000})
            assert answer.status_code == 200, answer.text
            coverage = answer.json()
            assert coverage["kinds"] == expected, instant
            units = coverage["units"]["items"]
            if instant.startswith("2025-07-02"):
                # The 36 successors, all under the new city, all heard from since the switch.
                communes = [u for u in units if u["kind"] == "commune"]
                assert {u["parent"] for u in communes} == {"79"}
                assert all(u["connected"] for u in communes)
        # The successors' values after D are theirs, pushed with their own keys.
        after = await http.get(
            "/api/v1/observations",
            params={"unit": "25945", "from": "2025-07-01", "to": "2025-07-31", "limit": 1000},
        )
        assert after.status_code == 200, after.text
        assert after.json()["total"] > 0
        assert not any(o["imported"] for o in after.json()["items"])
    started = datetime.fromisoformat(summary["started_at"])
    assert datetime.fromisoformat(summary["reached"]) < started
