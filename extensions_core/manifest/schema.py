"""The published JSON Schema of extension.json and the translation of its findings into problems.

Unknown keys and unknown permission values come back as warnings: real
manifests carry them, and the platform ignores what it does not know.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from extensions_core.exceptions import ManifestProblem

SCHEMA_PATH = Path(__file__).with_name("extension.schema.json")

JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}
SCHEMA_TYPE_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
}


@cache
def manifest_schema() -> dict[str, Any]:
    """Return the published JSON Schema of extension.json."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _anchored(pattern: str) -> re.Pattern[str]:
    # JSON Schema patterns are ECMA-262, where "$" is the very end; Python's "$"
    # also matches before a final newline, which would let "name\n" through.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator, pattern: str, instance: Any, schema: dict) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _anchored(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


ManifestValidator = validators.extend(Draft202012Validator, {"pattern": _pattern})


@cache
def _validator() -> Draft202012Validator:
    return ManifestValidator(manifest_schema())


def _with_anchored_patterns(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: _anchored(value).pattern
            if key == "pattern" and isinstance(value, str)
            else _with_anchored_patterns(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_with_anchored_patterns(value) for value in node]
    return node


@cache
def _fast_validator() -> Callable[[Any], Any]:
    """A compiled validator of the same schema: a fast yes for the common, clean manifest.

    It only answers "valid or not"; the problems of an invalid manifest come
    from jsonschema, which reports all of them with their paths. The schema
    uses no keyword whose meaning differs between draft-07 and 2020-12.
    """
    schema = {**_with_anchored_patterns(manifest_schema()), "$schema": "http://json-schema.org/draft-07/schema#"}
    return fastjsonschema.compile(schema)


def json_path(parts: Any) -> str:
    """Render a jsonschema path deque as background_tasks[0].schedule."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def describe(value: Any) -> str:
    """Name the JSON type of *value* for a message ("an array")."""
    return JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def shown(value: Any) -> str:
    """Render *value* compactly as JSON for "(got ...)"."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def schema_problems(document: Any) -> list[ManifestProblem]:
    """Validate *document* against the published schema; return errors and warnings."""
    try:
        _fast_validator()(document)
    except fastjsonschema.JsonSchemaException:
        pass
    else:
        return []
    problems: dict[tuple[str, str, str], ManifestProblem] = {}
    for error in _validator().iter_errors(document):
        for problem in _problems_of(error):
            problems.setdefault((problem.field, problem.code, problem.message), problem)
    return list(problems.values())


def _problems_of(error: ValidationError) -> Iterator[ManifestProblem]:
    path = json_path(error.absolute_path)
    node = error.schema if isinstance(error.schema, dict) else {}
    validator = error.validator
    if validator == "additionalProperties":
        known = set(node.get("properties", {}))
        for key in sorted(set(error.instance) - known):
            field = f"{path}.{key}" if path else key
            guess = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
            yield ManifestProblem(
                field,
                "manifest_unknown_key",
                f'"{key}" is not a known key and is ignored' + (f' (did you mean "{guess[0]}"?)' if guess else ""),
                is_warning=True,
            )
        return
    if validator == "required":
        properties = node.get("properties", {})
        for key in error.validator_value:
            if isinstance(error.instance, dict) and key not in error.instance:
                field = f"{path}.{key}" if path else key
                hint = properties.get(key, {}).get("description", "")
                yield ManifestProblem(
                    field,
                    "manifest_missing_field",
                    f'required field "{key}" is missing' + (f" ({_lower_first(hint).rstrip('.')})" if hint else ""),
                )
        return
    field_name = path or "(manifest)"
    if validator == "type":
        expected = node.get("type")
        wanted = SCHEMA_TYPE_NAMES.get(expected, str(expected))
        code = "manifest_not_object" if not path else "manifest_wrong_type"
        got = "null" if error.instance is None else f"{describe(error.instance)} {shown(error.instance)}"
        yield ManifestProblem(path, code, f'"{field_name}" must be {wanted} (got {got})')
        return
    code = node.get("x-code", "manifest_invalid_value")
    is_warning = bool(node.get("x-warning"))
    hint = node.get("x-hint")
    if validator == "enum":
        allowed = ", ".join(str(value) for value in error.validator_value)
        message = f'"{error.instance}" is not one of: {allowed}'
        if is_warning:
            message += " (it is ignored)"
        yield ManifestProblem(path, code, message, is_warning=is_warning)
        return
    if hint and validator == "maxLength":
        message = f'"{field_name}" {hint} (got {len(str(error.instance))} characters, at most {error.validator_value})'
    elif hint and validator in {"pattern", "minLength", "minimum", "maximum"}:
        message = f'"{field_name}" {hint} (got {shown(error.instance)})'
    else:
        message = f'"{field_name}" {_plain(error)}'
    yield ManifestProblem(path, code, message, is_warning=is_warning)


def _plain(error: ValidationError) -> str:
    validator, value, instance = error.validator, error.validator_value, error.instance
    sentences = {
        "minLength": f"must be at least {value} character{'s' if value != 1 else ''} long (got {shown(instance)})",
        "maxLength": f"must be at most {value} characters long (got {len(str(instance))})",
        "minimum": f"must be at least {value} (got {shown(instance)})",
        "maximum": f"must be at most {value} (got {shown(instance)})",
        "exclusiveMinimum": f"must be greater than {value} (got {shown(instance)})",
        "exclusiveMaximum": f"must be less than {value} (got {shown(instance)})",
        "minItems": f"must list at least {value} item{'s' if value != 1 else ''}",
        "uniqueItems": "must not list the same item twice",
        "pattern": f"does not match the expected form {value} (got {shown(instance)})",
    }
    return sentences.get(validator, error.message)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
