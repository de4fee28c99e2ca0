"""An uploaded form read into rows, safely (docs/design.md §10, "Spreadsheets").

Nothing in an upload is trusted: its type is checked against what it declares, an XLSX
archive is measured from its directory before anything is unpacked (parts, unpacked size,
compression ratio), a sheet from its declared dimension before its rows are read, and rows are
read one at a time up to a bound. Formulas are never evaluated: openpyxl reads them as their
text, and the row that holds one is refused. A macro-enabled workbook, a hidden sheet and a
merged cell are refused with a reason; a CSV is read as UTF-8 (a byte order mark allowed) or
UTF-16 with its byte order mark, and anything else is refused.

Pure: a file and limits in, rows out; each refusal is a :class:`HubError` with its status.
"""

import codecs
import csv
import enum
import io
import re
import struct
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import PurePath
from typing import IO, Any

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from ioc_hub.config import Settings
from ioc_hub.errors import HubError, Invalid, PayloadTooLarge
from ioc_hub.sheets.layout import READ, REQUIRED, header_key

FIELD = "body.file"

CellValue = str | int | float | bool | datetime | date | time | timedelta | None


class Format(enum.StrEnum):
    XLSX = "xlsx"
    CSV = "csv"


XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv"

_BY_EXTENSION = {".xlsx": Format.XLSX, ".csv": Format.CSV, ".txt": Format.CSV, ".tsv": Format.CSV}
_BY_MEDIA_TYPE = {
    XLSX_MEDIA_TYPE: Format.XLSX,
    CSV_MEDIA_TYPE: Format.CSV,
    "text/plain": Format.CSV,
    "text/tab-separated-values": Format.CSV,
    "application/csv": Format.CSV,
}
_MACROS = "a macro-enabled workbook: the hub reads no macros; save it as an Excel Workbook (.xlsx)"
_LEGACY_XLS = "an Excel 97-2003 workbook (.xls): save it as an Excel Workbook (.xlsx)"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and a .xlsx encrypted with a password


@dataclass(frozen=True, slots=True)
class Limits:
    max_values: int
    max_rows: int
    max_columns: int
    max_unzipped_bytes: int
    max_shared_strings_bytes: int
    max_zip_ratio: float
    max_zip_entries: int

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(
            max_values=settings.max_batch,
            max_rows=settings.upload_max_rows,
            max_columns=settings.upload_max_columns,
            max_unzipped_bytes=settings.upload_max_unzipped_bytes,
            max_shared_strings_bytes=settings.upload_max_shared_strings_bytes,
            max_zip_ratio=settings.upload_max_zip_ratio,
            max_zip_entries=settings.upload_max_zip_entries,
        )


@dataclass(frozen=True, slots=True)
class Cell:
    column: int
    """From 1, as A is."""
    value: CellValue
    formula: bool = False
    error: bool = False
    """A spreadsheet error value (``#N/A``, ``#DIV/0!``), carried as its text."""


@dataclass(frozen=True, slots=True)
class SheetRow:
    """A row that carries a value: where it is, and its cells by column key (each column of
    ``layout.READ`` the sheet has, blank cells included)."""

    sheet: str
    number: int
    cells: dict[str, Cell]


def declared_format(filename: str | None, media_type: str | None) -> Format:
    """What an upload says it is: its name's extension, else its part's media type."""
    suffix = PurePath(filename or "").suffix.lower()
    if suffix in (".xlsm", ".xltm", ".xlsb"):
        raise Invalid(f"{filename!r} is {_MACROS}", field=FIELD)
    if suffix == ".xls":
        raise Invalid(f"{filename!r} is {_LEGACY_XLS}", field=FIELD)
    if suffix in _BY_EXTENSION:
        return _BY_EXTENSION[suffix]
    media = (media_type or "").split(";", 1)[0].strip().lower()
    if media in _BY_MEDIA_TYPE:
        return _BY_MEDIA_TYPE[media]
    if media.startswith("application/vnd.ms-excel.sheet.macroenabled"):
        raise Invalid(f"the file is {_MACROS}", field=FIELD)
    raise Invalid(
        f"cannot tell whether {filename or 'the file'!r} (media type {media or 'none'}) is a "
        "spreadsheet: name it .xlsx or .csv, or send it as "
        f"{XLSX_MEDIA_TYPE} or {CSV_MEDIA_TYPE}",
        field=FIELD,
    )


