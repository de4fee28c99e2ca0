"""A form's rows made into pushed rows (``ObservationIn``), each bad one refused with the cell
to blame (``BaoCao!H7: value 'abc' is not a number``)."""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError

from ioc_hub.ingest.rows import BadRow, Reason, explain, show
from ioc_hub.ingest.schemas import ObservationIn
from ioc_hub.sheets.layout import READ, cell_ref
from ioc_hub.sheets.reader import Cell, CellValue, SheetRow

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

_COLUMN_OF = {
    Reason.UNKNOWN_INDICATOR: "indicator",
    Reason.INACTIVE_INDICATOR: "indicator",
    Reason.UNKNOWN_UNIT: "unit",
    Reason.INACTIVE_UNIT: "unit",
    Reason.OUTSIDE_AREA: "unit",
    Reason.INVALID_PERIOD: "period",
    Reason.FUTURE_PERIOD: "period",
    Reason.INCONSISTENT: "period",
    Reason.INVALID_TIME: "period",
    Reason.FUTURE_TIME: "period",
}
"""The column a registry check's reason is about; any other reason is about the value."""


class _Refused(Exception):
    def __init__(self, key: str, reason: str, code: Reason = Reason.WRONG_TYPE) -> None:
        super().__init__(reason)
        self.key, self.reason, self.code = key, reason, code


@dataclass
class PushedRows:
    """An upload's rows as a push takes them: each row, what it held, and where it was."""

    rows: list[ObservationIn | BadRow] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    places: list[SheetRow] = field(default_factory=list)

    def where(self, index: int, code: Reason) -> str:
        """The cell a reason about row ``index`` points at (``pipeline.Push.where``)."""
        return _ref(self.places[index], _COLUMN_OF.get(code, "value"))


def pushed_rows(read: list[SheetRow], unit: str | None) -> PushedRows:
    """``unit`` is for rows that name none (no unit column, or a blank cell in it); without
    it, such rows are the key's own unit's, as a push's are."""
    out = PushedRows()
    for place in read:
        sent: dict[str, Any] = {"sheet": place.sheet, "row": place.number}
        try:
            fields = _fields(place, unit)
            sent.update(fields)
            row: ObservationIn | BadRow = ObservationIn.model_validate(fields)
        except _Refused as exc:
            sent.update({k: _json(c.value) for k, c in place.cells.items()})
            row = BadRow(f"{_ref(place, exc.key)}: {exc.reason}", exc.code)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            reason, code = explain(error, sent, ObservationIn)
            key = str(error["loc"][0]) if error["loc"] else "value"
            row = BadRow(f"{_ref(place, key)}: {reason}", code)
        out.rows.append(row)
        out.sent.append(sent)
        out.places.append(place)
    return out


def _fields(place: SheetRow, unit: str | None) -> dict[str, Any]:
    for key, cell in place.cells.items():
        if cell.formula:
            raise _Refused(
                key,
                f"{key} is a formula ({show(str(cell.value))}); the hub never evaluates "
                "formulas: type the value itself",
                Reason.INVALID_VALUE,
            )
        if cell.error:
            raise _Refused(key, f"{key} is the spreadsheet error {cell.value}")
    fields: dict[str, Any] = {
        key: _text(key, place.cells[key].value)
        for key in ("unit", "indicator", "period", "comment")
        if key in place.cells
    }
    if fields.get("unit") is None:
        fields["unit"] = unit
    fields["value"] = _number(place.cells["value"].value)
    return {key: value for key, value in fields.items() if value is not None}


def _text(key: str, value: CellValue) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        raise _Refused(key, f"{key} must be text, not a boolean")
    if isinstance(value, int | float) and float(value).is_integer():
        return str(int(value))  # a code typed into a cell the spreadsheet took for a number
    if key == "period" and isinstance(value, date):  # a datetime is a date too
        return (value.date() if isinstance(value, datetime) else value).isoformat()
    raise _Refused(key, f"{key} must be text, not {_kind(value)}")


def _number(value: CellValue) -> float:
    if isinstance(value, bool):
        raise _Refused("value", "value must be a number, not a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            return float(text)
        if "," in text and _NUMBER.fullmatch(text.replace(",", "")):
            raise _Refused(
                "value",
                f"value {show(text)} is not a number as the hub reads one: write decimals "
                "with a point (12.5) and no thousands separators",
            )
        raise _Refused("value", f"value {show(text)} is not a number")
    raise _Refused("value", f"value must be a number, not {_kind(value)}")


def _kind(value: CellValue) -> str:
    if isinstance(value, datetime | date):
        return "a date"
    if isinstance(value, time):
        return "a time of day"
    if isinstance(value, timedelta):
        return "a duration"
    return "a number" if isinstance(value, int | float) else type(value).__name__


def _json(value: CellValue) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return value


def _ref(place: SheetRow, key: str) -> str:
    cell: Cell | None = place.cells.get(key) if key in READ else None
    return cell_ref(place.sheet, cell.column if cell else None, place.number)
