"""Every table of the hub. Alembic and the features import them from here."""

from ioc_hub.models.access_key import AccessKey, Scope
from ioc_hub.models.base import Base
from ioc_hub.models.dhis2_mapping import Dhis2Kind, Dhis2Mapping
from ioc_hub.models.indicator import Aggregation, Indicator, IndicatorGroup
from ioc_hub.models.obligation import Obligation
from ioc_hub.models.observation import (
    IdempotencyRecord,
    Observation,
    ObservationDeletion,
    ObservationRevision,
    Rejection,
    SeriesState,
    UnitContact,
)
from ioc_hub.models.registry_generation import RegistryGeneration
from ioc_hub.models.unit import Unit, UnitKind

__all__ = [
    "AccessKey",
    "Aggregation",
    "Base",
    "Dhis2Kind",
    "Dhis2Mapping",
    "IdempotencyRecord",
    "Indicator",
    "IndicatorGroup",
    "Obligation",
    "Observation",
    "ObservationDeletion",
    "ObservationRevision",
    "RegistryGeneration",
    "Rejection",
    "Scope",
    "SeriesState",
    "Unit",
    "UnitContact",
    "UnitKind",
]