def read_upload(file: IO[bytes], declared: Format, name: str, limits: Limits) -> list[SheetRow]:
    """The rows of an uploaded form that carry a value, in file order. ``name`` is the sheet
    name a CSV's positions use (a spreadsheet program names a CSV's sheet after its file)."""
    head = file.read(8)
    file.seek(0)
    if declared is Format.XLSX:
        if head.startswith(_OLE_MAGIC):
            raise Invalid(
                f"the file is {_LEGACY_XLS}, or a workbook locked by a password", field=FIELD
            )
        if not head.startswith(_ZIP_MAGIC):
            raise Invalid(
                "the file is declared an XLSX workbook but is not one (not a ZIP archive)",
                field=FIELD,
            )
        return _Xlsx(file, limits).rows()
    if head.startswith(_ZIP_MAGIC):
        raise Invalid(
            "the file is declared CSV but is a ZIP archive (an XLSX workbook?): name it .xlsx",
            field=FIELD,
        )
    if head.startswith(_OLE_MAGIC):
        raise Invalid(f"the file is declared CSV but is {_LEGACY_XLS}", field=FIELD)
    return _csv_rows(_csv_text(file.read()), name, limits)


# XLSX


_MERGE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?mergeCell\b[^>]*?\bref=\"([A-Z0-9:$]+)\"")
_END_RECORD = struct.Struct("<4s4H2LH")
_MAX_ZIP_COMMENT = 0xFFFF


