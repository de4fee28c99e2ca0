"""The spreadsheet door (docs/design.md §10): a unit's form for a period, and a filled form
read into the rows a push takes."""

import asyncio
import hashlib
from typing import IO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.access.principal import Principal
from ioc_hub.catalogue import service as catalogue
from ioc_hub.config import Settings
from ioc_hub.errors import Invalid
from ioc_hub.kit.periods import Period, PeriodError
from ioc_hub.models import Indicator, Unit
from ioc_hub.registry import service as registry
from ioc_hub.sheets import template
from ioc_hub.sheets.layout import READ, VALUE_LETTER
from ioc_hub.sheets.reader import FIELD, Format, Limits, read_upload
from ioc_hub.sheets.rows import PushedRows, pushed_rows
from ioc_hub.sheets.template import FormRow


async def form(
    session: AsyncSession, principal: Principal, unit_code: str, period_text: str
) -> tuple[Unit, Period, list[FormRow]]:
    """The unit, the period, and a row per indicator of the period's cadence the unit must
    report (its obligations, docs/design.md §2), by indicator code."""
    unit = await registry.unit_in_area(session, principal, unit_code, field="path.unit")
    try:
        period = Period.parse(period_text)
    except PeriodError as exc:
        raise Invalid(str(exc), field="query.period") from None
    obligated = [i for _, i in await catalogue.obligated_series(session, unit_ids=[unit.id])]
    indicators = await session.scalars(
        select(Indicator)
        .where(Indicator.id.in_(obligated), Indicator.cadence == period.cadence.value)
        .order_by(Indicator.code)
    )
    rows = [
        FormRow(
            unit=unit.code,
            indicator=i.code,
            name=i.name,
            measurement_unit=i.measurement_unit,
            period=period.id,
            min_value=i.min_value,
            max_value=i.max_value,
        )
        for i in indicators
    ]
    return unit, period, rows


def render(unit: Unit, period: Period, rows: list[FormRow], fmt: Format) -> bytes:
    if fmt is Format.CSV:
        return template.csv_bytes(rows)
    # "Reporting form of <unit> (<code>), period <id>"
    return template.xlsx(rows, f"Biểu mẫu báo cáo {unit.name} ({unit.code}), kỳ {period.id}")


async def read(
    settings: Settings, file: IO[bytes], declared: Format, name: str, unit: str | None
) -> tuple[PushedRows, bytes]:
    """The rows of an upload as a push takes them, and what identifies the upload to an
    ``Idempotency-Key`` (its file and ``unit``; a multipart body's boundaries differ from one
    send to the next). Reading is CPU work: it runs in a thread, off the event loop."""
    read = await asyncio.to_thread(read_upload, file, declared, name, Limits.of(settings))
    if not read:
        raise Invalid(
            f"the file reports nothing: every cell of its {READ['value'].header!r} column "
            f"(column {VALUE_LETTER} of the template) is empty",
            field=FIELD,
        )
    identity = await asyncio.to_thread(_digest, file, unit)
    return pushed_rows(read, unit), identity


def _digest(file: IO[bytes], unit: str | None) -> bytes:
    file.seek(0)
    digest = hashlib.file_digest(file, "sha256")  # type: ignore[arg-type]
    digest.update(b"\x00unit=" + (unit or "").encode())
    return digest.digest()
