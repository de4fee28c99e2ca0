from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ioc_hub.models.base import Base, UTCDateTime, one_of


class UnitKind(StrEnum):
    PROVINCE = "province"
    MINISTRY = "ministry"
    DEPARTMENT = "department"
    VERTICAL_AGENCY = "vertical_agency"
    DISTRICT = "district"
    COMMUNE = "commune"


class Unit(Base):
    """A reporting body, or the province at the root of the tree (docs/design.md §2)."""

    __tablename__ = "units"
    __table_args__ = (CheckConstraint(one_of("kind", UnitKind), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_ascii: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    subtype: Mapped[str | None] = mapped_column(String(50))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )
