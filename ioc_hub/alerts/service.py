"""Alert rules, the alerts they raise, and one evaluation pass (docs/design.md §9).

An alert is one (rule, subject). A pass judges every enabled rule against one coverage
snapshot (:mod:`ioc_hub.alerts.conditions`) and compares with the alerts firing: a new subject
fires (``alert.firing``, ``repeats`` 0); a subject still there whose last notification is a
repeat interval old is announced again (``alert.firing``, ``repeats`` + 1); a firing alert whose
subject is gone resolves (``alert.resolved``). Every notification goes out through
:func:`ioc_hub.alerts.notify.announce`, in the pass's transaction.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import TypeAdapter
from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from ioc_hub.access.principal import Principal
from ioc_hub.alerts import outliers
from ioc_hub.alerts.conditions import Finding, Judge, iso
from ioc_hub.alerts.notify import announce
from ioc_hub.alerts.schemas import (
    AlertOut,
    AlertRuleIn,
    AlertRuleOut,
    AlertRuleUpdate,
    Condition,
    Outlier,
)
from ioc_hub.catalogue import service as catalogue
from ioc_hub.config import Settings
from ioc_hub.coverage import service as coverage
from ioc_hub.errors import Forbidden, Invalid, NotFound
from ioc_hub.kit.pagination import Page, PageParams, count_rows
from ioc_hub.models import (
    AREA_ONLY_KINDS,
    Alert,
    AlertRule,
    AlertRuleKind,
    AlertState,
    Unit,
    UnitKind,
)
from ioc_hub.registry import service as registry

FIRING = "alert.firing"
RESOLVED = "alert.resolved"

_CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)


def _require_province(principal: Principal) -> None:
    if not principal.is_province:
        raise Forbidden(
            "alert rules are province-wide: only a province-level key may manage them "
            f"(this key is bound to unit {principal.unit.code!r})"
        )


# --- rules ------------------------------------------------------------------------------------


async def _check_condition(session: AsyncSession, condition: Condition, field: str) -> None:
    """The units, indicators and groups a condition names exist and can be watched: 422 naming
    the field otherwise (they are named in the body)."""
    where = f"{field}.{condition.kind}"
    area = getattr(condition, "area", None)
    if area is not None:
        named = await registry.get_unit(session, area, field=f"{where}.area")
        _require_area(named, f"{where}.area")
    unit_code = getattr(condition, "unit", None)
    if unit_code is not None:
        unit = await registry.get_unit(session, unit_code, field=f"{where}.unit")
        if unit.kind in AREA_ONLY_KINDS:
            raise Invalid(
                f"the {unit.kind} itself reports nothing; name one of its units",
                field=f"{where}.unit",
            )
    indicator = getattr(condition, "indicator", None)
    if indicator is not None:
        await catalogue.get_indicator(session, indicator, field=f"{where}.indicator")
    group = getattr(condition, "group", None)
    if group is not None:
        await catalogue.get_group(session, group, field=f"{where}.group")


def _require_area(unit: Unit, field: str) -> None:
    """Areas are what a rule or a listing may be bounded by: a district, a province (the root or,
    on the national registry, one of its provinces) or the nation."""
    if unit.kind not in (UnitKind.DISTRICT, *AREA_ONLY_KINDS):
        raise Invalid(
            f"area {unit.code!r} is a {unit.kind}: name a district, a province or the nation",
            field=field,
        )


async def _firing_counts(session: AsyncSession, rule_ids: Sequence[int]) -> dict[int, int]:
    if not rule_ids:
        return {}
    rows = await session.execute(
        select(Alert.rule_id, func.count())
        .where(Alert.rule_id.in_(rule_ids), Alert.state == AlertState.FIRING.value)
        .group_by(Alert.rule_id)
    )
    return dict(rows.all())


async def _rules_out(session: AsyncSession, rules: Sequence[AlertRule]) -> list[AlertRuleOut]:
    firing = await _firing_counts(session, [r.id for r in rules])
    return [
        AlertRuleOut(
            id=rule.id,
            name=rule.name,
            kind=AlertRuleKind(rule.kind),
            condition=_CONDITION.validate_python(rule.condition),
            repeat_interval_seconds=rule.repeat_interval_seconds,
            enabled=rule.enabled,
            firing=firing.get(rule.id, 0),
            created_at=rule.created_at,
            updated_at=rule.updated_at,
        )
        for rule in rules
    ]


async def rule_out(session: AsyncSession, rule: AlertRule) -> AlertRuleOut:
    return (await _rules_out(session, [rule]))[0]


async def get_rule(session: AsyncSession, principal: Principal, rule_id: int) -> AlertRule:
    _require_province(principal)
    rule = await session.get(AlertRule, rule_id)
    if rule is None:
        raise NotFound(f"alert rule {rule_id} does not exist", field="path.rule_id")
    return rule


async def create_rule(session: AsyncSession, principal: Principal, body: AlertRuleIn) -> AlertRule:
    _require_province(principal)
    await _check_condition(session, body.condition, "body.condition")
    rule = AlertRule(
        name=body.name,
        kind=body.condition.kind,
        condition=body.condition.model_dump(mode="json"),
        repeat_interval_seconds=body.repeat_interval_seconds,
        enabled=body.enabled,
    )
    session.add(rule)
    await session.flush()
    await session.refresh(rule)
    return rule


async def list_rules(
    session: AsyncSession, principal: Principal, page: PageParams
) -> Page[AlertRuleOut]:
    _require_province(principal)
    query = select(AlertRule)
    total = await count_rows(session, query)
    rules = (await session.scalars(page.window(query, AlertRule.id))).all()
    return Page.of(await _rules_out(session, rules), total, page)


async def update_rule(
    session: AsyncSession,
    principal: Principal,
    rule_id: int,
    body: AlertRuleIn | AlertRuleUpdate,
) -> AlertRule:
    """PUT (a whole :class:`AlertRuleIn`) or PATCH (the fields sent). The rule's alerts follow
    at the next pass: a subject the new condition no longer holds for resolves then."""
    rule = await get_rule(session, principal, rule_id)
    changes = body.model_dump(exclude_unset=isinstance(body, AlertRuleUpdate))
    condition = body.condition
    if condition is not None:
        await _check_condition(session, condition, "body.condition")
        changes["condition"] = condition.model_dump(mode="json")
        rule.kind = condition.kind
    for name, value in changes.items():
        setattr(rule, name, value)
    await session.flush()
    await session.refresh(rule)
    return rule


async def delete_rule(
    session: AsyncSession, principal: Principal, rule_id: int, now: datetime
) -> AlertRuleOut:
    """Remove a rule and its alerts for good; those firing are announced resolved first."""
    rule = await get_rule(session, principal, rule_id)
    out = await rule_out(session, rule)
    for alert in await _firing(session, Alert.rule_id == rule.id):
        alert.state, alert.resolved_at = AlertState.RESOLVED.value, now
        await _announce(session, RESOLVED, rule, alert, now)
    await session.execute(delete(Alert).where(Alert.rule_id == rule.id))
    await session.delete(rule)
    return out


# --- alerts -----------------------------------------------------------------------------------


def _event(rule: AlertRule, alert: "_Alert", unit_code: str, at: datetime) -> dict[str, object]:
    """The data of an ``alert.*`` notification: an :class:`AlertEvent` as JSON, built as a plain
    dict (a pass may announce thousands; the tests hold every one to the model)."""
    return {
        "id": alert.id,
        "rule": rule.id,
        "rule_name": rule.name,
        "kind": rule.kind,
        "subject": alert.subject,
        "unit": unit_code,
        "state": alert.state,
        "summary": alert.summary,
        "details": alert.details,
        "started_at": iso(alert.started_at),
        "notified_at": iso(alert.notified_at),
        "repeats": alert.repeats,
        "resolved_at": iso(alert.resolved_at),
        "at": iso(at),
    }


async def list_alerts(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    area: str | None,
    rule: int | None,
    state: AlertState | None,
) -> Page[AlertOut]:
    """Alerts of units in the key's area (and in ``area``), newest first."""
    unit, rules = aliased(Unit), aliased(AlertRule)
    query = (
        select(Alert, rules.name, rules.kind, unit.code)
        .join(rules, rules.id == Alert.rule_id)
        .join(unit, unit.id == Alert.unit_id)
    )
    conditions: list[ColumnElement[bool]] = []
    if not principal.is_province:
        conditions.append(or_(unit.id == principal.unit.id, unit.parent_id == principal.unit.id))
    if area is not None:
        named = await registry.unit_in_area(session, principal, area, field="query.area")
        _require_area(named, "query.area")
        if named.parent_id is not None:  # the root's area is everything
            conditions.append(or_(unit.id == named.id, unit.parent_id == named.id))
    if rule is not None:
        conditions.append(Alert.rule_id == rule)
    if state is not None:
        conditions.append(Alert.state == state.value)
    query = query.where(*conditions)
    total = await count_rows(session, query)
    rows = await session.execute(page.window(query, Alert.started_at.desc(), Alert.id.desc()))
    items = [
        AlertOut(
            id=alert.id,
            rule=alert.rule_id,
            rule_name=rule_name,
            kind=AlertRuleKind(kind),
            subject=alert.subject,
            unit=code,
            state=AlertState(alert.state),
            summary=alert.summary,
            details=alert.details,
            started_at=alert.started_at,
            notified_at=alert.notified_at,
            repeats=alert.repeats,
            resolved_at=alert.resolved_at,
        )
        for alert, rule_name, kind, code in rows
    ]
    return Page.of(items, total, page)


