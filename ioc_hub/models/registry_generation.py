from sqlalchemy import BigInteger, Integer
from sqlalchemy.orm import Mapped, mapped_column

from ioc_hub.models.base import Base


class RegistryGeneration(Base):
    """One row counting changes to the registry: units, their versions, indicators, obligations
    and lineage edges.

    Database triggers bump it on every insert, update, delete (and truncate) of those tables, so
    no code path can forget to. Ingest validates pushes against an in-process copy of the
    registry and writes only while the generation it copied is still current; coverage reads the
    owed series kept for a generation only while it is current (:class:`OwedBasis`); aggregates
    keep the map of an answer in the process under the generation it was drawn from
    (:mod:`ioc_hub.registry.memo`).
    """

    __tablename__ = "registry_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
