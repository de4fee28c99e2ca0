from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ioc_hub.models.base import Base, UTCDateTime


class Scope(StrEnum):
    OBSERVATIONS_WRITE = "observations:write"
    OBSERVATIONS_IMPORT = "observations:import"
    AGGREGATES_READ = "aggregates:read"
    COVERAGE_READ = "coverage:read"
    REGISTRY_WRITE = "registry:write"
    KEYS_ADMIN = "keys:admin"
    ALERTS_ADMIN = "alerts:admin"


class AccessKey(Base):
    """A bearer token bound to a unit; only its SHA-256 hash is stored (docs/design.md §6)."""

    __tablename__ = "access_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split() if s)