# --- evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PassSummary:
    """What one evaluation pass did."""

    at: datetime
    rules: int
    fired: int
    repeated: int
    resolved: int


@dataclass(slots=True)
class _Alert:
    """An alert as a pass reads and writes it: with plain statements, as a pass may touch
    thousands."""

    id: int
    rule_id: int
    subject: str
    unit_id: int
    state: str
    summary: str
    details: dict[str, Any]
    started_at: datetime
    notified_at: datetime
    repeats: int
    resolved_at: datetime | None

    def row(self) -> dict[str, Any]:
        """Its columns, named for :data:`_INSERT` and :data:`_UPDATE`."""
        return {field: getattr(self, field) for field in _FIELDS}


_TABLE = cast(Table, Alert.__table__)
_FIELDS = [field for field in _Alert.__slots__ if field != "id"]
_COLUMNS = [_TABLE.c.id, *(_TABLE.c[field] for field in _FIELDS)]
_INSERT = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)
# Core statements, run once per batch of rows: the ORM's bulk update costs more than the
# database does here.
_UPDATE = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("alert_id"))
    .values({field: bindparam(field) for field in _FIELDS})
)


async def _firing(session: AsyncSession, *conditions: ColumnElement[bool]) -> list[_Alert]:
    rows = await session.execute(
        select(*_COLUMNS).where(Alert.state == AlertState.FIRING.value, *conditions)
    )
    return [_Alert(*row) for row in rows]


