from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from ioc_hub.kit.params import CODE_PATTERN, NAME_PATTERN, TEXT_PATTERN, IsoDate
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
    valid_from: date | None = Field(description="First day of its life; none: always")
    valid_to: date | None = Field(description="First day it no longer exists; none: it exists")
    created_at: datetime
    updated_at: datetime


# --- the registry through time (docs/design.md §8) ---------------------------------------------


class UnitStart(BaseModel):
    """A unit that starts on the reorganisation's day."""

    model_config = ConfigDict(extra="forbid")

    code: UnitCode
    name: UnitName
    name_ascii: UnitName | None = None
    kind: UnitKind
    subtype: str | None = Field(default=None, max_length=50, pattern=TEXT_PATTERN)
    parent: UnitCode | None = Field(
        default=None, description="Its parent on the day; none only for a province"
    )


class UnitChange(BaseModel):
    """A new version of a unit that continues: what changes from the day on."""

    model_config = ConfigDict(extra="forbid")

    code: UnitCode
    name: UnitName | None = None
    name_ascii: UnitName | None = None
    kind: UnitKind | None = None
    subtype: str | None = Field(default=None, max_length=50, pattern=TEXT_PATTERN)
    parent: UnitCode | None = None


class LineageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: UnitCode = Field(alias="from", description="A unit as it was before the day")
    to: UnitCode = Field(description="A unit that exists from the day on")
    share: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="The part of `from` that went to `to`; null when it is not known",
    )
    primary: StrictBool = Field(
        description="The one successor that takes `from`'s values when a share is unknown"
    )


class ReorganisationIn(BaseModel):
    """One reorganisation, applied whole on its effective day (docs/design.md §8)."""

    model_config = ConfigDict(
        extra="forbid",
        # Sent back as it is taken (the built-in events): one schema for both directions, which
        # every pydantic release the project allows then publishes alike.
        json_schema_mode_override="validation",
        json_schema_extra={
            "examples": [
                {
                    "name": "Two communes merge",
                    "effective": "2025-07-01",
                    "ends": ["25948"],
                    "starts": [],
                    "versions": [{"code": "25945", "name": "Phường Tân Đông Hiệp"}],
                    "lineage": [
                        {"from": "25945", "to": "25945", "share": 1, "primary": True},
                        {"from": "25948", "to": "25945", "share": 1, "primary": True},
                    ],
                }
            ]
        },
    )

    name: UnitName
    effective: IsoDate = Field(description="D: the first day of the new map")
    ends: list[UnitCode] = Field(
        default=[], max_length=10_000, description="Units whose last day is D − 1"
    )
    starts: list[UnitStart] = Field(default=[], max_length=10_000)
    versions: list[UnitChange] = Field(default=[], max_length=10_000)
    lineage: list[LineageIn] = Field(default=[], max_length=50_000)


class ReorganisationOut(BaseModel):
    id: int | None = Field(description="None for a dry run")
    name: str
    effective: date
    dry_run: bool
    ended: int
    started: int
    versions: int
    edges: int
    approximate_edges: int = Field(description="Edges whose share is unknown")
    obligations_handed: int = Field(
        description="Obligations successors took from their predecessors on the day"
    )
    created_at: datetime | None


class VersionOut(BaseModel):
    valid_from: date | None
    valid_to: date | None
    name: str
    kind: UnitKind
    subtype: str | None
    parent: str | None


class LinkOut(BaseModel):
    """A lineage edge as one unit sees it: the unit at its other end."""

    code: str
    name: str
    effective: date
    share: float | None
    primary: bool
    reorganisation: int


class UnitHistory(UnitOut):
    versions: list[VersionOut]
    predecessors: list[LinkOut]
    successors: list[LinkOut]
