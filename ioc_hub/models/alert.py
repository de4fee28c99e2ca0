from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ioc_hub.models.base import Base, BigId, UTCDateTime, one_of


class AlertRuleKind(StrEnum):
    COVERAGE_BELOW = "coverage_below"
    SERIES_LATE = "series_late"
    UNIT_SILENT = "unit_silent"
    OUTLIER = "outlier"


class AlertState(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class AlertRule(Base):
    """What operators want to be told about (docs/design.md §9): a condition of one kind, its
    parameters as validated by ``alerts.schemas``, and how often a lasting alert repeats."""

    __tablename__ = "alert_rules"
    __table_args__ = (CheckConstraint(one_of("kind", AlertRuleKind), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    condition: Mapped[dict[str, Any]] = mapped_column(JSON)
    repeat_interval_seconds: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class Alert(Base):
    """One (rule, subject) while its condition holds, from firing to resolved. The same subject
    firing again later is a new alert."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(one_of("state", AlertState), name="state"),
        # At most one firing alert per (rule, subject): two evaluators racing (a leader that
        # lost its lock and does not know yet) cannot fire the same alert twice.
        Index(
            "uq_alerts_rule_id_subject_firing",
            "rule_id",
            "subject",
            unique=True,
            sqlite_where=text("state = 'firing'"),
            postgresql_where=text("state = 'firing'"),
        ),
        Index("ix_alerts_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rule_id: Mapped[int] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(200))
    # The unit the alert is about (a unit, a series' unit, or the area of a coverage rule): the
    # area a key sees alerts of is decided by it, as for stream events.
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    state: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    repeats: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
