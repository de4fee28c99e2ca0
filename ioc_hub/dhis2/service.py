"""The DHIS2 door (docs/design.md §10): a DHIS2 data value set read row by row into the rows of
a native push, stored by the same pipeline (``ingest.pipeline``), and answered with DHIS2's
import summary.

What DHIS2 checks about a row's identifiers and shape is checked here, and reported with DHIS2's
error codes; what the hub checks about any row (the unit in the key's area, the value in range,
the period of the indicator's cadence and not in the future) is the pipeline's, whose reasons are
translated to the same codes. Refused rows are kept for operators either way.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.access.principal import Principal
from ioc_hub.dhis2.periods import hub_period
from ioc_hub.dhis2.schemas import (
    DEFAULT_COMBO_IDS,
    DEFAULT_COMBO_UID,
    DataValueOut,
    DataValueSetOut,
    Dhis2Conflict,
    Dhis2ImportCount,
    Dhis2ImportOptions,
    Dhis2ImportSummary,
    Dhis2WebMessage,
    ImportStrategy,
)
from ioc_hub.errors import Invalid, no_such
from ioc_hub.ingest import pipeline
from ioc_hub.ingest.rows import BadRow, Reason, number, printable
from ioc_hub.ingest.schemas import ObservationIn, PushRequest
from ioc_hub.kit.dialect import keys_in
from ioc_hub.kit.periods import PeriodError
from ioc_hub.models import Dhis2Kind, Dhis2Mapping, Indicator, IndicatorGroup, Observation, Unit
from ioc_hub.registry import service as registry

# SQLite takes at most 32,766 bound parameters per statement.
_CHUNK = 5000

_DATA_ELEMENT, _ORG_UNIT = Dhis2Kind.DATA_ELEMENT.value, Dhis2Kind.ORG_UNIT.value

MAX_EXPORT = 100_000
"""Most values one export answers; a larger request is refused and must be narrowed."""

# DHIS2's messages for the conflicts the hub reports (DHIS2's ErrorCode, "Data import
# validation"), each with the property it concerns.
_CODES: dict[str, tuple[str, str]] = {
    "E7610": ("dataElement", "Data element not found or not accessible: `{object}`"),
    "E7611": ("period", "Period not valid: `{object}`"),
    "E7612": ("orgUnit", "Organisation unit not found or not accessible: `{object}`"),
    "E7613": (
        "categoryOptionCombo",
        "Category option combo not found or not accessible for writing data: `{object}`",
    ),
    "E7615": (
        "attributeOptionCombo",
        "Attribute option combo not found or not accessible for writing data: `{object}`",
    ),
    "E7617": ("orgUnit", "Organisation unit: `{object}` not in hierarchy of current user"),
    "E7618": ("value", "Data value or comment not specified for data element: `{object}`"),
    "E7619": ("value", "Value must match data element's `{object}` type constraints"),
    "E7620": ("comment", "Invalid comment: `{object}`"),
    "E7632": ("period", "Period type of period: `{object}` not valid for data element"),
    "E7641": ("period", "Period: `{object}` is after latest open future period"),
}

# The pipeline's reasons, as DHIS2's codes.
_BY_REASON: dict[Reason, str] = {
    Reason.UNKNOWN_INDICATOR: "E7610",
    Reason.INACTIVE_INDICATOR: "E7610",
    Reason.UNKNOWN_UNIT: "E7612",
    Reason.INACTIVE_UNIT: "E7612",
    Reason.OUTSIDE_AREA: "E7617",
    Reason.OUT_OF_RANGE: "E7619",
    Reason.INVALID_VALUE: "E7619",
    Reason.WRONG_TYPE: "E7619",
    Reason.MISSING_FIELD: "E7618",
    # The door parsed the period already: what the pipeline refuses is its cadence.
    Reason.INVALID_PERIOD: "E7632",
    Reason.FUTURE_PERIOD: "E7641",
}

# The hub's row fields, as DHIS2 names them, for a row pydantic refused.
_BY_FIELD = {
    "indicator": "E7610",
    "unit": "E7612",
    "period": "E7611",
    "value": "E7619",
    "comment": "E7620",
}


@dataclass(frozen=True, slots=True)
class Options:
    """The import parameters, as DHIS2 takes them (query parameters, or attributes of the set,
    which win)."""

    id_scheme: str | None = None
    data_element_id_scheme: str | None = None
    org_unit_id_scheme: str | None = None
    dry_run: bool = False
    strategy: ImportStrategy = ImportStrategy.CREATE_AND_UPDATE

    def scheme(self, specific: str | None) -> str:
        """The scheme in force for one kind of identifier: the specific one, the general one,
        else CODE (DHIS2's own default is UID, which the hub has none of)."""
        return (specific or self.id_scheme or "CODE").upper()

    def summary_options(self) -> Dhis2ImportOptions:
        return Dhis2ImportOptions(
            idSchemes={
                "dataElementIdScheme": self.scheme(self.data_element_id_scheme),
                "orgUnitIdScheme": self.scheme(self.org_unit_id_scheme),
            },
            dryRun=self.dry_run,
            importStrategy=self.strategy,
        )


class Unreadable(Exception):
    """A body that is no data value set: DHIS2 fails the whole import."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the door refused a row: DHIS2's code, the object refused, and the hub's reason."""

    code: str
    object: str
    reason: str
    hub_reason: Reason


@dataclass
class _Rows:
    """A set's rows read for the pipeline: for each row as sent, what the pipeline gets (all
    :class:`pipeline.DeleteRow` or :class:`BadRow` for a deletion, all ``ObservationIn`` or
    ``BadRow`` otherwise)."""

    envelope: dict[str, Any]
    rows: list[ObservationIn | pipeline.DeleteRow | BadRow] = field(default_factory=list)
    sent: list[Any] = field(default_factory=list)
    mappings: dict[tuple[str, str], str] = field(default_factory=dict)
    refused: dict[int, Refusal] = field(default_factory=dict)

    def origin(self, index: int) -> pipeline.Origin:
        """The unit and indicator codes the row at ``index`` names, mapped as it was read."""
        row = self.sent[index]
        element, unit = row.get("dataElement"), _inherited(row, self.envelope, "orgUnit")
        return pipeline.Origin(
            index, self.mapped(_ORG_UNIT, unit), self.mapped(_DATA_ELEMENT, element)
        )

    def mapped(self, kind: str, identifier: Any) -> str | None:
        """The hub code an identifier of ``kind`` names: its mapping's, else itself."""
        if type(identifier) is not str:
            return None
        if not self.mappings:
            return identifier
        return self.mappings.get((kind, identifier), identifier)


@dataclass(frozen=True, slots=True)
class Imported:
    """The answer and, when something was stored, what observers hear once it committed."""

    message: Dhis2WebMessage
    outcome: pipeline.PushOutcome | None = None


async def import_set(
    ctx: pipeline.IngestContext,
    session: AsyncSession,
    principal: Principal,
    body: bytes,
    options: Options,
    now: datetime,
) -> Imported:
    """Import one data value set in ``session``'s transaction (rolled back to a savepoint when
    ``dry_run``): DHIS2's summary, HTTP 200 when every row was stored, 409 otherwise."""
    try:
        envelope, values = _read(body)
    except Unreadable as exc:
        return Imported(_failed(options, f"The import process failed: {exc}", 0))
    options = _with_set_schemes(options, envelope)
    scheme_conflicts = _scheme_conflicts(options, len(values))
    if scheme_conflicts:
        return Imported(
            _message(
                _summary(
                    options,
                    Dhis2ImportCount(imported=0, updated=0, ignored=len(values), deleted=0),
                    scheme_conflicts,
                    blocked=True,
                )
            )
        )
    if not values:
        return Imported(
            _message(
                _summary(options, Dhis2ImportCount(imported=0, updated=0, ignored=0, deleted=0), [])
            )
        )
    mappings = await _mappings(session, values, envelope)
    read = _read_rows(
        values, envelope, mappings, principal, deleting=options.strategy is ImportStrategy.DELETE
    )
    if options.dry_run:
        savepoint = await session.begin_nested()
        try:
            return await _store(ctx, session, principal, read, options, now, len(values))
        finally:
            await savepoint.rollback()
    return await _store(ctx, session, principal, read, options, now, len(values))


async def _store(
    ctx: pipeline.IngestContext,
    session: AsyncSession,
    principal: Principal,
    read: _Rows,
    options: Options,
    now: datetime,
    total: int,
) -> Imported:
    skipped: set[int] = set()
    if options.strategy in (ImportStrategy.CREATE, ImportStrategy.UPDATE):
        skipped = await _skipped_by_strategy(session, read, options.strategy)
    kept = [i for i in range(total) if i not in skipped]
    if not kept:
        count = Dhis2ImportCount(imported=0, updated=0, ignored=total, deleted=0)
        return Imported(_message(_summary(options, count, [])))
    if options.strategy is ImportStrategy.DELETE:
        deletion = pipeline.Deletion(
            principal=principal,
            rows=cast("list[pipeline.DeleteRow | BadRow]", [read.rows[i] for i in kept]),
            sent=[read.sent[i] for i in kept],
            now=now,
            origin=lambda position: read.origin(kept[position]),
        )
        deleted = await pipeline.delete_rows(ctx, session, deletion)
        conflicts = _conflicts(read, deleted.rejected, kept)
        valid = len(kept) - len(deleted.rejected)
        count = Dhis2ImportCount(
            imported=0,
            updated=0,
            ignored=len(deleted.rejected) + valid - deleted.deleted,
            deleted=deleted.deleted,
        )
        return Imported(_message(_summary(options, count, conflicts)))
    push = pipeline.Push(
        principal=principal,
        rows=cast("list[ObservationIn | BadRow]", [read.rows[i] for i in kept]),
        sent=[read.sent[i] for i in kept],
        atomic=False,
        idempotency_key=None,
        body=b"",
        now=now,
        origin=lambda position: read.origin(kept[position]),
    )
    result = await pipeline.push(ctx, session, push)
    conflicts = _conflicts(read, result.rejected, kept)
    summary = result.summary
    if summary is None:  # every row refused: nothing stored
        count = Dhis2ImportCount(imported=0, updated=0, ignored=total, deleted=0)
    else:
        count = Dhis2ImportCount(
            imported=summary.created,
            # DHIS2 counts a value sent again as updated, and so a row a later one replaced.
            updated=summary.updated + summary.unchanged + summary.superseded,
            ignored=summary.rejected + len(skipped),
            deleted=0,
        )
    outcome = None if options.dry_run else result.outcome
    return Imported(_message(_summary(options, count, conflicts)), outcome)


def _read(body: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The set's attributes and its rows; :class:`Unreadable` when it is no data value set."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Unreadable(f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise Unreadable("a data value set must be a JSON object with a dataValues array")
    values = document.get("dataValues")
    if values is None:
        values = []
    if not isinstance(values, list):
        raise Unreadable("dataValues must be an array of data values")
    for index, row in enumerate(values):
        if not isinstance(row, dict):
            raise Unreadable(f"dataValues[{index}] must be an object")
    for name in (
        "dataSet",
        "completeDate",
        "period",
        "orgUnit",
        "attributeOptionCombo",
        "idScheme",
        "dataElementIdScheme",
        "orgUnitIdScheme",
    ):
        if document.get(name) is not None and not isinstance(document[name], str):
            raise Unreadable(f"{name} must be a string")
    return document, values


def _with_set_schemes(options: Options, envelope: dict[str, Any]) -> Options:
    """Schemes given as attributes of the set win over the query's (as in DHIS2)."""
    return Options(
        id_scheme=envelope.get("idScheme") or options.id_scheme,
        data_element_id_scheme=envelope.get("dataElementIdScheme")
        or options.data_element_id_scheme,
        org_unit_id_scheme=envelope.get("orgUnitIdScheme") or options.org_unit_id_scheme,
        dry_run=options.dry_run,
        strategy=options.strategy,
    )


def _scheme_conflicts(options: Options, rows: int) -> list[Dhis2Conflict]:
    """Identifier schemes other than CODE: the hub has no DHIS2 UIDs (nor names, nor
    attributes), so no row could be matched."""
    conflicts = []
    for code, kind, specific, param in (
        ("E7610", "data elements", options.data_element_id_scheme, "dataElementIdScheme"),
        ("E7612", "org units", options.org_unit_id_scheme, "orgUnitIdScheme"),
    ):
        scheme = options.scheme(specific)
        if scheme == "CODE":
            continue
        name = param if specific else "idScheme"
        conflicts.append(
            Dhis2Conflict(
                object=scheme,
                objects={name: scheme},
                value=(
                    f"{name}={scheme} is not supported: the hub identifies {kind} by CODE. "
                    "Send codes, or map your identifiers to the hub's codes at "
                    "/api/v1/dhis2/mappings and send them without an id scheme"
                ),
                errorCode=code,
                property=name,
                indexes=list(range(rows)),
            )
        )
    return conflicts


async def _mappings(
    session: AsyncSession, values: list[dict[str, Any]], envelope: dict[str, Any]
) -> dict[tuple[str, str], str]:
    """The mapped codes of the identifiers the set names, by (kind, identifier)."""
    elements = {row.get("dataElement") for row in values}
    units = {_inherited(row, envelope, "orgUnit") for row in values}
    keys = sorted(
        [(_DATA_ELEMENT, e) for e in elements if isinstance(e, str)]
        + [(_ORG_UNIT, u) for u in units if isinstance(u, str)]
    )
    found: dict[tuple[str, str], str] = {}
    for start in range(0, len(keys), _CHUNK):
        rows = await session.execute(
            select(Dhis2Mapping.kind, Dhis2Mapping.dhis2_id, Dhis2Mapping.code).where(
                keys_in(
                    session,
                    [Dhis2Mapping.kind, Dhis2Mapping.dhis2_id],
                    keys[start : start + _CHUNK],
                )
            )
        )
        found.update({(kind, dhis2_id): code for kind, dhis2_id, code in rows})
    return found


def _read_rows(
    values: list[dict[str, Any]],
    envelope: dict[str, Any],
    mappings: dict[tuple[str, str], str],
    principal: Principal,
    *,
    deleting: bool,
) -> _Rows:
    read = _Rows(envelope, mappings=mappings)
    periods: dict[str, str | PeriodError] = {}
    hub_rows: dict[int, dict[str, Any]] = {}
    for index, row in enumerate(values):
        indicator_code = read.mapped(_DATA_ELEMENT, row.get("dataElement"))
        unit_code = read.mapped(_ORG_UNIT, _inherited(row, envelope, "orgUnit"))
        read.sent.append(row)
        try:
            checked = _row(row, envelope, indicator_code, unit_code, periods, deleting=deleting)
        except _Refused as refused:
            read.refused[index] = refused.refusal
            read.rows.append(BadRow(refused.refusal.reason, refused.refusal.hub_reason))
            continue
        if isinstance(checked, pipeline.DeleteRow):
            read.rows.append(checked)
        else:
            hub_rows[index] = checked
            read.rows.append(checked)  # type: ignore[arg-type]  # validated just below
    if hub_rows:
        # A push's rows, validated as a push's are: all at once, a bad one on its own.
        validated = PushRequest.model_validate({"observations": list(hub_rows.values())})
        for index, valid in zip(hub_rows, validated.observations, strict=True):
            read.rows[index] = valid
            if isinstance(valid, BadRow):
                code = _BY_FIELD.get(valid.field or "", "E7619")
                sent = hub_rows[index].get(valid.field or "value")
                read.refused[index] = Refusal(
                    code, printable(str(sent), 200), valid.reason, valid.code
                )
    return read


class _Refused(Exception):
    def __init__(self, code: str, sent: Any, reason: str, hub_reason: Reason) -> None:
        super().__init__(reason)
        shown = sent if isinstance(sent, str) else orjson.dumps(sent).decode()
        self.refusal = Refusal(code, printable(shown, 200), reason, hub_reason)


def _row(
    row: dict[str, Any],
    envelope: dict[str, Any],
    indicator: str | None,
    unit: str | None,
    periods: dict[str, str | PeriodError],
    *,
    deleting: bool,
) -> dict[str, Any] | pipeline.DeleteRow:
    """The row as a push's row (or, deleting, the key it names), once DHIS2's own checks
    passed; :class:`_Refused` says which failed."""
    element = row.get("dataElement")
    if indicator is None:
        raise _Refused(
            "E7610", element, "dataElement is missing or not a string", Reason.MISSING_FIELD
        )
    if unit is None:
        sent = _inherited(row, envelope, "orgUnit")
        raise _Refused(
            "E7612",
            sent,
            "orgUnit is missing or not a string (on the row or the set)",
            Reason.MISSING_FIELD,
        )
    period = _period(_inherited(row, envelope, "period"), periods)
    _default_combo(row.get("categoryOptionCombo"), "categoryOptionCombo", "E7613")
    _default_combo(
        _inherited(row, envelope, "attributeOptionCombo"), "attributeOptionCombo", "E7615"
    )
    if deleting:
        return pipeline.DeleteRow(unit, indicator, period)
    value = _value(row.get("value"), element)
    comment = row.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise _Refused("E7620", comment, "comment must be a string", Reason.WRONG_TYPE)
    fields = {"unit": unit, "indicator": indicator, "period": period, "value": value}
    if comment is not None:
        fields["comment"] = comment
    return fields


def _default_combo(combo: Any, name: str, code: str) -> None:
    if combo is not None and combo != "" and combo not in DEFAULT_COMBO_IDS:
        raise _Refused(
            code,
            combo,
            f"{name} {combo!r} is not the default: the hub stores values without "
            "disaggregation (send the default combo, or none)",
            Reason.INVALID_VALUE,
        )


def _inherited(row: dict[str, Any], envelope: dict[str, Any], name: str) -> Any:
    """A row's field, or the set's when the row has none (``period``, ``orgUnit``,
    ``attributeOptionCombo``)."""
    value = row.get(name)
    return envelope.get(name) if value is None else value


def _period(sent: Any, known: dict[str, str | PeriodError]) -> str:
    if not isinstance(sent, str):
        raise _Refused(
            "E7611",
            sent,
            "period is missing or not a string (on the row or the set)",
            Reason.MISSING_FIELD,
        )
    found = known.get(sent)
    if found is None:
        try:
            found = known[sent] = hub_period(sent).id
        except PeriodError as exc:
            found = known[sent] = exc
    if isinstance(found, PeriodError):
        raise _Refused("E7611", sent, f"period {found}", Reason.INVALID_PERIOD)
    return found


def _value(sent: Any, element: Any) -> float | int:
    """A DHIS2 value as the hub's number: DHIS2 sends numbers as strings. Whether it is finite
    and in range the push's row model says."""
    kind = type(sent)
    if kind is str:
        try:
            return float(sent)
        except ValueError:
            if sent.strip():
                raise _Refused(
                    "E7619",
                    element,
                    f"value {printable(sent, 40)!r} is not a number",
                    Reason.WRONG_TYPE,
                ) from None
    elif kind is int or kind is float:
        return sent  # type: ignore[no-any-return]
    elif sent is not None:
        raise _Refused(
            "E7619",
            element,
            f"value must be a number, not {type(sent).__name__}",
            Reason.WRONG_TYPE,
        )
    raise _Refused(
        "E7618", element, "value is missing: the hub stores numbers only", Reason.MISSING_FIELD
    )


async def _skipped_by_strategy(
    session: AsyncSession, read: _Rows, strategy: ImportStrategy
) -> set[int]:
    """Rows ``CREATE`` leaves alone (their value exists) or ``UPDATE`` does (it does not): DHIS2
    counts them ignored, without a conflict."""
    keys = {
        i: (row.unit, row.indicator, row.period)
        for i, row in enumerate(read.rows)
        if isinstance(row, ObservationIn) and row.unit is not None and row.period is not None
    }
    existing: set[tuple[str, str, str]] = set()
    wanted = sorted(set(keys.values()))
    for start in range(0, len(wanted), _CHUNK):
        found = await session.execute(
            select(Unit.code, Indicator.code, Observation.period)
            .join(Unit, Unit.id == Observation.unit_id)
            .join(Indicator, Indicator.id == Observation.indicator_id)
            .where(
                keys_in(
                    session,
                    [Unit.code, Indicator.code, Observation.period],
                    wanted[start : start + _CHUNK],
                )
            )
        )
        existing.update((u, i, p) for u, i, p in found)
    want_existing = strategy is ImportStrategy.UPDATE
    return {i for i, key in keys.items() if (key in existing) is not want_existing}


def _conflicts(
    read: _Rows, rejected: Iterable[pipeline.Rejected], positions: Sequence[int]
) -> list[Dhis2Conflict]:
    """The refused rows as DHIS2's conflicts: one per (code, object, reason), with the rows'
    indexes in the set as sent."""
    grouped: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for r in rejected:
        index = positions[r.index]
        refusal = read.refused.get(index)
        if refusal is None:
            refusal = _pipeline_refusal(read, index, r)
        grouped[(refusal.code, refusal.object, refusal.reason)].append(index)
    conflicts = []
    for (code, obj, reason), indexes in grouped.items():
        prop, template = _CODES[code]
        conflicts.append(
            Dhis2Conflict(
                object=obj,
                objects={prop: obj},
                value=f"{template.format(object=obj)}: {reason}",
                errorCode=code,
                property=prop,
                indexes=sorted(indexes),
            )
        )
    return conflicts


def _pipeline_refusal(read: _Rows, index: int, rejected: pipeline.Rejected) -> Refusal:
    code = _BY_REASON.get(rejected.code, "E7619")
    prop = _CODES[code][0]
    row = read.sent[index]
    if prop == "orgUnit":
        sent = _inherited(row, read.envelope, "orgUnit")
    elif prop == "period":
        sent = _inherited(row, read.envelope, "period")
    else:  # the data element, whose value or comment it is
        sent = row.get("dataElement")
    return Refusal(code, printable(str(sent), 200), rejected.reason, rejected.code)


def _summary(
    options: Options,
    count: Dhis2ImportCount,
    conflicts: list[Dhis2Conflict],
    *,
    blocked: bool = False,
) -> Dhis2ImportSummary:
    if blocked:
        status, description = "ERROR", "The import process failed: see the conflicts"
    elif conflicts:
        status, description = "WARNING", "Import process completed with conflicts"
    else:
        status, description = "SUCCESS", "Import process completed successfully"
    return Dhis2ImportSummary(
        status=status,
        importOptions=options.summary_options(),
        description=description,
        importCount=count,
        conflicts=conflicts,
        rejectedIndexes=sorted({i for c in conflicts for i in c.indexes}),
    )


def _failed(options: Options, description: str, rows: int) -> Dhis2WebMessage:
    summary = Dhis2ImportSummary(
        status="ERROR",
        importOptions=options.summary_options(),
        description=description,
        importCount=Dhis2ImportCount(imported=0, updated=0, ignored=rows, deleted=0),
    )
    return _message(summary)


# DHIS2's envelope for each status of an import summary (its ``WebMessageUtils.importSummary``):
# (HTTP status, its reason phrase, the message's status, the message).
_ENVELOPES = {
    "ERROR": (409, "Conflict", "ERROR", "An error occurred, please check import summary."),
    "WARNING": (
        409,
        "Conflict",
        "WARNING",
        "One more conflicts encountered, please check import summary.",
    ),
    "SUCCESS": (200, "OK", "OK", "Import was successful."),
}


def _message(summary: Dhis2ImportSummary) -> Dhis2WebMessage:
    code, phrase, status, message = _ENVELOPES[summary.status]
    return Dhis2WebMessage(
        httpStatus=phrase,
        httpStatusCode=code,
        status=status,
        message=message,
        response=summary,
    )


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """What ``GET /api/dataValueSets`` asks for, as DHIS2 asks it: data sets (the hub's
    indicator groups) or data elements, periods or a date range, org units and maybe their
    children."""

    data_sets: Sequence[str]
    data_elements: Sequence[str]
    periods: Sequence[str]
    start_date: date | None
    end_date: date | None
    org_units: Sequence[str]
    children: bool


async def export_set(
    session: AsyncSession, principal: Principal, query: ExportQuery
) -> DataValueSetOut:
    """The stored values a DHIS2 export asks for, within the key's area, identified as the
    senders identify them (a mapped identifier when there is one)."""
    if not query.data_sets and not query.data_elements:
        raise Invalid("give dataSet (an indicator group) or dataElement", field="query.dataElement")
    if not query.periods and (query.start_date is None or query.end_date is None):
        raise Invalid("give period, or both startDate and endDate", field="query.period")
    if query.start_date and query.end_date and query.start_date > query.end_date:
        raise Invalid(
            f"startDate {query.start_date} is after endDate {query.end_date}",
            field="query.startDate",
        )
    if not query.org_units:
        raise Invalid("give orgUnit", field="query.orgUnit")
    forward = await _forward(session, query)
    indicator_ids = await _indicators(session, query, forward)
    unit_ids = await _units(session, principal, query, forward)
    statement = (
        select(Observation, Unit.code, Indicator.code)
        .join(Unit, Unit.id == Observation.unit_id)
        .join(Indicator, Indicator.id == Observation.indicator_id)
        .where(Observation.indicator_id.in_(indicator_ids))
    )
    if query.children:
        statement = statement.where(Unit.id.in_(unit_ids) | Unit.parent_id.in_(unit_ids))
    else:
        statement = statement.where(Unit.id.in_(unit_ids))
    if query.periods:
        ids = []
        for text in query.periods:
            try:
                ids.append(hub_period(text).id)
            except PeriodError as exc:
                raise Invalid(f"period {exc}", field="query.period") from None
        statement = statement.where(Observation.period.in_(ids))
    else:
        statement = statement.where(
            Observation.period_start >= query.start_date,
            Observation.period_start <= query.end_date,
        )
    rows = (
        await session.execute(
            statement.order_by(Unit.code, Indicator.code, Observation.period_start).limit(
                MAX_EXPORT + 1
            )
        )
    ).all()
    if len(rows) > MAX_EXPORT:
        raise Invalid(
            f"more than {MAX_EXPORT} values match: ask for fewer periods or org units",
            field="query",
        )
    names = await _reverse(session, {u for _, u, _ in rows}, {i for _, _, i in rows})
    return DataValueSetOut(
        dataValues=[
            DataValueOut(
                dataElement=names.get((_DATA_ELEMENT, indicator), indicator),
                period=hub_period(obs.period).dhis2_id,
                orgUnit=names.get((_ORG_UNIT, unit), unit),
                categoryOptionCombo=DEFAULT_COMBO_UID,
                attributeOptionCombo=DEFAULT_COMBO_UID,
                value=number(obs.value),
                storedBy=f"key:{obs.key_id}" if obs.key_id is not None else "ioc-hub",
                created=obs.first_received_at,
                lastUpdated=obs.received_at,
                comment=obs.comment,
            )
            for obs, unit, indicator in rows
        ]
    )


async def _forward(session: AsyncSession, query: ExportQuery) -> dict[tuple[str, str], str]:
    wanted = [(_DATA_ELEMENT, e) for e in query.data_elements] + [
        (_ORG_UNIT, u) for u in query.org_units
    ]
    rows = await session.execute(
        select(Dhis2Mapping.kind, Dhis2Mapping.dhis2_id, Dhis2Mapping.code).where(
            keys_in(session, [Dhis2Mapping.kind, Dhis2Mapping.dhis2_id], wanted)
        )
    )
    return {(kind, dhis2_id): code for kind, dhis2_id, code in rows}


async def _indicators(
    session: AsyncSession, query: ExportQuery, forward: dict[tuple[str, str], str]
) -> set[int]:
    ids: set[int] = set()
    for element in query.data_elements:
        code = forward.get((_DATA_ELEMENT, element), element)
        found = await session.scalar(select(Indicator.id).where(Indicator.code == code))
        if found is None:
            raise no_such(f"data element {element!r} names no indicator", field="query.dataElement")
        ids.add(found)
    for data_set in query.data_sets:
        group = await session.scalar(
            select(IndicatorGroup.id).where(IndicatorGroup.code == data_set)
        )
        if group is None:
            raise no_such(f"data set {data_set!r} names no indicator group", field="query.dataSet")
        ids.update(await session.scalars(select(Indicator.id).where(Indicator.group_id == group)))
    return ids


async def _units(
    session: AsyncSession,
    principal: Principal,
    query: ExportQuery,
    forward: dict[tuple[str, str], str],
) -> set[int]:
    ids = set()
    for org_unit in query.org_units:
        code = forward.get((_ORG_UNIT, org_unit), org_unit)
        unit = await registry.unit_in_area(session, principal, code, field="query.orgUnit")
        ids.add(unit.id)
    return ids


async def _reverse(
    session: AsyncSession, units: set[str], indicators: set[str]
) -> dict[tuple[str, str], str]:
    """The identifier senders use for each hub code that has a mapping (the oldest one)."""
    wanted = [(_ORG_UNIT, u) for u in units] + [(_DATA_ELEMENT, i) for i in indicators]
    names: dict[tuple[str, str], str] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = await session.execute(
            select(Dhis2Mapping.kind, Dhis2Mapping.code, Dhis2Mapping.dhis2_id)
            .where(
                keys_in(
                    session, [Dhis2Mapping.kind, Dhis2Mapping.code], wanted[start : start + _CHUNK]
                )
            )
            .order_by(Dhis2Mapping.id.desc())
        )
        names.update({(kind, code): dhis2_id for kind, code, dhis2_id in rows})
    return names
