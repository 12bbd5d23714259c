"""JSON that crosses into the platform: strict parsing, values every database can store, schemas that never reach out.

One home for these rules, used by the manifest reader, the API's request
parser, admin and the services alike. Each check reports every offending value
with its JSON path; none of them raises anything but the platform's errors.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.exceptions import NoSuchResource, Unresolvable

from extensions_core.exceptions import ManifestProblem, TaskInputError

# The longest integer accepted (Python refuses to parse past 4,300 digits, PostgreSQL stores ~131,000).
MAX_NUMBER_DIGITS = 64
# Deepest nesting of objects and arrays accepted in a request body (manifests have their own limit).
MAX_REQUEST_DEPTH = 32
_SIGNIFICANT = re.compile(r'["\\\[\]{}]')


class InvalidNumber:
    """What the strict parser puts where a number cannot be kept (NaN, Infinity, too many digits)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text if len(text) <= 24 else f"{text[:20]}... ({len(text)} characters)"


class JSONObject(dict):
    """A parsed object that remembers the keys it saw twice (the last value won)."""

    __slots__ = ("duplicates",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.duplicates: list[str] = []
        for key, value in pairs:
            if key in self:
                self.duplicates.append(key)
            self[key] = value


def _integer(text: str) -> int | InvalidNumber:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        return InvalidNumber(text)
    return int(text)


def _float(text: str) -> float | InvalidNumber:
    value = float(text)
    return value if math.isfinite(value) else InvalidNumber(text)


def strict_loads(text: str) -> Any:
    """Parse JSON *text*, marking what strict JSON forbids instead of accepting it.

    NaN and Infinity, integers past MAX_NUMBER_DIGITS and floats that overflow
    become InvalidNumber; objects record duplicated keys. `json_problems()`
    reports both, with lone surrogates and NUL characters. Raise
    json.JSONDecodeError for text that is not JSON at all; check the nesting
    depth first (a deeply nested text exhausts the parser's recursion).
    """
    return json.loads(
        text, object_pairs_hook=JSONObject, parse_constant=InvalidNumber, parse_int=_integer, parse_float=_float
    )


def nesting_depth(text: str) -> int:
    """Return the deepest nesting of objects and arrays in JSON *text*, strings ignored."""
    # One linear pass over the characters that matter; a regex that skips whole
    # strings backtracks quadratically on an unterminated string of escaped quotes.
    depth = deepest = 0
    in_string = False
    escaped_at = -1
    for match in _SIGNIFICANT.finditer(text):
        position, character = match.start(), match.group()
        if position == escaped_at:
            continue
        if character == "\\":
            escaped_at = position + 1
        elif character == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif character in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def text_problem(text: str) -> str | None:
    """Say why *text* cannot be stored (a NUL character, a lone surrogate), or None."""
    if "\x00" in text:
        return "must not contain the NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone surrogate (like \\ud800): text must be valid Unicode"
    return None


def json_problems(value: Any, *, field: str = "", code: str = "invalid_input") -> list[ManifestProblem]:
    """Return a problem, with its JSON path under *field*, for each value no database could store as given.

    NUL characters and lone surrogates in keys or strings, NaN, Infinity and
    numbers past MAX_NUMBER_DIGITS, and keys given twice in one object.
    """
    problems = []
    stack: list[tuple[str, Any]] = [(field, value)]
    while stack:
        path, node = stack.pop()
        for problem in _node_problems(path, node, code):
            problems.append(problem)
        if isinstance(node, dict):
            stack.extend((_join(path, key), item) for key, item in reversed(list(node.items())))
        elif isinstance(node, (list, tuple)):
            stack.extend((_join(path, index), item) for index, item in reversed(list(enumerate(node))))
    return problems


def _node_problems(path: str, node: Any, code: str) -> Iterator[ManifestProblem]:
    shown = path or "(document)"
    if isinstance(node, str):
        message = text_problem(node)
        if message:
            yield ManifestProblem(path, code, f'"{shown}" {message}')
    elif isinstance(node, InvalidNumber):
        yield ManifestProblem(
            path, code, f'"{shown}" must be a finite number of at most {MAX_NUMBER_DIGITS} digits (got {node.text})'
        )
    elif isinstance(node, float) and not math.isfinite(node):
        yield ManifestProblem(path, code, f'"{shown}" must be a finite number (got {node})')
    elif isinstance(node, int) and not isinstance(node, bool) and abs(node) >= 10**MAX_NUMBER_DIGITS:
        yield ManifestProblem(path, code, f'"{shown}" must be a number of at most {MAX_NUMBER_DIGITS} digits')
    elif isinstance(node, dict):
        for key in node:
            message = text_problem(key) if isinstance(key, str) else None
            if message:
                yield ManifestProblem(_join(path, key), code, f"the key {key!r} {message}")
        for key in getattr(node, "duplicates", ()):
            yield ManifestProblem(
                _join(path, key), code, f'"{key}" is given twice in this object (the last one would win); keep one'
            )


def plain(value: Any) -> Any:
    """Return *value* with JSONObjects turned into plain dicts (call once json_problems() found nothing)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def json_storable_check(value: Any, *, field: str) -> Any:
    """Return *value* if every database can store it as JSON; raise TaskInputError listing each problem."""
    problems = tuple(json_problems(value, field=field))
    if problems:
        raise TaskInputError("; ".join(str(problem) for problem in problems), code="invalid_input", problems=problems)
    return value


# --- JSON Schemas an author or operator supplies ------------------------------------------------------


def remote_reference_problems(schema: Any, *, field: str, code: str) -> list[ManifestProblem]:
    """Return a problem for each $ref / $dynamicRef of *schema* that points outside the document itself."""
    problems = []
    stack: list[tuple[str, Any]] = [(field, schema)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            for keyword in ("$ref", "$dynamicRef"):
                target = node.get(keyword)
                if target is not None and not (isinstance(target, str) and target.startswith("#")):
                    problems.append(
                        ManifestProblem(
                            _join(path, keyword),
                            code,
                            f'"{keyword}" may only point inside this schema ("#/$defs/name"), '
                            f"never to a file or URL (got {target!r})",
                        )
                    )
            stack.extend((_join(path, key), item) for key, item in node.items() if isinstance(item, (dict, list)))
        elif isinstance(node, list):
            stack.extend((_join(path, index), item) for index, item in enumerate(node))
    return problems


def _never_retrieve(uri: str):
    raise NoSuchResource(ref=uri)


# Resolves references inside the schema itself only: a $ref to a URL or file fails, nothing is ever fetched.
_NO_RETRIEVAL = Registry(retrieve=_never_retrieve)


def schema_validator(schema: dict[str, Any]) -> Draft202012Validator:
    """Return a validator of *schema* that can never retrieve a resource (files, URLs)."""
    return Draft202012Validator(schema, registry=_NO_RETRIEVAL)


def schema_findings(schema: dict[str, Any], instance: Any) -> list[tuple[list[str | int], str]]:
    """Return (path inside *instance*, message) for each way *instance* breaks *schema*; never raise.

    A schema that cannot be applied (a reference outside itself, a reference
    loop) is one finding at the top, saying so.
    """
    try:
        errors = sorted(schema_validator(schema).iter_errors(instance), key=lambda error: list(error.absolute_path))
    except Unresolvable as error:
        return [([], f"its schema refers to {error.ref!r}, outside itself, so it cannot be checked; fix the schema")]
    except RecursionError:
        return [([], "its schema refers to itself without end, so it cannot be checked; fix the schema")]
    return [(list(error.absolute_path), error.message) for error in errors]
