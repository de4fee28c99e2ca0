"""Uploads that are not what they say, or are built to hurt (docs/design.md §10,
"Spreadsheets"): each gets a 413 or a 422 naming `body.file` and why, never a 500, and
nothing is stored. The limits themselves are checked on the reader, with small bounds; the
memory a bomb costs a real hub process is measured in test_upload_memory.py."""

import io
import zipfile
from dataclasses import replace
from typing import Any

import httpx
import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.errors import HubError
from ioc_hub.models import Observation, Scope
from ioc_hub.sheets.reader import Format, Limits, read_upload
from tests.conftest import Clock, MintKey, bearer
from tests.sheets.files import HEADERS, rewritten, sheet_xml, upload, with_sheet, workbook

DAY = "2026-11-27"
GOOD_ROW = ["25741", "DVC-HS-TIEP-NHAN", "", "", DAY, "", "", 5]
LIMITS = Limits(
    max_values=100,
    max_rows=100,
    max_columns=16,
    max_unzipped_bytes=2 * 1024 * 1024,
    max_shared_strings_bytes=64 * 1024,
    max_zip_ratio=200,
    max_zip_entries=50,
)


@pytest.fixture
async def commune(seeded: None, mint_key: MintKey, clock: Clock) -> dict[str, str]:
    clock.set("2026-11-28T10:00:00+00:00")
    return bearer(await mint_key("25741", Scope.OBSERVATIONS_WRITE))


