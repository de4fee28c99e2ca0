"""Alert rules as clients write them, alerts as the hub shows them, and the data of the
``alert.firing`` / ``alert.resolved`` notifications (docs/design.md §9)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    StrictBool,
    StringConstraints,
    field_validator,
)

from ioc_hub.kit.params import CODE_PATTERN, JSON_NUMBER, NAME_PATTERN, refuse_null, without_null
from ioc_hub.models import AlertRuleKind, AlertState

Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=CODE_PATTERN)]
RuleName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NAME_PATTERN),
]
CountedKind = Literal["ministry", "department", "vertical_agency", "district", "commune"]
"""The unit kinds coverage counts (the province itself is not one)."""

DEFAULT_REPEAT_SECONDS = 4 * 3600
MAX_DURATION_SECONDS = 400 * 86_400

AREA_DESCRIPTION = (
    "A district code (the district and its communes), a province's code (on the national "
    "registry, the province and its units) or the root's; absent: the whole registry"
)


class _Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CoverageBelow(_Condition):
    """Fires while connected / registered active units of a kind (docs/design.md §4), within the
    area, is below `ratio`. The subject is the (kind, area): one alert per rule."""

    kind: Literal["coverage_below"]
    unit_kind: CountedKind = Field(examples=["department"])
    ratio: Annotated[FiniteFloat, JSON_NUMBER] = Field(
        gt=0, le=1, examples=[0.95], description="Fires while the connected share is below this"
    )
    area: Code | None = Field(default=None, description=AREA_DESCRIPTION, examples=["718"])


class SeriesLate(_Condition):
    """Fires for each obligated series (unit × indicator) of the selection that has been at
    least `status` for at least `late_for_seconds` (docs/design.md §4). The subject is the
    series."""

    kind: Literal["series_late"]
    status: Literal["overdue", "stale"] = Field(
        default="overdue",
        description="`overdue`: one expected period or more missing; `stale`: two or more",
    )
    late_for_seconds: Annotated[int, JSON_NUMBER] = Field(
        default=0,
        ge=0,
        le=MAX_DURATION_SECONDS,
        examples=[86_400],
        description="How long past the deadline it missed a series must be before it fires",
    )
    area: Code | None = Field(default=None, description=AREA_DESCRIPTION, examples=["718"])
    unit_kind: CountedKind | None = Field(default=None, description="Only units of this kind")
    indicator: Code | None = Field(
        default=None, description="Only this indicator", examples=["DVC-HS-TIEP-NHAN"]
    )
    group: Code | None = Field(
        default=None, description="Only indicators of this group", examples=["G-DVC"]
    )
    include_never: StrictBool = Field(
        default=False,
        description="Also fire for series that never received anything (they have no deadline "
        "they missed first, so they fire at once)",
    )


class UnitSilent(_Condition):
    """Fires for each active unit of the selection that is not connected: not heard from
    within its connection window (docs/design.md §4). The subject is the unit."""

    kind: Literal["unit_silent"]
    unit: Code | None = Field(default=None, description="Only this unit", examples=["DEPT-SVHTTDL"])
    unit_kind: CountedKind | None = Field(default=None, description="Only units of this kind")
    area: Code | None = Field(default=None, description=AREA_DESCRIPTION, examples=["718"])


class Outlier(_Condition):
    """Fires for each value flagged with an outlier score at or above `threshold`
    (docs/design.md §9). The subject is the value (unit, indicator, period)."""

    kind: Literal["outlier"]
    threshold: Annotated[FiniteFloat, JSON_NUMBER] = Field(
        default=3.0, ge=0, le=1000, examples=[3.5], description="Fires at this score or above"
    )
    area: Code | None = Field(default=None, description=AREA_DESCRIPTION, examples=["718"])
    indicator: Code | None = Field(
        default=None, description="Only this indicator", examples=["DVC-HS-TIEP-NHAN"]
    )
    group: Code | None = Field(
        default=None, description="Only indicators of this group", examples=["G-DVC"]
    )


Condition = Annotated[
    CoverageBelow | SeriesLate | UnitSilent | Outlier, Field(discriminator="kind")
]
"""What a rule watches; `kind` says which parameters go with it."""

RepeatSeconds = Annotated[
    int,
    JSON_NUMBER,
    Field(
        ge=60,
        le=MAX_DURATION_SECONDS,
        examples=[DEFAULT_REPEAT_SECONDS],
        description="While an alert lasts, its `alert.firing` notification is sent again this "
        "often (default 4 hours)",
    ),
]

_RULE_EXAMPLE: dict[str, Any] = {
    "name": "Departments below 95% connected",
    "condition": {"kind": "coverage_below", "unit_kind": "department", "ratio": 0.95},
    "repeat_interval_seconds": DEFAULT_REPEAT_SECONDS,
    "enabled": True,
}


class AlertRuleIn(BaseModel):
    """A whole rule: what POST creates and PUT replaces."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_RULE_EXAMPLE]})

    name: RuleName = Field(description="What operators call the rule")
    condition: Condition
    repeat_interval_seconds: RepeatSeconds = DEFAULT_REPEAT_SECONDS
    enabled: StrictBool = Field(
        default=True, description="A disabled rule is not evaluated and its alerts resolve"
    )


