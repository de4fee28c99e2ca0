"""A unit's reporting form for a period, written as XLSX or CSV. Pure: rows in, bytes out."""

import csv
import io
from collections import defaultdict
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from ioc_hub.ingest.rows import MAX_MAGNITUDE, number
from ioc_hub.sheets.layout import COLUMNS, SHEET_TITLE, VALUE_LETTER


@dataclass(frozen=True, slots=True)
class FormRow:
    """One indicator the unit must report for the period."""

    unit: str
    indicator: str
    name: str
    measurement_unit: str
    period: str
    min_value: float | None
    max_value: float | None

    def cells(self) -> dict[str, str | float | None]:
        return {
            "unit": self.unit,
            "indicator": self.indicator,
            "name": self.name,
            "measurement_unit": self.measurement_unit,
            "period": self.period,
            "min": self.min_value,
            "max": self.max_value,
            "value": None,
        }


_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", start_color="DDE6F0")
_INPUT_FILL = PatternFill("solid", start_color="FFF7D6")


def xlsx(rows: list[FormRow], title: str) -> bytes:
    """The form as a workbook of one protected sheet: only the value cells can be typed in,
    each checked by the spreadsheet against its indicator's range. The protection has no
    password: it keeps a clerk from overwriting a code by mistake, not a determined one from
    changing it, and the hub checks every uploaded row anyway."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = SHEET_TITLE
    workbook.properties.title = title
    sheet.append([c.header for c in COLUMNS])
    for cell in sheet[1]:
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in rows:
        sheet.append(list(row.cells().values()))
    for index, column in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    ranges: defaultdict[tuple[float | None, float | None], list[str]] = defaultdict(list)
    for number_, row in enumerate(rows, start=2):
        cell = sheet[f"{VALUE_LETTER}{number_}"]
        cell.protection = Protection(locked=False)
        cell.fill = _INPUT_FILL
        ranges[row.min_value, row.max_value].append(cell.coordinate)
    for (low, high), cells in ranges.items():
        sheet.add_data_validation(_range_check(low, high, " ".join(cells)))
    sheet.freeze_panes = "A2"
    sheet.protection.sheet = True
    # Resizing columns and rows stays allowed: it changes no value.
    sheet.protection.formatColumns = False
    sheet.protection.formatRows = False
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _range_check(low: float | None, high: float | None, cells: str) -> DataValidation:
    """A decimal between the range's ends, an unbounded end standing at the largest magnitude
    the hub takes; blank stays allowed (a blank value is not reported)."""
    lowest, highest = (
        (-MAX_MAGNITUDE if low is None else low),
        (MAX_MAGNITUDE if high is None else high),
    )
    if low is None and high is None:
        shown = "Nhập một số"  # "enter a number"
    elif high is None:
        shown = f"Nhập một số từ {number(lowest)} trở lên"  # "… from low upwards"
    elif low is None:
        shown = f"Nhập một số không quá {number(highest)}"  # "… at most high"
    else:
        shown = f"Nhập một số từ {number(lowest)} đến {number(highest)}"  # "… from low to high"
    check = DataValidation(
        type="decimal",
        operator="between",
        formula1=number(lowest),
        formula2=number(highest),
        allow_blank=True,
        showErrorMessage=True,
        showInputMessage=True,
        errorTitle="Giá trị không hợp lệ",  # "invalid value"
        error=shown,
        promptTitle="Giá trị",
        prompt=shown,
        sqref=cells,
    )
    return check


def csv_bytes(rows: list[FormRow]) -> bytes:
    """The form as CSV, UTF-8 with a byte order mark: Excel then opens the Vietnamese names
    right (without one it reads them in the machine's legacy code page)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header for c in COLUMNS])
    for row in rows:
        writer.writerow(
            "" if value is None else number(value) if isinstance(value, float) else value
            for value in row.cells().values()
        )
    return "\ufeff".encode() + out.getvalue().encode()
