"""The emulator on the national registry: an import-only backfill of chosen indicators over real
HTTP stores their rows for every obliged unit, and a run refuses the wrong hub or indicator."""

import asyncio
import io
from dataclasses import replace

import pytest
from fastapi import FastAPI
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.models import Indicator, Observation, Scope, Unit
from ioc_hub.registry.seed import NATIONAL_FILE, load_registry_file
from ioc_hub.seed import RegistryName, seed_all
from ioc_hub.simulate.client import SimulationError
from ioc_hub.simulate.runner import Options, simulate
from ioc_hub.simulate.scenario import FaultRates, Scenario
from tests.conftest import MintKey

# Monthly and yearly, obliged on Bình Dương's home-affairs department: on the national registry,
# on its synthetic copy in each of the 34 provinces; and daily, obliged on every commune.
INDICATORS = frozenset({"MOOCS-LUOT-HOAN-THANH", "PAR-INDEX", "DVC-HS-TIEP-NHAN"})

PROVINCES = [p["code"] for p in load_registry_file(NATIONAL_FILE)["provinces"]]
COMMUNES = [c["code"] for c in load_registry_file(NATIONAL_FILE)["communes"]]


def options(url: str, key: str, **changes: object) -> Options:
    chosen = Options(
        url=url,
        admin_key=key,
        scenario=Scenario.HEALTHY,
        seed=1,
        backfill_days=2,
        live=False,
        speed=1.0,
        duration=None,
        faults=FaultRates(),
        timezone="Asia/Ho_Chi_Minh",
        batch_size=500,  # the test app's largest batch
        indicators=INDICATORS,
        import_only=True,
        registry=RegistryName.VIETNAM_2025,
    )
    return replace(chosen, **changes)


async def test_an_import_only_backfill_stores_the_chosen_indicators_rows(
    app: FastAPI,
    live_url: str,
    session_factory: async_sessionmaker[AsyncSession],
    mint_key: MintKey,
) -> None:
    async with session_factory() as session, session.begin():
        await seed_all(session, RegistryName.VIETNAM_2025, departments=1)
    admin = await mint_key("VN", Scope.OBSERVATIONS_IMPORT, Scope.KEYS_ADMIN, name="admin")
    out = io.StringIO()
    summary = await simulate(options(live_url, admin), Console(file=out, width=120))

    tally = summary.tally
    assert tally.failed == tally.rejected == tally.pushed == tally.heartbeats == 0
    assert tally.created == tally.imported >= 34 + 3321
    assert tally.planned == tally.imported + tally.held_back + tally.missing
    assert "backfill (imports)" in out.getvalue()
    async with session_factory() as session:
        stored = await session.execute(
            select(Indicator.code, Unit.code)
            .select_from(Observation)
            .join(Indicator, Indicator.id == Observation.indicator_id)
            .join(Unit, Unit.id == Observation.unit_id)
        )
        rows = stored.all()
    assert len(rows) == tally.created
    assert {indicator for indicator, _ in rows} <= INDICATORS
    assert {unit for _, unit in rows} == {f"{p}-DEPT-SNV" for p in PROVINCES} | set(COMMUNES)
    async with asyncio.timeout(30):  # the stream's events go out before the next test
        await app.state.stream.publisher.drained()


async def test_a_run_refuses_another_registry_or_an_unknown_indicator(
    live_url: str, admin_token: str
) -> None:
    console = Console(file=io.StringIO())
    with pytest.raises(SimulationError, match="does not hold the vietnam-2025 registry"):
        await simulate(options(live_url, admin_token), console)
    unknown = options(
        live_url, admin_token, registry=RegistryName.BINH_DUONG, indicators=frozenset({"NOPE"})
    )
    with pytest.raises(SimulationError, match="no active indicator NOPE"):
        await simulate(unknown, console)
