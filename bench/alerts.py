"""One alert evaluator pass over every rule, on PostgreSQL (issue 19; docs/design.md §9).

The seeded Bình Dương registry with a year of daily values of every obligated daily series
(bench.coverage's loader; the kept series and contact state rebuilt from them), the article's
three silent units (their contacts removed), and a realistic rule set, one of each kind for each
unit kind and each area:

- ``coverage_below`` (ratio 1.0) and ``unit_silent`` for each of the 5 counted unit kinds, and
  for the communes of each of the 9 districts;
- ``series_late`` for each unit kind (overdue, with never-reported series), each district's area
  (overdue for a day) and each of the 27 indicator groups (stale);
- ``outlier`` for each unit kind (kept, not judged by this evaluator).

A pass is what the evaluator runs: one transaction, :func:`ioc_hub.alerts.service.evaluate` at
now, committed. Timed: the first pass, which fires every alert at once; steady passes (nothing
changes); and a pass four hours later, which repeats every alert. Goal: each ≤ 1 s.

Run: ``python -m bench.alerts`` (``--quick``: a month of data, fewer steady passes). Database
server from ``IOC_HUB_BENCH_DATABASE_URL``; a throwaway database, dropped afterwards.
"""

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.common import table, throwaway_database
from bench.coverage import load_days, plain, prepare_seeded, rebuild_state
from ioc_hub.access.principal import Principal
from ioc_hub.alerts import service
from ioc_hub.alerts.schemas import AlertRuleIn
from ioc_hub.config import Settings
from ioc_hub.db import create_session_factory
from ioc_hub.models import IndicatorGroup, Observation, Unit, UnitKind
from ioc_hub.registry.service import get_province, ref

GOAL_SECONDS = 1.0
KINDS = ["ministry", "department", "vertical_agency", "district", "commune"]
SILENT = ("DEPT-SNGV", "VA-CHQ", "VA-KBNN")


def rule(name: str, **condition: Any) -> AlertRuleIn:
    return AlertRuleIn.model_validate({"name": name, "condition": condition})


async def rule_set(url: str) -> list[AlertRuleIn]:
    engine = plain(url)
    try:
        async with create_session_factory(engine)() as session:
            districts = list(
                await session.scalars(select(Unit.code).where(Unit.kind == UnitKind.DISTRICT))
            )
            groups = list(await session.scalars(select(IndicatorGroup.code)))
    finally:
        await engine.dispose()
    rules = []
    for kind in KINDS:
        rules.append(rule(f"{kind} coverage", kind="coverage_below", unit_kind=kind, ratio=1.0))
        rules.append(rule(f"{kind} silent", kind="unit_silent", unit_kind=kind))
        rules.append(rule(f"{kind} late", kind="series_late", unit_kind=kind, include_never=True))
        rules.append(rule(f"{kind} outliers", kind="outlier", threshold=3.5))
    for area in districts:
        rules.append(
            rule(
                f"{area} communes", kind="coverage_below", unit_kind="commune", ratio=1.0, area=area
            )
        )
        rules.append(rule(f"{area} silent", kind="unit_silent", area=area))
        rules.append(rule(f"{area} late", kind="series_late", area=area, late_for_seconds=86_400))
    for group in groups:
        rules.append(rule(f"{group} stale", kind="series_late", group=group, status="stale"))
    return rules


async def prepare(url: str, days: int) -> tuple[int, int]:
    """The data, the silent units and the rules; (observations, rules)."""
    _, pairs = await prepare_seeded(url)
    # Up to two days back, as bench.coverage loads it: every value received before now.
    newest = datetime.now(UTC).astimezone(Settings().tz).date() - timedelta(days=2)
    rules = await rule_set(url)
    engine = plain(url)
    try:
        async with engine.begin() as connection:
            await load_days(connection, newest, pairs, pairs * days)
        await rebuild_state(engine)
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "DELETE FROM unit_contacts WHERE unit_id IN "
                    "(SELECT id FROM units WHERE code = ANY(:silent))"
                ),
                {"silent": list(SILENT)},
            )
        sessions = create_session_factory(engine)
        async with sessions() as session, session.begin():
            province = await get_province(session)
            principal = Principal(key_id=0, unit=ref(province), scopes=frozenset())
            for body in rules:
                await service.create_rule(session, principal, body)
        async with sessions() as session:
            observations = await session.scalar(select(func.count()).select_from(Observation))
    finally:
        await engine.dispose()
    return observations or 0, len(rules)


async def timed_pass(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, at: datetime
) -> tuple[float, service.PassSummary]:
    started = time.perf_counter()
    async with sessions() as session, session.begin():
        summary = await service.evaluate(session, settings, at)
    return time.perf_counter() - started, summary


async def main(quick: bool) -> None:
    days, steady = (30, 3) if quick else (365, 9)
    async with throwaway_database("ioc_hub_bench_alerts") as url:
        started = time.perf_counter()
        observations, rules = await prepare(url, days)
        print(
            f"Bình Dương registry, {observations:,} observations ({days} days), {rules} rules; "
            f"prepared in {time.perf_counter() - started:.0f} s"
        )
        # One engine for every pass, as in the hub: statements compile once per process.
        engine = plain(url)
        sessions = create_session_factory(engine)
        settings = Settings(database_url=url)
        now = datetime.now(UTC)
        try:
            rows = []
            first, summary = await timed_pass(sessions, settings, now)
            rows.append(("first: every alert fires", summary, first))
            times = []
            for n in range(steady):
                at = now + timedelta(seconds=n + 1)
                seconds, summary = await timed_pass(sessions, settings, at)
                assert summary.fired == summary.repeated == summary.resolved == 0, summary
                times.append(seconds)
            rows.append((f"steady (median of {steady})", summary, statistics.median(times)))
            at = now + timedelta(hours=4, seconds=steady + 1)
            repeat, summary = await timed_pass(sessions, settings, at)
            rows.append(("four hours on: they repeat", summary, repeat))
        finally:
            await engine.dispose()
        print(
            table(
                [(w, p.fired, p.repeated, p.resolved, f"{t * 1000:.0f}") for w, p, t in rows],
                ["pass", "fired", "repeated", "resolved", "ms"],
            )
        )
        worst = max(first, statistics.median(times), repeat)
        verdict = "pass" if worst <= GOAL_SECONDS else "FAIL"
        print(
            f"alert pass, worst of the three: {worst:.3f} s (goal <= {GOAL_SECONDS:g} s) {verdict}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a month of data, fewer passes")
    asyncio.run(main(parser.parse_args().quick))
