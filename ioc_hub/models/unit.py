from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from ioc_hub.models.base import Base, UTCDateTime, one_of


class UnitKind(StrEnum):
    NATION = "nation"
    PROVINCE = "province"
    MINISTRY = "ministry"
    DEPARTMENT = "department"
    VERTICAL_AGENCY = "vertical_agency"
    DISTRICT = "district"
    COMMUNE = "commune"


# The kinds that only hold others: never obliged to report, not counted in coverage. The nation
# is the root of the national registry, above its provinces (docs/design.md §2).
AREA_ONLY_KINDS = frozenset({UnitKind.NATION, UnitKind.PROVINCE})


class Unit(Base):
    """A reporting body, or a province at the root of the tree (docs/design.md §2, §8).

    A code names one unit through its whole life, ``valid_from`` (none: always) until
    ``valid_to`` (the first day it no longer exists; none while it exists). Its name, kind and
    parent through time are its :class:`UnitVersion` rows; the columns here repeat its latest
    version, which is what the registry shows without a day.
    """

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
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), onupdate=func.now()
    )


class UnitVersion(Base):
    """A unit's name, kind and parent from ``valid_from`` (none: from the unit's start) until
    the next version's ``valid_from`` (kept in ``valid_to`` so a day's tree is one range test)."""

    __tablename__ = "unit_versions"
    __table_args__ = (
        UniqueConstraint("unit_id", "valid_from"),
        CheckConstraint(one_of("kind", UnitKind), name="kind"),
        CheckConstraint(
            "valid_to IS NULL OR valid_from IS NULL OR valid_from < valid_to", name="span"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(200))
    name_ascii: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    subtype: Mapped[str | None] = mapped_column(String(50))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    reorganisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("reorganisations.id"), index=True
    )
