"""Hooks of the schemathesis process that ``test_schemathesis.py`` starts (``SCHEMATHESIS_HOOKS``
names this file): the run may do anything to the hub but disable the key it runs with, or every
later request would test nothing but a 401."""

import os
from typing import Any

import schemathesis
from schemathesis import Case, HookContext

KEY_ID = os.environ["IOC_HUB_FUZZ_KEY_ID"]
UNIT = os.environ["IOC_HUB_FUZZ_UNIT"]


def disables_the_caller(case: Case) -> bool:
    """Revoking the run's key, or deactivating its unit (which refuses every key of the unit)."""
    path: dict[str, Any] = case.path_parameters or {}
    label = case.operation.label
    if label == "DELETE /api/v1/keys/{key_id}":
        return str(path.get("key_id")) == KEY_ID
    if label == "DELETE /api/v1/units/{code}":
        return path.get("code") == UNIT
    if label == "PATCH /api/v1/units/{code}":
        body = case.body if isinstance(case.body, dict) else {}
        return path.get("code") == UNIT and body.get("active", True) is not True
    return False


@schemathesis.hook
def filter_case(context: HookContext, case: Case) -> bool:
    """Generated cases: the coverage, fuzzing and stateful phases."""
    return not disables_the_caller(case)


@schemathesis.hook
def before_add_examples(context: HookContext, examples: list[Case]) -> None:
    """The cases of the examples phase, made from the schema's examples."""
    examples[:] = [case for case in examples if not disables_the_caller(case)]
