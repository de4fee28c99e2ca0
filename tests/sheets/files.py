"""Spreadsheets for the tests: forms filled with openpyxl, and hostile workbooks made by
rewriting a real one's parts."""

import io
import zipfile
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from openpyxl import Workbook, load_workbook

from ioc_hub.sheets.layout import COLUMNS
from ioc_hub.sheets.reader import XLSX_MEDIA_TYPE

HEADERS = [c.header for c in COLUMNS]
VALUE = 1 + [c.key for c in COLUMNS].index("value")  # column H


def fill(template: bytes, values: dict[str, Any]) -> bytes:
    """The downloaded form with ``values`` typed in by indicator code, saved as Excel would."""
    workbook = load_workbook(io.BytesIO(template))
    sheet = workbook.active
    assert sheet is not None
    for row in sheet.iter_rows(min_row=2):
        code = row[1].value
        if code in values:
            row[VALUE - 1].value = values[code]
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def workbook(rows: Iterable[Iterable[Any]], *, header: bool = True, **sheets: Any) -> bytes:
    """A workbook whose first sheet, ``Sheet1``, holds the form's header and ``rows``;
    ``sheets`` names more sheets and their rows."""
    book = Workbook()
    first = book.active
    assert first is not None
    first.title = "Sheet1"
    if header:
        first.append(HEADERS)
    for row in rows:
        first.append(list(row))
    for title, more in sheets.items():
        sheet = book.create_sheet(title)
        for row in more:
            sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rewritten(xlsx: bytes, change: Callable[[str, bytes], bytes | None], **extra: bytes) -> bytes:
    """``xlsx`` with each part passed through ``change`` (None drops it) and ``extra`` parts
    added, every part deflated."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(xlsx)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            data = change(info.filename, source.read(info))
            if data is not None:
                target.writestr(info.filename, data)
        for name, data in extra.items():
            target.writestr(name, data)
    return out.getvalue()


def sheet_xml(rows: Iterable[str], dimension: str = "A1:H2") -> bytes:
    """A worksheet part with ``rows`` (``<row>`` elements) as its data."""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="{dimension}"/><sheetData>{"".join(rows)}</sheetData></worksheet>'
    ).encode()


def with_sheet(xlsx: bytes, part: bytes) -> bytes:
    """``xlsx`` with its first worksheet replaced by ``part``."""
    return rewritten(xlsx, lambda name, data: part if name == "xl/worksheets/sheet1.xml" else data)


async def upload(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    content: bytes,
    filename: str = "form.xlsx",
    media_type: str | None = None,
    **data: str,
) -> httpx.Response:
    kind = media_type or (XLSX_MEDIA_TYPE if filename.endswith(".xlsx") else "text/csv")
    return await client.post(
        "/api/v1/uploads",
        files={"file": (filename, content, kind)},
        data=data,
        headers=auth,
    )


def reasons(body: dict[str, Any]) -> list[str]:
    summary = body.get("summary") or body
    return [e["reason"] for e in summary["errors"]]
