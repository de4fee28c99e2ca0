from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ioc_hub.kit.params import (
    CODE_PATTERN,
    JSON_NUMBER,
    NAME_PATTERN,
    TEXT_PATTERN,
    refuse_null,
    without_null,
)
from ioc_hub.kit.periods import Cadence
from ioc_hub.models import Aggregation, UnitKind

CatalogueCode = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=CODE_PATTERN),
]
UnitCode = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=CODE_PATTERN)]
GroupName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NAME_PATTERN),
]
IndicatorName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=300, pattern=NAME_PATTERN),
]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=4000, pattern=TEXT_PATTERN)
]
MeasurementUnit = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=NAME_PATTERN),
]

MAX_GRACE_SECONDS = 400 * 86_400
GraceSeconds = Annotated[
    int,
    JSON_NUMBER,
    Field(
        ge=0,
        le=MAX_GRACE_SECONDS,
        description="Overrides the cadence's grace (docs/design.md §4); at most 400 days",
        examples=[172_800],
    ),
]
Bound = Annotated[FiniteFloat, JSON_NUMBER, Field(description="Inclusive bound of valid values")]


class IndicatorGroupCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "G-DVC",
                    "name": "Dịch vụ công trực tuyến",
                    "description": "Hồ sơ thủ tục hành chính tiếp nhận, trực tuyến, đúng hạn.",
                }
            ]
        },
    )

    code: CatalogueCode = Field(description="Stable code of the group")
    name: GroupName = Field(description="Vietnamese name shown to operators")
    description: Description = ""


class IndicatorGroupOut(BaseModel):
    code: str = Field(examples=["G-DVC"])
    name: str = Field(examples=["Dịch vụ công trực tuyến"])
    description: str = Field(examples=["Hồ sơ thủ tục hành chính tiếp nhận, trực tuyến, đúng hạn."])
    created_at: datetime


class IndicatorCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "DVC-HS-TIEP-NHAN",
                    "name": "Số hồ sơ thủ tục hành chính tiếp nhận",
                    "description": "Số hồ sơ đơn vị tiếp nhận trong ngày.",
                    "group": "G-DVC",
                    "cadence": "daily",
                    "measurement_unit": "hồ sơ",
                    "time_aggregation": "sum",
                    "area_aggregation": "sum",
                    "min_value": 0,
                    "max_value": 20000,
                    "open": False,
                }
            ]
        },
    )

    code: CatalogueCode = Field(description="Stable code; pushes name the indicator by it")
    name: IndicatorName = Field(description="Vietnamese name")
    description: Description = ""
    group: CatalogueCode = Field(description="Code of the indicator group")
    cadence: Cadence = Field(description="How often a value is due; immutable")
    measurement_unit: MeasurementUnit = Field(examples=["hồ sơ", "%", "tỷ đồng"])
    time_aggregation: Aggregation = Field(
        description="How values combine over time (a cumulative count uses `last`); immutable"
    )
    area_aggregation: Aggregation = Field(
        description="How values combine over areas (a rate uses `avg`); immutable"
    )
    min_value: Bound | None = None
    max_value: Bound | None = None
    grace_seconds: GraceSeconds | None = None
    open: StrictBool = Field(default=False, description="Publishable as open data")


# Changing these would silently reinterpret every stored observation and aggregate.
IMMUTABLE_FIELDS = ("code", "cadence", "time_aggregation", "area_aggregation")
# Fields that may be cleared with an explicit null; the others keep their value when absent.
CLEARABLE_FIELDS = ("min_value", "max_value", "grace_seconds")
NOT_NULL_FIELDS = ("name", "description", "group", "measurement_unit", "open", "active")


def _indicator_update_schema(schema: dict[str, Any]) -> None:
    """The published schema of :class:`IndicatorUpdate`. Its optional fields are ``X | None``
    in Python, absent meaning "keep", but only the clearable ones take an explicit null."""
    schema["examples"] = [{"name": "Số hồ sơ tiếp nhận", "max_value": 50000, "open": True}]
    without_null(schema, NOT_NULL_FIELDS)


class IndicatorUpdate(BaseModel):
    """Fields to change; absent fields stay as they are, and `null` clears the range bounds and
    the grace override. The code, cadence and aggregations never change: create a new indicator
    instead."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_indicator_update_schema,
    )

    name: IndicatorName | None = None
    description: Description | None = None
    group: CatalogueCode | None = None
    measurement_unit: MeasurementUnit | None = None
    min_value: Bound | None = None
    max_value: Bound | None = None
    grace_seconds: GraceSeconds | None = None
    open: StrictBool | None = None
    active: StrictBool | None = None

    @model_validator(mode="before")
    @classmethod
    def _immutable(cls, data: Any) -> Any:
        if isinstance(data, dict):
            errors = [
                InitErrorDetails(
                    type=PydanticCustomError(
                        "immutable",
                        "{field} cannot change once an indicator exists: "
                        "stored observations depend on it; create a new indicator instead",
                        {"field": name},
                    ),
                    loc=(name,),
                    input=data[name],
                )
                for name in IMMUTABLE_FIELDS
                if name in data
            ]
            if errors:
                raise ValidationError.from_exception_data(cls.__name__, errors)
        return data

    _not_null = field_validator(*NOT_NULL_FIELDS)(refuse_null)


class IndicatorOut(BaseModel):
    code: str = Field(examples=["DVC-HS-TIEP-NHAN"])
    name: str = Field(examples=["Số hồ sơ thủ tục hành chính tiếp nhận"])
    description: str = Field(examples=["Số hồ sơ đơn vị tiếp nhận trong ngày."])
    group: str = Field(examples=["G-DVC"])
    cadence: Cadence = Field(examples=["daily"])
    measurement_unit: str = Field(examples=["hồ sơ"])
    time_aggregation: Aggregation = Field(examples=["sum"])
    area_aggregation: Aggregation = Field(examples=["sum"])
    min_value: float | None = Field(examples=[0])
    max_value: float | None = Field(examples=[20000])
    grace_seconds: int | None = Field(
        examples=[None], description="The indicator's own grace override, if any"
    )
    grace_seconds_effective: int = Field(
        examples=[86_400], description="The grace in force: the override or the cadence's default"
    )
    open: bool = Field(examples=[False])
    active: bool = Field(examples=[True])
    created_at: datetime
    updated_at: datetime


class ObligationCreate(BaseModel):
    """Either one unit, or every unit of a kind (communes optionally within one district)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"indicator": "DVC-HS-TIEP-NHAN", "unit_kind": "commune", "district": "718"},
                {"indicator": "CPI", "unit": "VA-CTK"},
            ]
        },
    )

    indicator: CatalogueCode = Field(description="Code of the indicator to report")
    unit: UnitCode | None = Field(default=None, description="One unit that must report it")
    unit_kind: UnitKind | None = Field(
        default=None, description="Every active unit of this kind must report it"
    )
    district: UnitCode | None = Field(
        default=None, description="With `unit_kind: commune`: only the communes of this district"
    )


class ObligationOut(BaseModel):
    id: int = Field(examples=[42])
    indicator: str = Field(examples=["DVC-HS-TIEP-NHAN"])
    unit: str | None = Field(examples=[None])
    unit_kind: UnitKind | None = Field(examples=["commune"])
    district: str | None = Field(examples=["718"])
    created_at: datetime
