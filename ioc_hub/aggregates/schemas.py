import enum

from pydantic import BaseModel, Field

CSV_COLUMNS = ("indicator", "period", "area", "value", "reported", "expected")


class OutputFormat(enum.StrEnum):
    JSON = "json"
    CSV = "csv"


class AggregateRow(BaseModel):
    """One indicator in one bucket for one area. ``reported`` against ``expected`` tells a true
    zero from missing data: a bucket nobody reported has ``value`` null and ``reported`` 0."""

    indicator: str = Field(examples=["DVC-HS-TIEP-NHAN"])
    period: str = Field(examples=["2026-10"], description="Canonical id of the bucket")
    area: str = Field(
        examples=["718"],
        description="Code of the province, district or commune (unit at level unit)",
    )
    value: float | None = Field(
        examples=[15230.0],
        description="Combined over time by the indicator's time_aggregation, then over the "
        "area's units by its area_aggregation; null when no unit reported in the bucket",
    )
    reported: int = Field(
        examples=[427],
        description="Observations (unit, period) of the indicator in the bucket and area that "
        "the value rests on",
    )
    expected: int = Field(
        examples=[434],
        description="Obligated active units of the area × periods of the indicator's cadence "
        "in the bucket that are not in the future",
    )


CSV_EXAMPLE = (
    "indicator,period,area,value,reported,expected\r\n"
    "DVC-HS-TIEP-NHAN,2026-10,718,15230.0,427,434\r\n"
)
