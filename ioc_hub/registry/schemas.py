from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from ioc_hub.kit.params import CODE_PATTERN, NAME_PATTERN, TEXT_PATTERN
from ioc_hub.models import UnitKind

UnitCode = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32, pattern=CODE_PATTERN),
]
UnitName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NAME_PATTERN),
]


class UnitCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "25741",
                    "name": "Phường Hiệp Thành",
                    "name_ascii": "Phuong Hiep Thanh",
                    "kind": "commune",
                    "subtype": "phường",
                    "parent": "718",
                }
            ]
        },
    )

    code: UnitCode = Field(description="Stable code; official GSO code for districts and communes")
    name: UnitName
    name_ascii: UnitName | None = None
    kind: UnitKind = Field(
        description="A commune's parent is a district; others hang under the province"
    )
    subtype: str | None = Field(
        default=None, max_length=50, pattern=TEXT_PATTERN, examples=["phường"]
    )
    parent: UnitCode | None = Field(
        default=None, description="Parent unit code; defaults to the province except for communes"
    )


class UnitUpdate(BaseModel):
    """Fields to change; absent fields stay as they are. The kind and code never change."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Phường Hiệp Thành", "active": True}]},
    )

    name: UnitName | None = None
    name_ascii: UnitName | None = None
    subtype: str | None = Field(default=None, max_length=50, pattern=TEXT_PATTERN)
    parent: UnitCode | None = None
    active: StrictBool | None = None


class UnitOut(BaseModel):
    code: str = Field(examples=["25741"])
    name: str = Field(examples=["Phường Hiệp Thành"])
    name_ascii: str | None = Field(examples=["Phuong Hiep Thanh"])
    kind: UnitKind = Field(examples=["commune"])
    subtype: str | None = Field(examples=["phường"])
    parent: str | None = Field(examples=["718"])
    active: bool = Field(examples=[True])
    created_at: datetime
    updated_at: datetime
