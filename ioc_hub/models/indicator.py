from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from ioc_hub.kit.periods import Cadence
from ioc_hub.models.base import Base, UTCDateTime, one_of


class Aggregation(StrEnum):
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    LAST = "last"


class IndicatorGroup(Base):
    __tablename__ = "indicator_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


class Indicator(Base):
    """A measured quantity with its cadence and how it combines over time and areas."""

    __tablename__ = "indicators"
    __table_args__ = (
        CheckConstraint(one_of("cadence", Cadence), name="cadence"),
        CheckConstraint(one_of("time_aggregation", Aggregation), name="time_aggregation"),
        CheckConstraint(one_of("area_aggregation", Aggregation), name="area_aggregation"),
        CheckConstraint(
            "min_value IS NULL OR max_value IS NULL OR min_value <= max_value", name="range"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    group_id: Mapped[int] = mapped_column(ForeignKey("indicator_groups.id"), index=True)
    cadence: Mapped[str] = mapped_column(String(10))
    measurement_unit: Mapped[str] = mapped_column(String(50))
    time_aggregation: Mapped[str] = mapped_column(String(4))
    area_aggregation: Mapped[str] = mapped_column(String(4))
    min_value: Mapped[float | None] = mapped_column(Float)
    max_value: Mapped[float | None] = mapped_column(Float)
    grace_seconds: Mapped[int | None] = mapped_column(Integer)
    open: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )
