"""The wire shapes of data quality: outliers and follow-ups (docs/design.md §9)."""

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ioc_hub.kit.params import TEXT_PATTERN
from ioc_hub.quality.stats import Algorithm

CSV_COLUMNS = (
    "unit",
    "indicator",
    "period",
    "value",
    "centre",
    "spread",
    "score",
    "lower",
    "upper",
    "n",
)

CSV_EXAMPLE = (
    ",".join(CSV_COLUMNS) + "\r\n"
    "25741,DVC-HS-TIEP-NHAN,2026-11-27,1480.0,142.0,11.0,81.9,93.1,190.9,365\r\n"
)


class OutlierRow(BaseModel):
    """A stored value that scores above the threshold. For ``range``, ``centre``, ``spread``
    and ``n`` are null and ``score`` is how far outside the bounds the value lies."""

    unit: str = Field(examples=["25741"])
    indicator: str = Field(examples=["DVC-HS-TIEP-NHAN"])
    period: str = Field(examples=["2026-11-27"])
    value: float = Field(examples=[1480.0])
    centre: float | None = Field(
        examples=[142.0], description="Median (modified_z), mean (z_score)"
    )
    spread: float | None = Field(examples=[11.0], description="MAD (modified_z), sd (z_score)")
    score: float = Field(examples=[81.9], description="Worst first")
    lower: float | None = Field(
        examples=[93.1], description="Values below it are flagged; null: no lower bound"
    )
    upper: float | None = Field(
        examples=[190.9], description="Values above it are flagged; null: no upper bound"
    )
    n: int | None = Field(examples=[365], description="Values in the baseline")


class OutliersOut(BaseModel):
    """The worst ``max_results`` of the values flagged; ``total`` counts them all."""

    algorithm: Algorithm = Field(examples=["modified_z"])
    threshold: float = Field(examples=[3.0])
    judged: int = Field(examples=[2730], description="Stored values in the window and area")
    total: int = Field(examples=[4], description="Values flagged")
    items: list[OutlierRow]


class FollowUpState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    ANY = "any"


class FollowUpIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"follow_up": True, "note": "tenfold jump: call the commune"}]
        },
    )

    follow_up: bool = Field(
        strict=True, description="true: needs follow-up; false: dealt with (the note stays)"
    )
    note: str = Field(default="", max_length=1000, pattern=TEXT_PATTERN)


class FollowUpOut(BaseModel):
    unit: str = Field(examples=["25741"])
    indicator: str = Field(examples=["DVC-HS-TIEP-NHAN"])
    period: str = Field(examples=["2026-11-27"])
    value: float = Field(examples=[1480.0], description="The observation's current value")
    follow_up: bool = Field(examples=[True])
    note: str = Field(examples=["tenfold jump: call the commune"])
    updated_at: datetime
