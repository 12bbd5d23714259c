"""Property-based: no document, text or filter makes validation raise anything but the platform's own errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extensions_core.exceptions import ManifestError, TaskInputError
from extensions_core.filters import filter_matches, filter_problems
from extensions_core.manifest import parse_json_text, parse_manifest
from extensions_core.validation import json_storable_check
from tests.conftest import CORPUS, base_manifest

# Text with every code point hypothesis can make, lone surrogates and NUL included.
any_text = st.text(st.characters(codec=None, categories=None), max_size=20)
# Strings that have broken a parser before, or could: cron lists, regexes, ranges, zones, paths, references.
TRICKY = [
    "1,,2 * * * *", "*/0 * * * *", "a-b * * * *", "99 * * * *", "* * * * 7-1", "*/5 * * *", "0 0 31 2 *",
    "[", "(?P<", "\\", "a{99999999}", "^(a+)+$", ">=1.0,<", "other-ext>=1.2,<2", "x==", "~=1", "Europe/Nowhere",
    "../x", "/a/{b}/{b}", "/", "%00", "#/$defs/x", "http://127.0.0.1:1/x.json", "$gte", "a..b", "1.2.3-rc.1+b",
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**80), max_value=10**80),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
    st.sampled_from(TRICKY),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(any_text, children, max_size=4)),
    max_leaves=25,
)
KEYS = [
    "name", "version", "display_name", "description", "author", "license", "category", "tags", "api",
    "background_tasks", "dependencies", "permissions", "resources", "settings", "ui", "entrypoint",
    "karen_version", "capabilities", "schedule", "interval_seconds", "timezone", "function", "parameters",
    "triggers", "filter", "event", "endpoints", "path", "methods", "depends_on", "misfire_policy", "extensions",
]  # fmt: skip


# Keys whose values go through the semantic checks (parsers of their own: cron, PEP 440, zones, schemas, paths).
SEMANTIC_KEYS = {
    "schedule", "interval_seconds", "timezone", "karen_version", "version", "extensions", "parameters", "settings",
    "filter", "path", "methods", "entrypoint", "depends_on", "event", "name", "function", "prefix",
}  # fmt: skip
FULL_TASK = {
    "name": "tick", "function": "tick", "schedule": "*/5 * * * *", "timezone": "UTC", "depends_on": [],
    "parameters": {"type": "object", "properties": {"x": {"type": "string", "pattern": "^a$"}}},
    "triggers": [{"event": "extension.loaded", "filter": {"level": {"$gte": 3}}}],
}  # fmt: skip


def seeds() -> list[dict[str, Any]]:
    documents = [
        base_manifest(),
        base_manifest(
            background_tasks=[FULL_TASK, {**FULL_TASK, "name": "other", "interval_seconds": 5, "schedule": None}],
            dependencies={"extensions": ["other-ext>=1.2,<2"]},
            api={"endpoints": [{"path": "/items/{item}", "methods": ["GET"], "permissions": ["user"]}]},
            settings={"type": "object", "properties": {"unit": {"type": "string", "default": "C"}}},
            karen_version=">=0.1",
            entrypoint="module:Class",
        ),
    ]
    for path in sorted(CORPUS.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document, dict):
            documents.append(document)
    return documents


SEEDS = seeds()


def paths_of(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths_of(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths_of(value, (*prefix, index))
    return found


def replaced(document: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    if isinstance(document, dict):
        return {**document, head: replaced(document[head], tuple(rest), value)}
    copy = list(document)
    copy[head] = replaced(copy[head], tuple(rest), value)
    return copy


@st.composite
def mutated_manifests(draw) -> Any:
    document = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(paths_of(document)))
        action = draw(st.sampled_from(["replace", "insert", "delete", "semantic"]))
        semantic = [item for item in paths_of(document) if item and item[-1] in SEMANTIC_KEYS]
        if action == "semantic" and semantic:
            target = draw(st.sampled_from(semantic))
            document = replaced(document, target, draw(st.one_of(st.sampled_from(TRICKY), json_values)))
        elif action == "replace":
            document = replaced(document, path, draw(json_values))
        elif action == "insert":
            key = draw(st.one_of(st.sampled_from(KEYS), any_text))
            target = document
            for part in path:
                target = target[part]
            if isinstance(target, dict):
                document = replaced(document, path, {**target, key: draw(json_values)})
        elif path:
            parent_path, last = path[:-1], path[-1]
            parent = document
            for part in parent_path:
                parent = parent[part]
            if isinstance(parent, dict):
                document = replaced(document, parent_path, {k: v for k, v in parent.items() if k != last})
    return document


def validate_only_with_problems(document: Any) -> None:
    try:
        parse_manifest(document)
    except ManifestError as error:
        assert error.problems and all(problem.message for problem in error.problems)
    try:
        parse_json_text(json.dumps(document, allow_nan=True), max_depth=32)
    except ManifestError as error:
        assert error.problems


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_manifests())
def test_a_mutated_real_manifest_only_ever_gets_problems(document):
    validate_only_with_problems(document)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8)))
def test_a_random_json_document_only_ever_gets_problems(document):
    validate_only_with_problems(document)


@settings(max_examples=300, deadline=None)
@given(st.one_of(any_text, st.binary(max_size=60).map(lambda raw: raw.decode("latin-1"))))
def test_random_text_is_refused_with_a_problem_never_an_exception(text):
    try:
        parse_json_text(text, max_depth=32)
    except ManifestError as error:
        assert error.problems


@settings(max_examples=300, deadline=None)
@given(conditions=json_values, payload=json_values)
def test_the_filter_language_checks_and_matches_any_value_without_raising(conditions, payload):
    problems = filter_problems(conditions)

    if not problems:
        assert filter_matches(conditions, payload) in (True, False)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_value_is_either_storable_or_refused_with_its_paths(value):
    try:
        json_storable_check(value, field="parameters")
    except TaskInputError as error:
        assert error.problems and all(problem.field.startswith("parameters") for problem in error.problems)


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parameters=json_values)
def test_task_parameters_are_accepted_or_refused_with_problems(parameters):
    from extensions_core.models import Extension, TaskDefinition
    from extensions_core.services.executions import task_parameters_check

    schema = {
        "type": "object",
        "$defs": {"level": {"type": "integer", "minimum": 0}},
        "properties": {"station": {"type": "string", "pattern": "^[a-z]+$"}, "level": {"$ref": "#/$defs/level"}},
        "additionalProperties": False,
    }
    definition = TaskDefinition(extension=Extension(name="sample"), name="t", parameters_schema=schema)

    try:
        task_parameters_check(definition, parameters)
    except TaskInputError as error:
        assert error.problems


FULL = SEEDS[1]
FULL_PATHS = [path for path in paths_of(FULL) if path]
# Fields read by a parser of their own, and the items of lists of them.
SEMANTIC_PATHS = [
    path for path in FULL_PATHS if path[-1] in SEMANTIC_KEYS or (len(path) > 1 and path[-2] in SEMANTIC_KEYS)
]


@pytest.mark.parametrize("value", TRICKY)
@pytest.mark.parametrize("path", SEMANTIC_PATHS, ids=lambda path: ".".join(map(str, path)))
def test_each_tricky_value_in_each_field_gets_problems_not_an_exception(path, value):
    validate_only_with_problems(replaced(FULL, path, value))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(FULL_PATHS), value=json_values)
def test_any_value_in_any_field_gets_problems_not_an_exception(path, value):
    validate_only_with_problems(replaced(FULL, path, value))
