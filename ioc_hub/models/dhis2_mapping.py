from datetime import datetime
from enum import StrEnum

from sqlalchemy import String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from ioc_hub.models.base import Base, UTCDateTime


class Dhis2Kind(StrEnum):
    """What a DHIS2 identifier names: a data element (an indicator here) or an org unit."""

    DATA_ELEMENT = "dataElement"
    ORG_UNIT = "orgUnit"


class Dhis2Mapping(Base):
    """A DHIS2 identifier that names a hub indicator or unit by another code (docs/design.md
    §10). Identifiers without a mapping are read as the hub's own codes."""

    __tablename__ = "dhis2_mappings"
    __table_args__ = (UniqueConstraint("kind", "dhis2_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    dhis2_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64), doc="The hub's indicator or unit code")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