_UPDATE_FIELDS = ("name", "condition", "repeat_interval_seconds", "enabled")


def _update_schema(schema: dict[str, Any]) -> None:
    schema["examples"] = [{"enabled": False}, {"repeat_interval_seconds": 3600}]
    without_null(schema, _UPDATE_FIELDS)


class AlertRuleUpdate(BaseModel):
    """Fields to change (PATCH); absent fields stay as they are. A new `condition` replaces the
    old one whole."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_update_schema)

    name: RuleName | None = None
    condition: Condition | None = None
    repeat_interval_seconds: RepeatSeconds | None = None
    enabled: StrictBool | None = None

    _not_null = field_validator(*_UPDATE_FIELDS)(refuse_null)


class AlertRuleOut(BaseModel):
    id: int = Field(examples=[3])
    name: str = Field(examples=["Departments below 95% connected"])
    kind: AlertRuleKind = Field(examples=["coverage_below"])
    condition: Condition
    repeat_interval_seconds: int = Field(examples=[DEFAULT_REPEAT_SECONDS])
    enabled: bool = Field(examples=[True])
    firing: int = Field(examples=[1], description="Its alerts firing now")
    created_at: datetime
    updated_at: datetime


class AlertOut(BaseModel):
    """One (rule, subject) from firing to resolved."""

    id: int = Field(examples=[17])
    rule: int = Field(examples=[3], description="The rule's id")
    rule_name: str = Field(examples=["Departments below 95% connected"])
    kind: AlertRuleKind = Field(examples=["unit_silent"])
    subject: str = Field(
        examples=["unit:DEPT-SVHTTDL"],
        description="What the alert is about: `unit:<code>`, `series:<unit>/<indicator>`, "
        "`coverage:<kind>@<area>` or `value:<unit>/<indicator>/<period>`",
    )
    unit: str = Field(
        examples=["DEPT-SVHTTDL"],
        description="The unit it concerns (a coverage rule's area); keys see alerts of their area",
    )
    state: AlertState = Field(examples=["firing"])
    summary: str = Field(examples=["Sở Văn hóa, Thể thao và Du lịch: not heard from since …"])
    details: dict[str, Any] = Field(
        examples=[{"last_contact_at": None, "connection_window_seconds": 172_800}],
        description="The facts behind it as of its last notification; they depend on the kind",
        # Said outright: pydantic states it for dict[str, Any] only from 2.11.
        json_schema_extra={"additionalProperties": True},
    )
    started_at: datetime = Field(description="When it fired")
    notified_at: datetime = Field(description="When its last notification was sent")
    repeats: int = Field(
        examples=[0], description="Reminders sent while it lasted: `alert.firing` again"
    )
    resolved_at: datetime | None = Field(description="When it resolved; null while firing")


class AlertEvent(AlertOut):
    """`alert.firing`: an alert fired (`repeats` 0), or is still firing and its rule's repeat
    interval has passed since its last notification (the same `id`, `repeats` 1, 2, …).
    `alert.resolved`: its condition no longer holds, or its rule was disabled or deleted. The
    same data is a webhook notification's `data`."""

    at: datetime = Field(description="The evaluation instant that sent it")
