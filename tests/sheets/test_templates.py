"""A unit's reporting form (docs/design.md §10, "Spreadsheets"): a row per indicator of the
period's cadence the unit must report, checked here by hand against the shipped catalogue
(`ioc_hub/data/binh_duong_catalogue.json`, `reported_by`), protected but for its value cells,
each value cell checked against its indicator's range."""

import csv
import io

import httpx
import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from ioc_hub.models import Scope
from tests.conftest import MintKey, bearer
from tests.sheets.files import HEADERS, VALUE

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Commune 25741's monthly obligations: the catalogue's monthly indicators whose `reported_by`
# names the commune kind, by code: (code, name, measurement unit, min, max).
COMMUNE_MONTHLY = [
    ("ASXH-DOI-TUONG-QUA-TAI-KHOAN", "Số đối tượng an sinh xã hội được chi trả qua tài khoản",
     "người", 0, 10000),
    ("ASXH-TY-LE-QUA-TAI-KHOAN", "Tỷ lệ đối tượng an sinh xã hội được chi trả qua tài khoản",
     "%", 0, 100),
    ("DVC-TY-LE-DUNG-HAN", "Tỷ lệ hồ sơ giải quyết đúng hạn", "%", 0, 100),
    ("DVC-TY-LE-TRUC-TUYEN", "Tỷ lệ hồ sơ tiếp nhận trực tuyến", "%", 0, 100),
    ("HO-TICH-SO-HOA-LUY-KE", "Số dữ liệu hộ tịch đã số hóa, so khớp (lũy kế)", "bản ghi",
     0, 2000000),
    ("TD1022-TY-LE-DUNG-HAN", "Tỷ lệ phản ánh, kiến nghị xử lý đúng hạn", "%", 0, 100),
    ("TO-CNS-CONG-DONG-THANH-VIEN", "Số thành viên tổ công nghệ số cộng đồng", "người", 0, 1000),
    ("VB-XU-LY-TREN-MANG-TY-LE", "Tỷ lệ hồ sơ công việc xử lý trên môi trường mạng", "%", 0, 100),
    ("VNEID-MUC2-LUY-KE", "Số tài khoản định danh điện tử mức 2 đã kích hoạt (lũy kế)",
     "tài khoản", 0, 1000000),
]  # fmt: skip
COMMUNE_DAILY = [
    ("DVC-HS-QUA-HAN", "Số hồ sơ đang giải quyết quá hạn", "hồ sơ", 0, 5000),
    ("DVC-HS-TIEP-NHAN", "Số hồ sơ thủ tục hành chính tiếp nhận", "hồ sơ", 0, 20000),
    ("DVC-HS-TRUC-TUYEN", "Số hồ sơ tiếp nhận trực tuyến", "hồ sơ", 0, 20000),
    ("TD1022-PAKN-DA-XU-LY", "Số phản ánh, kiến nghị qua Tổng đài 1022 đã xử lý xong", "phản ánh",
     0, 5000),
    ("VNEID-MUC2-KICH-HOAT-MOI", "Số tài khoản định danh điện tử mức 2 kích hoạt mới",
     "tài khoản", 0, 20000),
]  # fmt: skip


@pytest.fixture
async def commune(seeded: None, mint_key: MintKey) -> dict[str, str]:
    return bearer(await mint_key("25741", Scope.OBSERVATIONS_WRITE))


async def template(
    client: httpx.AsyncClient, auth: dict[str, str], unit: str, period: str, fmt: str = "xlsx"
) -> httpx.Response:
    return await client.get(
        f"/api/v1/templates/{unit}", params={"period": period, "format": fmt}, headers=auth
    )


def sheet_of(content: bytes) -> Worksheet:
    sheet = load_workbook(io.BytesIO(content)).active
    assert isinstance(sheet, Worksheet)
    return sheet


async def test_commune_monthly_form_lists_its_obligations_protected_with_ranges(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    response = await template(client, commune, "25741", "2026-11")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    assert response.headers["content-disposition"] == (
        'attachment; filename="template-25741-2026-11.xlsx"'
    )
    sheet = sheet_of(response.content)
    assert sheet.title == "BaoCao"
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS
    assert rows[1:] == [
        ("25741", code, name, unit, "2026-11", low, high, None)
        for code, name, unit, low, high in COMMUNE_MONTHLY
    ]

    # Only the value cells can be typed in, and each checks its indicator's range.
    assert sheet.protection.sheet
    for row in sheet.iter_rows(min_row=1):
        for cell in row:
            assert cell.protection.locked == (cell.column != VALUE or cell.row == 1), cell
    checks = {
        str(coordinate): (check.type, check.formula1, check.formula2)
        for check in sheet.data_validations.dataValidation
        for coordinate in check.sqref.ranges
    }
    assert checks == {
        f"H{number}": ("decimal", str(low), str(high))
        for number, (_, _, _, low, high) in enumerate(COMMUNE_MONTHLY, start=2)
    }


async def test_daily_form_in_csv_with_a_dhis2_period_id(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    response = await template(client, commune, "25741", "20261127", "csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="template-25741-2026-11-27.csv"'
    )
    assert response.content.startswith(b"\xef\xbb\xbf")  # Excel reads the names right
    records = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert records[0] == HEADERS
    assert records[1:] == [
        ["25741", code, name, unit, "2026-11-27", str(low), str(high), ""]
        for code, name, unit, low, high in COMMUNE_DAILY
    ]


async def test_an_open_ended_range_and_an_empty_form(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey
) -> None:
    """The tax department's one monthly indicator has no max; it reports nothing weekly."""
    auth = bearer(await mint_key("VA-CTHUE", Scope.OBSERVATIONS_WRITE))
    response = await template(client, auth, "VA-CTHUE", "2026-10")
    sheet = sheet_of(response.content)
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert rows == [
        (
            "VA-CTHUE",
            "THU-NSNN-NOI-DIA",
            "Thu ngân sách nhà nước từ nội địa",
            "tỷ đồng",
            "2026-10",
            0,
            None,
            None,
        )
    ]
    (check,) = sheet.data_validations.dataValidation
    assert (check.formula1, check.formula2) == ("0", "1e+300")
    weekly = await template(client, auth, "VA-CTHUE", "2026-W48", "csv")
    assert weekly.status_code == 200
    assert weekly.content.decode("utf-8-sig").splitlines() == [",".join(HEADERS)]


async def test_a_district_key_gets_its_communes_forms_and_nobody_elses(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey
) -> None:
    district = bearer(await mint_key("718", Scope.OBSERVATIONS_WRITE))
    assert (await template(client, district, "25741", "2026-11")).status_code == 200
    outside = await template(client, district, "25813", "2026-11")
    assert outside.status_code == 403
    assert outside.json()["errors"][0]["field"] == "path.unit"
    reader = bearer(await mint_key("25741", Scope.AGGREGATES_READ))
    assert (await template(client, reader, "25741", "2026-11")).status_code == 403
    assert (await template(client, {}, "25741", "2026-11")).status_code == 401


async def test_unknown_unit_and_impossible_period_are_refused_by_name(
    client: httpx.AsyncClient, commune: dict[str, str], mint_key: MintKey
) -> None:
    admin = bearer(await mint_key("74", Scope.OBSERVATIONS_WRITE))
    missing = await template(client, admin, "99999", "2026-11")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    bad = await template(client, commune, "25741", "2026-02-30")
    assert bad.status_code == 422
    assert bad.json()["errors"][0] == {
        "field": "query.period",
        "reason": "'2026-02-30' is not a valid period: February 2026 has 28 days",
    }
    wrong_format = await template(client, commune, "25741", "2026-11", "xls")
    assert wrong_format.status_code == 422
    assert wrong_format.json()["errors"][0]["field"] == "query.format"
