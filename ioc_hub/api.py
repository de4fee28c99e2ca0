"""Every feature's router, and nothing else: read this file first."""

from fastapi import APIRouter

from ioc_hub.access.endpoints import router as access
from ioc_hub.aggregates.endpoints import router as aggregates
from ioc_hub.alerts.endpoints import router as alerts
from ioc_hub.catalogue.endpoints import router as catalogue
from ioc_hub.coverage.endpoints import router as coverage
from ioc_hub.dashboard.endpoints import router as dashboard
from ioc_hub.dhis2.endpoints import door as dhis2_door
from ioc_hub.dhis2.endpoints import router as dhis2_mappings
from ioc_hub.health.endpoints import router as health
from ioc_hub.ingest.endpoints import router as ingest
from ioc_hub.metrics.endpoints import router as metrics
from ioc_hub.opendata.endpoints import router as opendata
from ioc_hub.quality.endpoints import router as quality
from ioc_hub.registry.endpoints import reorganisations
from ioc_hub.registry.endpoints import router as registry
from ioc_hub.sheets.endpoints import router as sheets
from ioc_hub.stream.endpoints import router as stream
from ioc_hub.webhooks.endpoints import router as webhooks

__all__ = ["api_router", "root_router"]

root_router = APIRouter()
root_router.include_router(health)
root_router.include_router(metrics)
root_router.include_router(dashboard)

# The app matches requests against ``api_router``, then ``root_router``, each in the order below.
api_router = APIRouter()
api_router.include_router(ingest)
api_router.include_router(registry)
api_router.include_router(reorganisations)
api_router.include_router(access)
api_router.include_router(catalogue)
api_router.include_router(aggregates)
api_router.include_router(opendata)
api_router.include_router(coverage)
api_router.include_router(stream)
api_router.include_router(sheets)
api_router.include_router(alerts)
api_router.include_router(webhooks)
api_router.include_router(quality)
# DHIS2's own path (/api/dataValueSets), and its identifier mappings under /api/v1.
api_router.include_router(dhis2_door)
api_router.include_router(dhis2_mappings)