class _Xlsx:
    def __init__(self, file: IO[bytes], limits: Limits) -> None:
        self.file = file
        self.limits = limits
        self.merged: dict[str, list[str]] = {}
        """Merged ranges by worksheet part, found before openpyxl opens the file."""

    def rows(self) -> list[SheetRow]:
        self._check_entry_count()
        try:
            with zipfile.ZipFile(self.file) as archive:
                self._inspect(archive)
            workbook = load_workbook(self.file, read_only=True, data_only=False, keep_links=False)
        except HubError:
            raise
        except Exception as exc:  # whatever a damaged archive makes zipfile or openpyxl raise
            raise _unreadable(exc) from None
        try:
            sheets = workbook.worksheets
            hidden = [ws.title for ws in sheets if ws.sheet_state != "visible"]
            if hidden:
                raise Invalid(
                    f"the workbook has hidden sheets ({', '.join(map(repr, hidden))}): what they "
                    "hold nobody sees; unhide or delete them and upload again",
                    field=FIELD,
                )
            rows: list[SheetRow] = []
            for ws in sheets:
                # openpyxl names no public attribute for the part a read-only sheet is read from.
                ranges = self.merged.get(str(getattr(ws, "_worksheet_path", "")).lstrip("/"))
                if ranges:
                    raise Invalid(
                        f"sheet {ws.title!r} has merged cells ({', '.join(ranges[:5])}): a merged "
                        "cell hides the values under it; unmerge them and upload again",
                        field=FIELD,
                    )
                self._check_dimension(ws.title, ws.max_row, ws.max_column)
                width = min(ws.max_column or self.limits.max_columns, self.limits.max_columns)
                cells = ws.iter_rows(max_col=width, max_row=self.limits.max_rows + 1)
                _collect(rows, ws.title, (tuple(map(_cell, row)) for row in cells), self.limits)
            return rows
        except HubError:
            raise
        except Exception as exc:
            raise _unreadable(exc) from None
        finally:
            workbook.close()

    def _check_entry_count(self) -> None:
        """The number of parts, from the archive's end record: ``zipfile`` would load a
        directory of any length into memory before anything could be checked."""
        self.file.seek(0, io.SEEK_END)
        size = self.file.tell()
        self.file.seek(max(0, size - _END_RECORD.size - _MAX_ZIP_COMMENT))
        tail = self.file.read()
        self.file.seek(0)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < _END_RECORD.size:
            raise Invalid("the file is not a readable XLSX workbook: no ZIP directory", field=FIELD)
        entries = _END_RECORD.unpack_from(tail, at)[4]
        if entries == 0xFFFF or tail.rfind(b"PK\x06\x07", 0, at) >= 0:  # ZIP64
            raise PayloadTooLarge(
                "the archive is a ZIP64 one: no workbook the hub takes needs it", field=FIELD
            )
        if entries > self.limits.max_zip_entries:
            raise PayloadTooLarge(
                f"the archive holds {entries} parts; an upload may hold "
                f"{self.limits.max_zip_entries} (upload_max_zip_entries)",
                field=FIELD,
            )

    def _inspect(self, archive: zipfile.ZipFile) -> None:
        infos = archive.infolist()
        if len(infos) > self.limits.max_zip_entries:  # the end record undercounted
            raise PayloadTooLarge(
                f"the archive holds more than {self.limits.max_zip_entries} parts", field=FIELD
            )
        total = 0
        for info in infos:
            total += info.file_size
            if total > self.limits.max_unzipped_bytes:
                raise PayloadTooLarge(
                    f"the workbook unpacks to more than {self.limits.max_unzipped_bytes} bytes "
                    "(upload_max_unzipped_bytes)",
                    field=FIELD,
                )
            strings = self.limits.max_shared_strings_bytes
            if info.filename.lower().endswith("sharedstrings.xml") and info.file_size > strings:
                raise PayloadTooLarge(
                    f"the workbook's shared strings unpack to {info.file_size} bytes; an upload "
                    f"may have {strings} (upload_max_shared_strings_bytes)",
                    field=FIELD,
                )
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > 1024 * 1024 and ratio > self.limits.max_zip_ratio:
                raise PayloadTooLarge(
                    f"part {info.filename!r} is compressed {ratio:.0f} to 1; an upload may be "
                    f"at most {self.limits.max_zip_ratio:g} to 1 (upload_max_zip_ratio)",
                    field=FIELD,
                )
        names = {info.filename.lower() for info in infos}
        if any(name.endswith("vbaproject.bin") for name in names):
            raise Invalid(f"the file is {_MACROS}", field=FIELD)
        if "xl/workbook.xml" not in names:
            raise Invalid(
                "the file is declared an XLSX workbook but is not one (no xl/workbook.xml)",
                field=FIELD,
            )
        for info in infos:
            if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                ranges = _merged_ranges(archive, info)
                if ranges:
                    self.merged[info.filename] = ranges

    def _check_dimension(self, title: str, rows: int | None, columns: int | None) -> None:
        if rows is not None and rows > self.limits.max_rows:
            raise PayloadTooLarge(
                f"sheet {title!r} declares {rows} rows; an upload may have "
                f"{self.limits.max_rows} (upload_max_rows)",
                field=FIELD,
            )
        if columns is not None and columns > self.limits.max_columns:
            raise PayloadTooLarge(
                f"sheet {title!r} declares {columns} columns (up to "
                f"{get_column_letter(min(columns, 16384))}); an upload may have "
                f"{self.limits.max_columns} (upload_max_columns)",
                field=FIELD,
            )


