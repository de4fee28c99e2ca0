"""The wire shapes of ingest. A pushed row is :class:`ObservationIn`; a push's rows are each
validated on their own (``rows.each_row``), so one bad row never fails its batch."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from ioc_hub.errors import Problem
from ioc_hub.ingest.rows import MAX_COMMENT, MAX_MAGNITUDE, BadRow, Reason, each_row, iso_text

ROW_EXAMPLE: dict[str, JsonValue] = {
    "unit": "25741",
    "indicator": "DVC-HS-TRUC-TUYEN",
    "value": 128,
    "period": "2026-11-27",
}


class ObservationIn(BaseModel):
    """One pushed value: the one description of a row (docs/design.md §3), giving the
    published schema, the checks on each row's shape, and what is stored. ``period`` is derived
    from ``observed_at`` when missing; when both are given they must agree. ``unit`` defaults to
    the key's own unit. The registry checks (does the unit exist, is it in the key's area, is
    the value in the indicator's range) follow in ``ingest.validation``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ROW_EXAMPLE]})

    unit: str | None = Field(default=None, max_length=64, description="Unit code")
    indicator: str = Field(max_length=64, description="Indicator code")
    value: float = Field(
        strict=True,  # a number: not a numeric string, not a boolean
        allow_inf_nan=False,
        ge=-MAX_MAGNITUDE,
        le=MAX_MAGNITUDE,
        description="A finite number, at most 1e300 in magnitude",
    )
    observed_at: AwareDatetime | None = Field(
        default=None, description="When it was measured; a time zone is required"
    )
    period: str | None = Field(
        default=None,
        max_length=10,
        description="Canonical id (2026-11-28, 2026-W48, 2026-11, 2026-Q4, 2026) or DHIS2 alias",
    )
    comment: str | None = Field(
        default=None,
        max_length=MAX_COMMENT,
        description="Free text from the sender about this value, kept with it and its revisions",
    )

    @field_validator("observed_at", mode="before")
    @classmethod
    def _iso_text(cls, value: Any, info: ValidationInfo) -> Any:
        return iso_text(value, info.field_name or "time")

    @field_validator("comment")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            # PostgreSQL text cannot hold NUL: refuse the row rather than the whole push.
            raise PydanticCustomError(
                Reason.INVALID_VALUE, "comment must not contain NUL (\\u0000) characters"
            )
        return value


class PushRequest(BaseModel):
    """A batch of 1 to `max_batch` rows. Rows are validated one by one: bad rows are reported and
    kept for operators, the valid ones commit together (all or nothing with `atomic=true`)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"observations": [ROW_EXAMPLE]}]}
    )

    observations: Annotated[list[ObservationIn | BadRow], each_row(ObservationIn)]


IMPORT_ROW_EXAMPLE: dict[str, JsonValue] = {
    **ROW_EXAMPLE,
    "received_at": "2026-11-28T08:30:00+07:00",
}


class ImportRowIn(ObservationIn):
    """A pushed row plus the instant the hub records as its receipt."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [IMPORT_ROW_EXAMPLE]})

    received_at: AwareDatetime = Field(
        description="When the value reached the hub, in the past; a time zone is required. It "
        "must not be before observed_at nor before the period begins"
    )

    @field_validator("received_at", mode="before")
    @classmethod
    def _received_text(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError(
                Reason.MISSING_FIELD, "received_at is missing: imported rows need it"
            )
        return iso_text(value, "received_at")


class ImportRequest(BaseModel):
    """A backfill batch: a push whose rows also carry ``received_at``. Stored rows are marked
    ``imported``; series state and unit contact move to the rows' receipt times, never back."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"observations": [IMPORT_ROW_EXAMPLE]}]}
    )

    observations: Annotated[list[ImportRowIn | BadRow], each_row(ImportRowIn)]


class RowError(BaseModel):
    index: int = Field(examples=[3], description="Position of the row in the batch, from 0")
    reason: str = Field(examples=["value 140 above max 100"])


class ImportSummary(BaseModel):
    """What a push did. ``superseded`` counts rows replaced by a later row of the same batch with
    the same unit, indicator and period: the last one wins, as if the rows were sent in order."""

    created: int = Field(examples=[120])
    updated: int = Field(examples=[5])
    unchanged: int = Field(examples=[2])
    superseded: int = Field(default=0, examples=[0])
    rejected: int = Field(examples=[1])
    flagged: int = Field(
        default=0,
        examples=[0],
        description="Stored values flagged as outliers against their series' baseline "
        "(stored all the same; `GET /api/v1/outliers`)",
    )
    errors: list[RowError] = Field(default_factory=list)


class PushProblem(Problem):
    """A push that stored nothing: ``atomic=true`` with a bad row, or every row rejected; then
    ``summary`` says why each row was. A body that could not be read has no summary."""

    summary: ImportSummary | None = None


class HeartbeatIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"unit": "25741"}]})

    unit: str | None = Field(
        default=None, max_length=64, description="Unit code; defaults to the key's unit"
    )


class HeartbeatOut(BaseModel):
    unit: str = Field(examples=["25741"])
    last_contact_at: datetime


class ObservationOut(BaseModel):
    unit: str = Field(examples=["25741"])
    indicator: str = Field(examples=["DVC-HS-TRUC-TUYEN"])
    period: str = Field(examples=["2026-11-27"])
    value: float = Field(examples=[128])
    observed_at: datetime | None
    comment: str | None = Field(examples=["Số liệu tạm tính, sẽ cập nhật"])
    received_at: datetime = Field(description="When the current value arrived")
    first_received_at: datetime = Field(description="When the first value of this period arrived")
    revision: int = Field(examples=[1], description="1 for the first value, +1 per change")
    imported: bool = Field(examples=[False], description="Backfilled by an admin import")


class RevisionOut(BaseModel):
    revision: int = Field(examples=[2], description="The revision this change produced")
    old_value: float = Field(examples=[120])
    new_value: float | None = Field(
        examples=[128], description="null when the change deleted the value (DHIS2's DELETE)"
    )
    old_comment: str | None = Field(examples=[None])
    new_comment: str | None = Field(examples=["Đã đối soát với sổ tiếp nhận"])
    old_received_at: datetime
    changed_at: datetime
    key_id: int | None = Field(examples=[12], description="The key that sent the new value")


class RejectionOut(BaseModel):
    id: int
    received_at: datetime
    key_id: int | None = Field(examples=[12])
    unit: str | None = Field(examples=["25741"], description="Unit code as sent")
    indicator: str | None = Field(examples=["DVC-TY-LE-TRUC-TUYEN"], description="As sent")
    index: int = Field(examples=[3])
    row: str = Field(examples=['{"indicator":"DVC-TY-LE-TRUC-TUYEN","value":140}'])
    reason: str = Field(examples=["value 140 above max 100"])
