"""A pushed row's shape, checked one row at a time (docs/design.md §3).

A push's body is validated by FastAPI against its pydantic model, but a bad row must not fail
its batch: the rows are validated as a list whose bad rows become :class:`BadRow` values
(:func:`each_row`), which the pipeline reports with their index and keeps. Reasons
read as a person would say them (``value must be a number, not a string``), with a fixed code
(:class:`Reason`) that metrics count by.
"""

import enum
from typing import Annotated, Any

from annotated_types import MinLen
from pydantic import BaseModel, PlainValidator, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

MAX_COMMENT = 500
"""Longest comment a row may carry, in characters."""

# Any value the hub stores must survive being summed with a million others: 1e300 × 1e6 is far
# below the largest double (1.8e308), so no aggregate can overflow.
MAX_MAGNITUDE = 1e300
_BEYOND = "beyond ±1e300, the largest magnitude the hub can add up"


class Reason(enum.StrEnum):
    """Why a row was rejected, as a small fixed set (metrics count rejected rows by it); the
    sentence for humans goes with it."""

    WRONG_TYPE = "wrong_type"
    UNEXPECTED_FIELD = "unexpected_field"
    MISSING_FIELD = "missing_field"
    UNKNOWN_INDICATOR = "unknown_indicator"
    INACTIVE_INDICATOR = "inactive_indicator"
    UNKNOWN_UNIT = "unknown_unit"
    INACTIVE_UNIT = "inactive_unit"
    OUTSIDE_AREA = "outside_area"
    ENDED_UNIT = "ended_unit"
    NOT_STARTED_UNIT = "not_started_unit"
    INVALID_VALUE = "invalid_value"
    OUT_OF_RANGE = "out_of_range"
    INVALID_TIME = "invalid_time"
    FUTURE_TIME = "future_time"
    INVALID_PERIOD = "invalid_period"
    FUTURE_PERIOD = "future_period"
    INCONSISTENT = "inconsistent"


_OWN = frozenset(Reason)


class BadRow:
    """A row whose shape is wrong, and why it was refused. A plain class, not a dataclass, so
    that pydantic does not publish it: it never crosses the wire."""

    __slots__ = ("code", "reason")

    def __init__(self, reason: str, code: Reason) -> None:
        self.reason = reason
        self.code = code


def each_row(model: type[BaseModel]) -> PlainValidator:
    """Validate a list of rows as ``model``, turning each bad row into a :class:`BadRow`. The
    published schema stays a non-empty array of ``model``.

    A batch whose rows are all good, the usual one, is validated in one call; only a batch with
    a bad row is gone through row by row, to tell each row's fate."""
    whole = TypeAdapter(list[model])  # type: ignore[valid-type]

    def one(row: Any) -> BaseModel | BadRow:
        try:
            return model.model_validate(row)
        except ValidationError as exc:
            return BadRow(*explain(exc.errors(include_url=False)[0], row, model))

    def validate(rows: Any) -> list[BaseModel | BadRow]:
        if not isinstance(rows, list):
            raise PydanticCustomError("list_type", "observations must be an array of rows")
        if not rows:
            raise PydanticCustomError("too_short", "observations must hold at least one row")
        try:
            valid: list[BaseModel | BadRow] = whole.validate_python(rows)
        except ValidationError:
            return [one(row) for row in rows]
        return valid

    schema = Annotated[list[model], MinLen(1)]  # type: ignore[valid-type]
    return PlainValidator(validate, json_schema_input_type=schema)


def explain(error: ErrorDetails, row: Any, model: type[BaseModel]) -> tuple[str, Reason]:
    """The first error pydantic found in a row, said as the hub says it."""
    kind = error["type"]
    if kind in _OWN:  # raised by our own validators, already worded
        return error["msg"], Reason(kind)
    name = ".".join(str(part) for part in error["loc"]) or "row"
    sent = error.get("input")
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"row must be an object, not {json_type(row)}", Reason.WRONG_TYPE
    if kind == "missing":
        return f"{name} is missing", Reason.MISSING_FIELD
    if kind == "extra_forbidden":
        fields = ", ".join(sorted(model.model_fields))
        return f"unexpected field {show(name)}; rows take {fields}", Reason.UNEXPECTED_FIELD
    if kind == "float_type":
        if sent is None:
            return f"{name} is missing", Reason.MISSING_FIELD
        if isinstance(sent, int) and not isinstance(sent, bool):  # too large for a double
            return f"{name} of {len(str(abs(sent)))} digits is {_BEYOND}", Reason.OUT_OF_RANGE
        return f"{name} must be a number, not {json_type(sent)}", Reason.WRONG_TYPE
    if kind == "finite_number":
        return f"{name} {sent} is not a finite number", Reason.INVALID_VALUE
    if kind in ("less_than_equal", "greater_than_equal"):
        return f"{name} {number(sent)} is {_BEYOND}", Reason.OUT_OF_RANGE
    if kind == "string_type":
        if sent is None:
            return f"{name} is missing", Reason.MISSING_FIELD
        return f"{name} must be a string, not {json_type(sent)}", Reason.WRONG_TYPE
    if kind == "string_too_long":
        limit = (error.get("ctx") or {}).get("max_length")
        return f"{name} is longer than {limit} characters", Reason.INVALID_VALUE
    if kind == "timezone_aware":
        return f"{name} has no time zone", Reason.INVALID_TIME
    if kind.startswith(("datetime", "date_")):
        return f"{name} {show(str(sent))} is not an ISO 8601 time", Reason.INVALID_TIME
    return f"{name}: {error['msg']}", Reason.WRONG_TYPE


def iso_text(value: Any, name: str) -> Any:
    """An instant must come as ISO 8601 text: pydantic would also read a number as Unix time."""
    if value is not None and not isinstance(value, str):
        raise PydanticCustomError(
            Reason.WRONG_TYPE,
            "{name} must be an ISO 8601 string, not {kind}",
            {"name": name, "kind": json_type(value)},
        )
    return value


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", list: "an array", dict: "an object"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def printable(text: str, limit: int = 64) -> str:
    """A sender's string cut short, control characters (NUL included) replaced by '?'."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
    return cleaned + ("…" if len(text) > limit else "")


def show(text: str) -> str:
    """Quote a sender's string for a reason."""
    return repr(printable(text))


def number(value: float) -> str:
    """A number as a reason shows it: whole numbers without a decimal point."""
    value = float(value)  # a JSON integer may arrive as an int
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
