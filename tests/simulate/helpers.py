"""The shipped registry and catalogue as the emulator sees them through the API."""

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ioc_hub.catalogue.seed import load_catalogue_file
from ioc_hub.kit.periods import DEFAULT_GRACE, Cadence
from ioc_hub.registry.seed import load_registry_file
from ioc_hub.simulate.scenario import (
    SCENARIO_FAULTS,
    FaultRates,
    IndicatorSpec,
    ObligationSpec,
    Plan,
    Scenario,
    UnitSpec,
)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# The article's coverage table (connected and registered units per kind), which the article
# scenario reproduces, and the reform's on 30 June 2025.
ARTICLE = {
    "ministry": {"registered": 3, "connected": 3},
    "department": {"registered": 18, "connected": 17},
    "vertical_agency": {"registered": 6, "connected": 4},
    "district": {"registered": 9, "connected": 9},
    "commune": {"registered": 91, "connected": 91},
}
# The two-tier map's on 2 July 2025: no districts, 36 communes, the rest as in the article.
TWO_TIER = {
    **{k: v for k, v in ARTICLE.items() if k != "district"},
    "commune": {"registered": 36, "connected": 36},
}
# The reform's play takes minutes on a busy machine.
PLAY_TIMEOUT = 1800
NOW = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)


def shipped_units() -> list[UnitSpec]:
    data = load_registry_file()
    province = data["province"]
    return [UnitSpec(province["code"], province["name"], "province", None)] + [
        UnitSpec(u["code"], u["name"], u["kind"], u["parent"]) for u in data["units"]
    ]


def shipped_indicators() -> dict[str, IndicatorSpec]:
    indicators = {}
    for i in load_catalogue_file()["indicators"]:
        cadence = Cadence(i["cadence"])
        indicators[i["code"]] = IndicatorSpec(
            code=i["code"],
            group=i["group"],
            cadence=cadence,
            measurement_unit=i["measurement_unit"],
            time_aggregation=i["time_aggregation"],
            min_value=i["min_value"],
            max_value=i["max_value"],
            grace=DEFAULT_GRACE[cadence],
        )
    return indicators


def shipped_obligations() -> list[ObligationSpec]:
    obligations = []
    for i in load_catalogue_file()["indicators"]:
        obligations += [ObligationSpec(i["code"], unit_kind=k) for k in i["reported_by"]["kinds"]]
        obligations += [ObligationSpec(i["code"], unit=u) for u in i["reported_by"]["units"]]
    return obligations


def shipped_plan(
    scenario: Scenario = Scenario.ARTICLE, *, seed: int = 1, faults: FaultRates | None = None
) -> Plan:
    return Plan(
        shipped_units(),
        shipped_indicators(),
        shipped_obligations(),
        scenario=scenario,
        faults=SCENARIO_FAULTS[scenario] if faults is None else faults,
        seed=seed,
        tz=TZ,
    )


async def play_reform(url: str, admin: str) -> dict[str, Any]:
    """``ioc-hub simulate --scenario reform --json`` on ``url``'s database; its summary."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ioc_hub", "simulate", "--scenario", "reform", "--json"],
        env={**os.environ, "IOC_HUB_DATABASE_URL": url, "IOC_HUB_ADMIN_KEY": admin},
        capture_output=True,
        text=True,
        timeout=PLAY_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary
