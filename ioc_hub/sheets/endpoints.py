"""The spreadsheet door's routes: a unit's form out, the filled form in."""

from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import Response

from ioc_hub.access.dependencies import AUTH_RESPONSES, scoped
from ioc_hub.access.principal import Principal
from ioc_hub.deps import SessionDep, SettingsDep
from ioc_hub.errors import problem_doc
from ioc_hub.ingest.endpoints import PUSH_RESPONSES, StoringDep
from ioc_hub.ingest.schemas import ImportSummary
from ioc_hub.kit.params import CODE_PATTERN
from ioc_hub.kit.periods import PERIOD_PATTERN
from ioc_hub.models import Scope
from ioc_hub.sheets import service
from ioc_hub.sheets.reader import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, Format, declared_format

Writer = Annotated[Principal, Depends(scoped(Scope.OBSERVATIONS_WRITE))]

router = APIRouter(prefix="/api/v1", tags=["sheets"], responses=AUTH_RESPONSES)

_MEDIA_TYPES = {Format.XLSX: XLSX_MEDIA_TYPE, Format.CSV: f"{CSV_MEDIA_TYPE}; charset=utf-8"}


@router.get(
    "/templates/{unit}",
    summary="Download a unit's reporting form",
    operation_id="get_template",
    response_class=Response,
    responses={
        200: {
            "description": "The form: a row per indicator of the period's cadence the unit must "
            "report, with its code, name, measurement unit, period and valid range, and an "
            "empty value column. XLSX: one protected sheet whose value cells alone can be "
            "typed in, each checked against its range; CSV: UTF-8 with a byte order mark",
            "content": {
                XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
                CSV_MEDIA_TYPE: {"schema": {"type": "string"}},
            },
        },
        404: problem_doc("No such unit"),
    },
)
async def get_template(
    unit: Annotated[str, Path(max_length=64, pattern=CODE_PATTERN, description="Unit code")],
    period: Annotated[
        str, Query(pattern=PERIOD_PATTERN, description="The period the form reports")
    ],
    session: SessionDep,
    principal: Writer,
    fmt: Annotated[Format, Query(alias="format", description="xlsx or csv")] = Format.XLSX,
) -> Response:
    """A unit's form for one period, for any key that may push for the unit."""
    found, parsed, rows = await service.form(session, principal, unit, period)
    filename = f"template-{found.code}-{parsed.id}.{fmt.value}"
    return Response(
        service.render(found, parsed, rows, fmt),
        media_type=_MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PUSH_RESPONSES,
    413: problem_doc(
        "The body is larger than `max_body_bytes`; the file has more values than "
        "`max_batch`, or more rows or columns than `upload_max_rows` or `upload_max_columns`; "
        "or the workbook unpacks beyond `upload_max_unzipped_bytes`, packs tighter than "
        "`upload_max_zip_ratio` or holds more than `upload_max_zip_entries` parts"
    ),
    422: problem_doc(
        "The file is not what it declares, not a form (no header row), a macro-enabled "
        "workbook, has hidden sheets or merged cells, a CSV neither UTF-8 nor UTF-16, or reports "
        "nothing; or none of its rows could be stored (all were rejected, or one was with "
        "`atomic=true`): then `summary` says why each row was, naming its cell",
        model=PUSH_RESPONSES[422]["model"],
    ),
}


@router.post(
    "/uploads",
    summary="Upload a filled form",
    operation_id="upload_sheet",
    response_model=ImportSummary,
    responses=UPLOAD_RESPONSES,
)
async def upload_sheet(
    file: Annotated[
        UploadFile,
        File(
            description="The filled form, XLSX or CSV, told apart by the file's name (.xlsx, "
            ".csv) or else its media type; a blank value is not reported"
        ),
    ],
    principal: Writer,
    settings: SettingsDep,
    storing: StoringDep,
    unit: Annotated[
        str | None,
        Form(
            max_length=64,
            pattern=CODE_PATTERN,
            description="Unit of the rows that name none; default: the key's unit",
        ),
    ] = None,
) -> Response | ImportSummary:
    """Store a filled form's values as a push would (the same checks, the same summary); a
    refused row's reason starts with its cell (`BaoCao!H7: value 30315 above max 20000`)."""
    declared = declared_format(file.filename, file.content_type)
    name = PurePath(file.filename or "").stem or declared.value
    pushed, identity = await service.read(settings, file.file, declared, name, unit)
    return await storing.push(
        principal, pushed.rows, pushed.sent, body=identity, where=pushed.where
    )
