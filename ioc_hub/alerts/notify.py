"""Where every alert notification leaves the hub: the one place a new channel is added."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.access.principal import UnitRef
from ioc_hub.models import Unit, UnitKind
from ioc_hub.stream.service import publish_after_commit
from ioc_hub.webhooks import outbox

_UNITS = "ioc_hub.alerts.units"


async def announce(session: AsyncSession, event_type: str, data: dict[str, object]) -> None:
    """Send the notification ``event_type`` (``alert.firing``, ``alert.resolved``) with ``data``
    (an :class:`ioc_hub.alerts.schemas.AlertEvent`, as JSON) as part of the caller's
    transaction: to the live stream once it commits, shown to keys whose area holds
    ``data["unit"]``, and to the webhooks that want it through the outbox, written in the same
    transaction."""
    unit = data.get("unit")
    ref = (await _unit_refs(session)).get(unit) if isinstance(unit, str) else None
    publish_after_commit(session, event_type, ref, data)
    await outbox.publish(session, event_type, data)


async def _unit_refs(session: AsyncSession) -> dict[str, UnitRef]:
    """Every unit's reference by code, read once per session: a pass may announce hundreds."""
    refs: dict[str, UnitRef] | None = session.info.get(_UNITS)
    if refs is None:
        rows = await session.execute(select(Unit.id, Unit.code, Unit.kind, Unit.parent_id))
        refs = session.info[_UNITS] = {
            code: UnitRef(id=id_, code=code, kind=UnitKind(kind), parent_id=parent_id)
            for id_, code, kind, parent_id in rows
        }
    return refs
