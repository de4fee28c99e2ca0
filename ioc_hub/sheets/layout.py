"""The columns of a reporting form: the one description the template is written from and an
upload is read by."""

import re
import unicodedata
from dataclasses import dataclass

from openpyxl.utils import get_column_letter

SHEET_TITLE = "BaoCao"
"""The template's one sheet ("báo cáo", report)."""


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    """The pushed row's field it feeds, or what it shows; also accepted as its header."""
    header: str
    """What the template's header row says (Vietnamese, for the clerk)."""
    width: float
    read: bool
    """Whether an upload reads it; the other columns are there for the clerk only."""


COLUMNS = (
    Column("unit", "Mã đơn vị", 11, read=True),
    Column("indicator", "Mã chỉ tiêu", 24, read=True),
    Column("name", "Tên chỉ tiêu", 56, read=False),
    Column("measurement_unit", "Đơn vị tính", 14, read=False),
    Column("period", "Kỳ báo cáo", 12, read=True),
    Column("min", "Giá trị tối thiểu", 16, read=False),
    Column("max", "Giá trị tối đa", 16, read=False),
    Column("value", "Giá trị", 14, read=True),
)
"""The template's columns, in order: only ``value`` is left for the clerk to fill in."""

COMMENT = Column("comment", "Ghi chú", 40, read=True)
"""Not in the template, but read when an upload has it: the pushed row's ``comment``."""

READ = {c.key: c for c in (*COLUMNS, COMMENT) if c.read}
REQUIRED = ("indicator", "period", "value")
"""Without these columns a sheet cannot say what its values are."""

VALUE_LETTER = get_column_letter(1 + [c.key for c in COLUMNS].index("value"))


def header_key(text: str) -> str | None:
    """The column a header cell names, by its Vietnamese header or its key (any case, any
    Unicode normalisation), or None."""
    wanted = _folded(text)
    for column in READ.values():
        if wanted in (_folded(column.header), column.key):
            return column.key
    return None


def _folded(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


_PLAIN_SHEET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def cell_ref(sheet: str, column: int | None, row: int) -> str:
    """``Sheet1!D7`` as a spreadsheet writes it (``'Báo cáo'!D7`` when the name needs quotes);
    ``Sheet1!7:7``, the whole row, when no column is to blame."""
    name = sheet if _PLAIN_SHEET_NAME.fullmatch(sheet) else "'" + sheet.replace("'", "''") + "'"
    if column is None:
        return f"{name}!{row}:{row}"
    return f"{name}!{get_column_letter(column)}{row}"
