"""What the fault tests share: batches whose rows say which batch they belong to, and reading
back what was stored."""

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from ioc_hub import data

DAILY = "DVC-HS-TIEP-NHAN"  # daily, 0..20000, reported by communes and districts

ROWS_PER_BATCH = 100


def reporting_units() -> list[str]:
    """Codes of the shipped districts and communes (100 of them), in a fixed order."""
    shipped = json.loads((Path(data.__file__).parent / "binh_duong_units.json").read_text())
    return sorted(u["code"] for u in shipped["units"] if u["kind"] in ("district", "commune"))


def last_complete_day() -> date:
    """Two days before today in the province: in the past on the hub's own (real) clock."""
    return datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date() - timedelta(days=2)


class Batches:
    """Row ``g`` of the run is (unit ``g mod U``, day ``g div U`` before the last complete one,
    value ``g mod 20000``): every row has a natural key of its own, so what is stored says
    which batch wrote it. With ``rejected_row`` a batch also carries one row with an unknown
    indicator named after the batch, which the hub rejects and keeps."""

    def __init__(self, rows_per_batch: int = ROWS_PER_BATCH) -> None:
        self.units = reporting_units()
        self.rows = rows_per_batch
        self.first_day = last_complete_day()

    def natural_key(self, g: int) -> tuple[str, str]:
        day = self.first_day - timedelta(days=g // len(self.units))
        return self.units[g % len(self.units)], day.isoformat()

    @staticmethod
    def value(g: int) -> float:
        return float(g % 20_000)

    @staticmethod
    def bad_indicator(batch: int) -> str:
        return f"NOPE-{batch}"

    def body(self, batch: int, *, rejected_row: bool = True) -> bytes:
        rows: list[dict[str, object]] = []
        for g in self.rows_of(batch):
            unit, period = self.natural_key(g)
            rows.append(
                {"unit": unit, "indicator": DAILY, "value": self.value(g), "period": period}
            )
        if rejected_row:
            rows.insert(batch % self.rows, {"indicator": self.bad_indicator(batch), "value": 1})
        return json.dumps({"observations": rows}).encode()

    def expected_summary(self, batch: int) -> dict[str, object]:
        return {
            "created": self.rows,
            "updated": 0,
            "unchanged": 0,
            "superseded": 0,
            "rejected": 1,
            "flagged": 0,
            "errors": [
                {
                    "index": batch % self.rows,
                    "reason": f"unknown indicator '{self.bad_indicator(batch)}'",
                }
            ],
        }

    def rows_of(self, batch: int) -> range:
        return range(batch * self.rows, (batch + 1) * self.rows)

    def batch_of(self, unit: str, period: str) -> int:
        back = (self.first_day - date.fromisoformat(period)).days
        g = back * len(self.units) + self.units.index(unit)
        return g // self.rows


@dataclass(frozen=True)
class Stored:
    """What the database holds, read in one snapshot by a connection of the test's own."""

    observations: dict[tuple[str, str], tuple[float, int]]
    """(unit, period) → (value, revision)."""
    rejections: list[str]
    """The indicator code of every kept rejected row."""
    idempotency: list[tuple[str, int]]
    """(Idempotency-Key, stored status) of every remembered push."""


async def read_stored(database_url: str) -> Stored:
    engine = create_async_engine(database_url, isolation_level="REPEATABLE READ")
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    text(
                        "SELECT u.code, o.period, o.value, o.revision FROM observations o "
                        "JOIN units u ON u.id = o.unit_id"
                    )
                )
            ).all()
            observations = {(code, period): (value, rev) for code, period, value, rev in rows}
            assert len(observations) == len(rows), "two observations share a natural key"
            rejections = list(
                await connection.scalars(text("SELECT indicator_code FROM rejections"))
            )
            idempotency = [
                (key, status)
                for key, status in await connection.execute(
                    text("SELECT idempotency_key, status_code FROM idempotency_records")
                )
            ]
    finally:
        await engine.dispose()
    return Stored(observations, rejections, idempotency)
