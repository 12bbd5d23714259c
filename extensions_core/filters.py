"""The event filter language: checking a filter's syntax and matching a payload against it.

A plain object is all-keys equality (the first system's rule). A value that is
an object of operators ($ne $in $gt $gte $lt $lte $exists $contains) applies
them instead. Keys are dotted paths into the payload ("device.room").
"""

from __future__ import annotations

from typing import Any

OPERATORS = frozenset({"$ne", "$in", "$gt", "$gte", "$lt", "$lte", "$exists", "$contains"})
_MISSING = object()


def filter_problems(conditions: Any, *, path: str = "filter") -> list[tuple[str, str]]:
    """Return (field, message) for every syntax error in *conditions*; empty when valid."""
    if not isinstance(conditions, dict):
        return [(path, "a filter must be an object of dotted paths to values or operators")]
    problems: list[tuple[str, str]] = []
    for key, expected in conditions.items():
        field = f"{path}.{key}"
        if not key or key.startswith("$") or any(part == "" for part in key.split(".")):
            problems.append((field, f'"{key}" is not a dotted path like "device.room"'))
            continue
        if isinstance(expected, dict) and any(str(name).startswith("$") for name in expected):
            problems.extend(_operator_problems(expected, field))
    return problems


def _operator_problems(operators: dict[str, Any], field: str) -> list[tuple[str, str]]:
    problems = []
    for name, operand in operators.items():
        where = f"{field}.{name}"
        if name not in OPERATORS:
            known = ", ".join(sorted(OPERATORS))
            problems.append((where, f'"{name}" is not an operator (use one of {known})'))
        elif name == "$in" and not isinstance(operand, list):
            problems.append((where, "$in takes a list of values"))
        elif name == "$exists" and not isinstance(operand, bool):
            problems.append((where, "$exists takes true or false"))
        elif name in {"$gt", "$gte", "$lt", "$lte"} and (
            isinstance(operand, bool) or not isinstance(operand, int | float | str)
        ):
            problems.append((where, f"{name} takes a number or a string"))
    return problems


def lookup(payload: Any, dotted: str) -> Any:
    """Return the value at *dotted* in *payload*, or a private marker when absent."""
    current = payload
    for part in dotted.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def filter_matches(conditions: dict[str, Any] | None, payload: Any) -> bool:
    """Return whether *payload* satisfies every condition (an empty filter matches all)."""
    for key, expected in (conditions or {}).items():
        actual = lookup(payload, key)
        if isinstance(expected, dict) and any(str(name).startswith("$") for name in expected):
            if not all(_apply(name, operand, actual) for name, operand in expected.items()):
                return False
        elif actual is _MISSING or actual != expected:
            return False
    return True


def _apply(name: str, operand: Any, actual: Any) -> bool:
    if name == "$exists":
        return (actual is not _MISSING) == operand
    if name == "$ne":
        return actual is _MISSING or actual != operand
    if actual is _MISSING:
        return False
    if name == "$in":
        return actual in operand
    if name == "$contains":
        try:
            return operand in actual
        except TypeError:
            return False
    return _compare(name, operand, actual)


def _compare(name: str, operand: Any, actual: Any) -> bool:
    numbers = (int, float)
    same_kind = (
        isinstance(actual, numbers)
        and isinstance(operand, numbers)
        and not isinstance(actual, bool)
        or isinstance(actual, str)
        and isinstance(operand, str)
    )
    if not same_kind:
        return False
    if name == "$gt":
        return actual > operand
    if name == "$gte":
        return actual >= operand
    if name == "$lt":
        return actual < operand
    return actual <= operand
