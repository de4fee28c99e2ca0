"""kit.dialect on each engine: key lookups answer what a row-value IN does, from the index."""

from datetime import date

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.kit.dialect import is_postgresql, keys_in
from ioc_hub.models import OutlierMonth

ROWS = [(u, i, date(2026, m, 1)) for u in (1, 2, 3) for i in (7, 8) for m in (1, 2, 3)]


async def test_keys_in_finds_exactly_the_keys_through_the_index(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    wanted = [(1, 7, date(2026, 2, 1)), (3, 8, date(2026, 3, 1)), (9, 9, date(2026, 1, 1))]
    m = OutlierMonth
    async with session_factory() as session, session.begin():
        await session.execute(
            m.__table__.insert(),
            [
                {"unit_id": u, "indicator_id": i, "month": d, "month_values": [1.0]}
                for u, i, d in ROWS
            ],
        )
        query = select(m.unit_id, m.indicator_id, m.month).where(
            keys_in(session, [m.unit_id, m.indicator_id, m.month], wanted)
        )
        assert sorted(tuple(r) for r in await session.execute(query)) == wanted[:2]
        assert list(await session.execute(query.where(keys_in(session, [m.unit_id], [])))) == []
        if not is_postgresql(session):
            # A bare VALUES list would be "SCAN outlier_months": every row held against the keys.
            literal = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
            plan = " | ".join(
                r[3] for r in await session.execute(text(f"EXPLAIN QUERY PLAN {literal}"))
            )
            assert plan.startswith("SEARCH outlier_months USING"), plan
            assert "SCAN outlier_months" not in plan, plan
        await session.rollback()