def refusal(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error["field"] == "body.file"
    reason: str = error["reason"]
    return reason


def refused_by_reader(content: bytes, limits: Limits = LIMITS) -> tuple[int, str]:
    with pytest.raises(HubError) as caught:
        read_upload(io.BytesIO(content), Format.XLSX, "form", limits)
    return caught.value.status, caught.value.detail


def one_sheet_book(change: Any) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Sheet1"
    sheet.append(HEADERS)
    sheet.append(GOOD_ROW)
    change(book, sheet)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_files_that_are_not_what_they_declare(
    client: httpx.AsyncClient,
    commune: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    good = workbook([GOOD_ROW])
    csv_text = ",".join(HEADERS).encode() + b"\n"
    cases = [
        (csv_text, "form.xlsx", None, "declared an XLSX workbook but is not one (not a ZIP"),
        (good, "form.csv", None, "declared CSV but is a ZIP archive (an XLSX workbook?)"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "form.xlsx", None, "97-2003"),
        (good, "form.xls", None, "an Excel 97-2003 workbook (.xls)"),
        (good, "form.xlsm", None, "a macro-enabled workbook: the hub reads no macros"),
        (good, "form", "application/vnd.ms-excel.sheet.macroEnabled.12", "macro-enabled"),
        (good, "form.bin", "application/octet-stream", "cannot tell whether 'form.bin'"),
        (b"PK\x03\x04" + bytes(200), "form.xlsx", None, "no ZIP directory"),
        (good[: len(good) // 2], "form.xlsx", None, "not a readable XLSX workbook"),
        (
            rewritten(good, lambda name, data: data, **{"xl/vbaProject.bin": b"\x00" * 64}),
            "form.xlsx",
            None,
            "a macro-enabled workbook",
        ),
        (
            rewritten(good, lambda name, data: None if name == "xl/workbook.xml" else data),
            "form.xlsx",
            None,
            "no xl/workbook.xml",
        ),
        (
            workbook([["25741", "X", "", "", DAY, "", "", 1]], header=False),
            "form.xlsx",
            None,
            "row 1, its first, is not the form's header: it lacks 'Mã chỉ tiêu' (indicator)",
        ),
    ]
    for content, name, media_type, expected in cases:
        response = await upload(client, commune, content, name, media_type)
        assert expected in refusal(response, 422), (name, expected)
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Observation)) == 0


async def test_a_damaged_part_is_refused_not_crashed_on(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    good = workbook([GOOD_ROW])
    # Flip bytes inside the worksheet's compressed data: its CRC no longer matches.
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    damaged = bytearray(good)
    for at in range(start + 10, start + 30):
        damaged[at] ^= 0xFF
    reason = refusal(await upload(client, commune, bytes(damaged)), 422)
    assert reason.startswith("the file is not a readable XLSX workbook: ")


async def test_hidden_sheets_and_merged_cells_are_refused_with_a_reason(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    def hide(book: Workbook, sheet: Any) -> None:
        book.create_sheet("Nháp").sheet_state = "hidden"

    def very_hide(book: Workbook, sheet: Any) -> None:
        book.create_sheet("Ẩn").sheet_state = "veryHidden"

    def merge(book: Workbook, sheet: Any) -> None:
        sheet.append(GOOD_ROW)
        sheet.merge_cells("H2:H3")

    assert refusal(await upload(client, commune, one_sheet_book(hide)), 422) == (
        "the workbook has hidden sheets ('Nháp'): what they hold nobody sees; unhide or delete "
        "them and upload again"
    )
    assert "('Ẩn')" in refusal(await upload(client, commune, one_sheet_book(very_hide)), 422)
    assert refusal(await upload(client, commune, one_sheet_book(merge)), 422) == (
        "sheet 'Sheet1' has merged cells (H2:H3): a merged cell hides the values under it; "
        "unmerge them and upload again"
    )


async def test_a_huge_declared_dimension_and_too_many_values_are_413(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    huge = with_sheet(workbook([]), sheet_xml([], dimension="A1:XFD1048576"))
    assert refusal(await upload(client, commune, huge), 413) == (
        "sheet 'Sheet1' declares 1048576 rows; an upload may have 20000 (upload_max_rows)"
    )
    wide = with_sheet(workbook([]), sheet_xml([], dimension="A1:XFD2"))
    assert "declares 16384 columns (up to XFD)" in refusal(await upload(client, commune, wide), 413)
    # The test app's max_batch is 500.
    many = workbook([[*GOOD_ROW[:4], f"2026-11-{1 + n % 27:02d}", "", "", n] for n in range(501)])
    assert refusal(await upload(client, commune, many), 413) == (
        "the file has more than 500 values; an upload may carry 500 (max_batch)"
    )


def test_a_zip_bomb_is_measured_from_the_archive_directory_before_unpacking() -> None:
    good = workbook([GOOD_ROW])
    dense = rewritten(good, lambda name, data: data, **{"xl/padding.xml": b" " * 1_500_000})
    status, detail = refused_by_reader(dense)
    assert status == 413
    assert detail.startswith("part 'xl/padding.xml' is compressed ")
    assert detail.endswith(" to 1; an upload may be at most 200 to 1 (upload_max_zip_ratio)")

    # Parts that pack loosely but unpack to more than the bound, all together.
    loose = bytes(range(256)) * 4096  # 1 MiB that packs poorly
    big = rewritten(good, lambda name, data: data, **{f"xl/p{n}.bin": loose for n in range(3)})
    assert refused_by_reader(big) == (
        413,
        "the workbook unpacks to more than 2097152 bytes (upload_max_unzipped_bytes)",
    )
    crowded = rewritten(good, lambda name, data: data, **{f"xl/p{n}.xml": b"" for n in range(60)})
    status, detail = refused_by_reader(crowded)
    assert status == 413
    assert detail.endswith("; an upload may hold 50 (upload_max_zip_entries)")


def test_rows_beyond_the_bound_are_refused_whatever_the_dimension_says() -> None:
    """The dimension says two rows; the sheet has 150, most of them blank."""
    rows = [
        '<row r="1"><c r="B1" t="inlineStr"><is><t>indicator</t></is></c>'
        '<c r="E1" t="inlineStr"><is><t>period</t></is></c>'
        '<c r="H1" t="inlineStr"><is><t>value</t></is></c></row>',
        '<row r="150"><c r="H150"><v>1</v></c></row>',
    ]
    lying = with_sheet(workbook([]), sheet_xml(rows, dimension="A1:H2"))
    assert refused_by_reader(lying) == (
        413,
        "sheet 'Sheet1' has rows beyond row 100 (upload_max_rows)",
    )
    # Under a roomier bound the same sheet reads: its one value, at row 150.
    (row,) = read_upload(io.BytesIO(lying), Format.XLSX, "form", replace(LIMITS, max_rows=200))
    assert (row.sheet, row.number, row.cells["value"].value) == ("Sheet1", 150, 1)


async def test_a_body_that_is_no_readable_upload_is_422_naming_the_field(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    unbounded = await client.post(
        "/api/v1/uploads",
        content=b"garbage",
        headers={**commune, "Content-Type": "multipart/form-data"},
    )
    assert unbounded.status_code == 422
    assert unbounded.json()["errors"] == [
        {
            "field": "body",
            "reason": "the body is not readable multipart/form-data: Missing boundary in "
            "multipart.",
        }
    ]
    no_file = await client.post("/api/v1/uploads", data={"unit": "25741"}, headers=commune)
    assert no_file.status_code == 422
    assert [e["field"] for e in no_file.json()["errors"]] == ["body.file"]