async def _announce(
    session: AsyncSession, event_type: str, rule: AlertRule, alert: _Alert, at: datetime
) -> None:
    codes: dict[int, str] = session.info.setdefault("ioc_hub.alerts.codes", {})
    if alert.unit_id not in codes:
        codes.update((await session.execute(select(Unit.id, Unit.code))).all())
    await announce(session, event_type, _event(rule, alert, codes[alert.unit_id], at))


def _fire(rule: AlertRule, finding: Finding, at: datetime) -> _Alert:
    return _Alert(
        id=0,  # given by the insert
        rule_id=rule.id,
        subject=finding.subject,
        unit_id=finding.unit_id,
        state=AlertState.FIRING.value,
        summary=finding.summary[:500],
        details=finding.details,
        started_at=at,
        notified_at=at,
        repeats=0,
        resolved_at=None,
    )


async def evaluate(session: AsyncSession, settings: Settings, at: datetime) -> PassSummary:
    """One pass over every rule at ``at``, in the caller's transaction."""
    rules = (await session.scalars(select(AlertRule).order_by(AlertRule.id))).all()
    firing: dict[int, dict[str, _Alert]] = defaultdict(dict)
    for alert in await _firing(session):
        firing[alert.rule_id][alert.subject] = alert
    province = await _province(session)
    province_code = province.code if province is not None else ""
    judge = await _judge(session, settings, at, rules, province)
    fired: list[tuple[AlertRule, _Alert]] = []
    changed: list[tuple[str, AlertRule, _Alert]] = []
    for rule in rules:
        holding: dict[str, Finding] = {}
        condition = _CONDITION.validate_python(rule.condition)
        if rule.enabled and isinstance(condition, Outlier):
            found = await outliers.findings(session, condition, at, province_code)
            holding = {f.subject: f for f in found}
        elif rule.enabled and judge is not None:
            findings = judge.findings(condition)
            if findings is None:
                continue  # a kind judged elsewhere: its alerts are left as they are
            holding = {f.subject: f for f in findings}
        alerts = firing.pop(rule.id, {})
        for subject, finding in holding.items():
            known = alerts.pop(subject, None)
            if known is None:
                fired.append((rule, _fire(rule, finding, at)))
            elif at - known.notified_at >= timedelta(seconds=rule.repeat_interval_seconds):
                known.repeats += 1
                known.notified_at = at
                known.summary, known.details = finding.summary[:500], finding.details
                changed.append((FIRING, rule, known))
        for alert in alerts.values():  # firing, but its subject is gone
            alert.state, alert.resolved_at = AlertState.RESOLVED.value, at
            changed.append((RESOLVED, rule, alert))
    connection = await session.connection()
    if fired:
        ids = await connection.execute(_INSERT, [alert.row() for _, alert in fired])
        for (_, alert), id_ in zip(fired, ids.scalars(), strict=True):
            alert.id = id_
    if changed:
        await connection.execute(
            _UPDATE, [{"alert_id": alert.id, **alert.row()} for _, _, alert in changed]
        )
    for rule, alert in fired:
        await _announce(session, FIRING, rule, alert, at)
    for event_type, rule, alert in changed:
        await _announce(session, event_type, rule, alert, at)
    repeated = sum(1 for event_type, _, _ in changed if event_type == FIRING)
    return PassSummary(at, len(rules), len(fired), repeated, len(changed) - repeated)


async def _province(session: AsyncSession) -> Unit | None:
    """Today's province, the root every area is in; none before the registry is seeded."""
    try:
        return await registry.get_province(session)
    except NotFound:
        return None


async def _judge(
    session: AsyncSession,
    settings: Settings,
    at: datetime,
    rules: Sequence[AlertRule],
    province: Unit | None,
) -> Judge | None:
    """The snapshot every rule is judged against; ``None`` when no rule needs one (or there is
    no registry yet)."""
    if not any(rule.enabled and rule.kind != AlertRuleKind.OUTLIER for rule in rules):
        return None
    if province is None:
        return None
    snapshot = await coverage.snapshot(session, settings, at)
    # The areas that are not among the snapshot's units: the root and, on the national
    # registry, its provinces (codes never change, so today's ids name them on any day).
    areas = await session.execute(
        select(Unit.code, Unit.id).where(Unit.kind.in_([k.value for k in AREA_ONLY_KINDS]))
    )
    return Judge(snapshot, province.id, province.code, dict(areas.all()))
