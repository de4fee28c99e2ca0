"""The shapes of what requests carry (codes, names and text, numbers, instants), written once
for the published contract and the validation alike."""

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator

from ioc_hub.kit.periods import PERIOD_PATTERN

_CODE = "[A-Za-z0-9][A-Za-z0-9._-]*"
CODE_PATTERN = f"^{_CODE}$"
"""Unit, indicator and group codes: ASCII letters and digits, then also ``.``, ``_``, ``-``."""
CODE_LIST_PATTERN = f"^{_CODE}(,{_CODE})*$"
"""One code or several separated by commas (which no code contains)."""
TEXT_PATTERN = r"^[^\x00]*$"
"""Free text: anything but NUL, which PostgreSQL cannot store in text."""
# Python's regular expressions count \x1c-\x1f as white space and pydantic's do not: naming them
# keeps a client's reading of the pattern and the hub's alike.
NAME_PATTERN = r"^[^\x00]*[^\s\x1c-\x1f\x00][^\x00]*$"
"""A name: free text, not all white space (names are stripped, and an empty one is refused)."""

PATTERN_REASONS = {
    CODE_PATTERN: "a code is ASCII letters and digits, then also '.', '_' or '-'",
    CODE_LIST_PATTERN: "expected codes separated by commas, each ASCII letters and digits, "
    "then also '.', '_' or '-'",
    TEXT_PATTERN: "text must not contain NUL (\\u0000)",
    NAME_PATTERN: "a name must not be blank or contain NUL (\\u0000)",
    PERIOD_PATTERN: "expected a period id: 2026-11-28, 2026-W48, 2026-11, 2026-Q4 or 2026 "
    "(DHIS2: 20261128, 2026W48, 202611, 2026Q4)",
}
"""Each pattern above in words, for the reason a refusal gives instead of the expression."""

_DATE_TIME_START = re.compile(r"[0-9]{4}-")


def _date_time_text(value: object) -> object:
    # pydantic also reads a number, or text of one, as seconds since 1970: the contract promises
    # an ISO 8601 date-time and nothing else.
    if not isinstance(value, datetime) and not (
        isinstance(value, str) and _DATE_TIME_START.match(value)
    ):
        raise ValueError("expected an ISO 8601 date-time with an offset, e.g. 2026-11-28T10:00Z")
    return value


IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]
"""An instant given as ISO 8601 text with its UTC offset."""


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _date_text(value: object) -> object:
    # As for instants: pydantic would read 0 as 1970-01-01.
    if not isinstance(value, date) and not (isinstance(value, str) and _DATE.fullmatch(value)):
        raise ValueError("expected an ISO 8601 day, e.g. 2025-07-01")
    return value


IsoDate = Annotated[date, BeforeValidator(_date_text)]
"""A calendar day given as ISO 8601 text (``YYYY-MM-DD``)."""


def _not_text_or_boolean(value: object) -> object:
    # pydantic reads "12" and true as numbers too; the contract says a JSON number.
    if isinstance(value, str | bool):
        raise ValueError("Input should be a valid number: a JSON number, not text or a boolean")
    return value


JSON_NUMBER = BeforeValidator(_not_text_or_boolean)
"""Metadata for an ``int`` or ``float`` field of a body: a JSON number, not text or a boolean."""
