from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from ioc_hub.access.dependencies import AUTH_RESPONSES, scoped
from ioc_hub.access.principal import Principal
from ioc_hub.alerts import service
from ioc_hub.alerts.schemas import AlertOut, AlertRuleIn, AlertRuleOut, AlertRuleUpdate
from ioc_hub.deps import NowDep, SessionDep
from ioc_hub.errors import BODY_LIMIT_RESPONSES, problem_doc
from ioc_hub.kit.pagination import MAX_OFFSET, Page, PageDep
from ioc_hub.kit.params import CODE_PATTERN
from ioc_hub.models import AlertState, Scope

AlertsAdmin = Annotated[Principal, Depends(scoped(Scope.ALERTS_ADMIN))]
Operator = Annotated[Principal, Depends(scoped(Scope.COVERAGE_READ))]

RuleId = Annotated[int, Path(ge=1, le=MAX_OFFSET, description="The rule's id", examples=[3])]
NO_RULE = problem_doc("No alert rule has this id")

rules = APIRouter(prefix="/api/v1/alert-rules", tags=["alerts"], responses=AUTH_RESPONSES)
alerts = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], responses=AUTH_RESPONSES)


@rules.post(
    "",
    summary="Create an alert rule",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_alert_rule",
    responses=BODY_LIMIT_RESPONSES,
)
async def create_alert_rule(
    body: AlertRuleIn, session: SessionDep, principal: AlertsAdmin
) -> AlertRuleOut:
    """Watch coverage, late series, silent units or outliers (scope `alerts:admin`, province
    key); the evaluator judges the rule from its next pass on."""
    rule = await service.create_rule(session, principal, body)
    return await service.rule_out(session, rule)


@rules.get("", summary="List alert rules", operation_id="list_alert_rules")
async def list_alert_rules(
    session: SessionDep, principal: AlertsAdmin, page: PageDep
) -> Page[AlertRuleOut]:
    """Every alert rule, oldest first, with how many of its alerts fire now."""
    return await service.list_rules(session, principal, page)


@rules.get(
    "/{rule_id}",
    summary="Get an alert rule",
    operation_id="get_alert_rule",
    responses={404: NO_RULE},
)
async def get_alert_rule(
    rule_id: RuleId, session: SessionDep, principal: AlertsAdmin
) -> AlertRuleOut:
    """One alert rule by its id."""
    return await service.rule_out(session, await service.get_rule(session, principal, rule_id))


@rules.put(
    "/{rule_id}",
    summary="Replace an alert rule",
    operation_id="replace_alert_rule",
    responses={**BODY_LIMIT_RESPONSES, 404: NO_RULE},
)
async def replace_alert_rule(
    rule_id: RuleId, body: AlertRuleIn, session: SessionDep, principal: AlertsAdmin
) -> AlertRuleOut:
    """Replace a rule whole; its alerts follow at the next pass (a subject the new condition no
    longer holds for resolves then)."""
    rule = await service.update_rule(session, principal, rule_id, body)
    return await service.rule_out(session, rule)


@rules.patch(
    "/{rule_id}",
    summary="Update an alert rule",
    operation_id="update_alert_rule",
    responses={**BODY_LIMIT_RESPONSES, 404: NO_RULE},
)
async def update_alert_rule(
    rule_id: RuleId, body: AlertRuleUpdate, session: SessionDep, principal: AlertsAdmin
) -> AlertRuleOut:
    """Change some fields: rename, disable (its alerts resolve at the next pass), change the
    repeat interval, or give a new condition."""
    rule = await service.update_rule(session, principal, rule_id, body)
    return await service.rule_out(session, rule)


@rules.delete(
    "/{rule_id}",
    summary="Delete an alert rule",
    operation_id="delete_alert_rule",
    responses={404: NO_RULE},
)
async def delete_alert_rule(
    rule_id: RuleId, session: SessionDep, principal: AlertsAdmin, now: NowDep
) -> AlertRuleOut:
    """Remove a rule and its alerts for good and return what it was; its firing alerts are
    announced resolved."""
    return await service.delete_rule(session, principal, rule_id, now)


@alerts.get(
    "",
    summary="List alerts",
    operation_id="list_alerts",
    responses={404: problem_doc("The area names no unit")},
)
async def list_alerts(
    session: SessionDep,
    principal: Operator,
    page: PageDep,
    area: Annotated[
        str | None,
        Query(
            max_length=32,
            pattern=CODE_PATTERN,
            description="Only alerts about this area: a district (and its communes), a province "
            "(on the national registry, the province and its units) or the root; bounded by the "
            "key's area",
            examples=["718"],
        ),
    ] = None,
    rule: Annotated[
        int | None, Query(ge=1, le=MAX_OFFSET, description="Only alerts of this rule id")
    ] = None,
    state: Annotated[AlertState | None, Query(description="Only firing or resolved alerts")] = None,
) -> Page[AlertOut]:
    """Alerts, firing and resolved, newest first, about units in the key's area (scope
    `coverage:read`)."""
    return await service.list_alerts(session, principal, page, area=area, rule=rule, state=state)


router = APIRouter()
router.include_router(rules)
router.include_router(alerts)