def _merged_ranges(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> list[str]:
    """The merged ranges a worksheet part declares, found by streaming it: its size was
    bounded by ``_inspect`` and the read stops at the size its directory entry declares."""
    ranges: list[str] = []
    carry = b""
    with archive.open(info) as part:
        while chunk := part.read(1 << 16):
            text = carry + chunk
            ranges += (m.decode() for m in _MERGE.findall(text))
            # An element cut by the chunk's end is found whole in the next round.
            cut = text.rfind(b"<")
            carry = text[cut:] if cut >= 0 and b">" not in text[cut:] else b""
    return ranges


def _cell(cell: Any) -> Cell | None:
    value = cell.value
    if value is None:
        return None
    kind = getattr(cell, "data_type", None)
    return Cell(cell.column, value, formula=kind == "f", error=kind == "e")


def _unreadable(exc: Exception) -> Invalid:
    reason = str(exc).strip() or type(exc).__name__
    return Invalid(f"the file is not a readable XLSX workbook: {reason[:200]}", field=FIELD)


# CSV


_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _csv_text(body: bytes) -> str:
    """The text of a CSV upload: UTF-8, or UTF-16 or UTF-8 with a byte order mark. Legacy code
    pages (Windows-1258, TCVN3, VNI) cannot be told apart from one another reliably, so they are
    refused, saying how to save the file instead."""
    if body.startswith(codecs.BOM_UTF32_LE):
        raise Invalid("the CSV is UTF-32: save it as CSV UTF-8", field=FIELD)
    encoding, start = "utf-8", 0
    for bom, name in _BOMS:
        if body.startswith(bom):
            encoding, start = name, (len(bom) if name == "utf-8" else 0)
            break
    if encoding == "utf-8" and b"\x00" in body:
        raise Invalid(
            "the CSV holds NUL bytes: it is UTF-16 without a byte order mark, or not text at "
            "all. Save it as 'CSV UTF-8 (Comma delimited)'",
            field=FIELD,
        )
    try:
        text = body[start:].decode(encoding)
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise Invalid(
            f"the CSV is not {encoding.upper()}: byte {exc.start} (line {line}) cannot be "
            "decoded. Save it as 'CSV UTF-8 (Comma delimited)'; legacy code pages such as "
            "Windows-1258 are not read",
            field=FIELD,
        ) from None
    if "\x00" in text:
        raise Invalid("the CSV holds NUL characters: it is not text", field=FIELD)
    return text.removeprefix("\ufeff")


def _csv_rows(text: str, name: str, limits: Limits) -> list[SheetRow]:
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    try:
        records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        rows: list[SheetRow] = []
        _collect(rows, name, _csv_cells(records, name, limits), limits)
        return rows
    except csv.Error as exc:
        raise Invalid(f"the CSV cannot be read: {exc}", field=FIELD) from None


def _csv_cells(
    records: Iterable[list[str]], name: str, limits: Limits
) -> Iterator[tuple[Cell | None, ...]]:
    for number, record in enumerate(records, start=1):
        if len(record) > limits.max_columns:
            raise PayloadTooLarge(
                f"row {number} of {name!r} has {len(record)} columns; an upload may have "
                f"{limits.max_columns} (upload_max_columns)",
                field=FIELD,
            )
        yield tuple(
            Cell(column, text) if text.strip() else None
            for column, text in enumerate(record, start=1)
        )


# Both


def _collect(
    rows: list[SheetRow], sheet: str, cells: Iterable[tuple[Cell | None, ...]], limits: Limits
) -> None:
    """Append the sheet's rows that carry a value. Its first non-blank row must be the form's
    header; a sheet with nothing in it is skipped."""
    columns: dict[str, int] | None = None
    for number, row in enumerate(cells, start=1):
        if number > limits.max_rows:
            raise PayloadTooLarge(
                f"sheet {sheet!r} has rows beyond row {limits.max_rows} (upload_max_rows)",
                field=FIELD,
            )
        if not any(row):
            continue
        if columns is None:
            columns = _header(sheet, number, row)
            continue
        value = _at(row, columns["value"])
        if value is None or (isinstance(value.value, str) and not value.value.strip()):
            continue  # not reported
        if len(rows) >= limits.max_values:
            raise PayloadTooLarge(
                f"the file has more than {limits.max_values} values; an upload may carry "
                f"{limits.max_values} (max_batch)",
                field=FIELD,
            )
        rows.append(
            SheetRow(
                sheet,
                number,
                {key: _at(row, column) or Cell(column, None) for key, column in columns.items()},
            )
        )


def _at(row: tuple[Cell | None, ...], column: int) -> Cell | None:
    return row[column - 1] if column <= len(row) else None


def _header(sheet: str, number: int, row: tuple[Cell | None, ...]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for cell in row:
        if cell is None or not isinstance(cell.value, str):
            continue
        key = header_key(cell.value)
        if key is None:
            continue
        if key in columns:
            raise Invalid(
                f"sheet {sheet!r} has two {READ[key].header!r} ({key}) columns, "
                f"{get_column_letter(columns[key])} and {get_column_letter(cell.column)}",
                field=FIELD,
            )
        columns[key] = cell.column
    missing = [key for key in REQUIRED if key not in columns]
    if missing:
        wanted = ", ".join(f"{READ[key].header!r} ({key})" for key in missing)
        raise Invalid(
            f"sheet {sheet!r}: row {number}, its first, is not the form's header: it lacks "
            f"{wanted}. Start from the template (GET /api/v1/templates/{{unit}})",
            field=FIELD,
        )
    return columns
