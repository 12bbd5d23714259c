"""Bad manifests: each defect is reported with its JSON path, code and a message that says what to fix."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from extensions_core.manifest import SCHEMA_PATH, ManifestError, manifest_schema, parse_manifest
from tests.conftest import base_manifest, fast_schema_accepts, full_schema_errors

REQUIRED_FIELDS = ("name", "version", "display_name", "description", "author", "license", "category")


def without(field: str) -> dict[str, Any]:
    document = base_manifest()
    del document[field]
    return document


def endpoint(path: str = "/items", methods: tuple[str, ...] = ("GET",), **changes: Any) -> dict[str, Any]:
    return {"path": path, "methods": list(methods), **changes}


def api(*endpoints: dict[str, Any]) -> dict[str, Any]:
    return base_manifest(api={"endpoints": list(endpoints)})


def task(name: str = "cleanup", **changes: Any) -> dict[str, Any]:
    return {"name": name, "function": "cleanup_task", **changes}


def tasks(*items: dict[str, Any]) -> dict[str, Any]:
    return base_manifest(background_tasks=list(items))


def triggered(trigger: dict[str, Any]) -> dict[str, Any]:
    return tasks(task(triggers=[trigger]))


def extension_dependencies(*items: str) -> dict[str, Any]:
    return base_manifest(dependencies={"extensions": list(items)})


def errors_of(document: dict[str, Any], *, strict: bool = False) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(document, strict=strict)
    return caught.value


NAME_HINT = "must be 3-50 lowercase letters, digits and single hyphens, starting with a letter"
PATH_HINT = "must start with / and hold segments of letters, digits, . _ ~ - or a {parameter}"
CRON_HINT = "must be a 5-field cron expression: minute hour day-of-month month day-of-week"
INTERVAL_HINT = "must be a whole number of seconds from 1 to 31536000"

BAD_MANIFESTS = [
    # Required fields.
    *[
        pytest.param(
            without(field),
            "manifest_missing_field",
            field,
            f'required field "{field}" is missing',
            id=f"missing-{field}",
        )
        for field in REQUIRED_FIELDS
    ],
    # Wrong types.
    pytest.param(base_manifest(name=5), "manifest_wrong_type", "name", '"name" must be a string', id="name-not-string"),
    pytest.param(
        base_manifest(tags="ai, tools"), "manifest_wrong_type", "tags", '"tags" must be an array', id="tags-not-array"
    ),
    pytest.param(
        base_manifest(api={"endpoints": {"path": "/items", "methods": ["GET"]}}),
        "manifest_wrong_type",
        "api.endpoints",
        '"api.endpoints" must be an array (got an object',
        id="endpoints-not-array",
    ),
    pytest.param(
        base_manifest(permissions=["read:user"]),
        "manifest_wrong_type",
        "permissions",
        '"permissions" must be an object (got an array',
        id="permissions-an-array",
    ),
    pytest.param(
        base_manifest(background_tasks=task()),
        "manifest_wrong_type",
        "background_tasks",
        '"background_tasks" must be an array (got an object',
        id="background-tasks-an-object",
    ),
    # Name.
    pytest.param(base_manifest("Hello-Ext"), "manifest_invalid_name", "name", '(got "Hello-Ext")', id="name-uppercase"),
    pytest.param(base_manifest("my_ext"), "manifest_invalid_name", "name", NAME_HINT, id="name-underscore"),
    pytest.param(base_manifest("ab"), "manifest_invalid_name", "name", '(got "ab")', id="name-too-short"),
    pytest.param(base_manifest("a" * 51), "manifest_invalid_name", "name", NAME_HINT, id="name-too-long"),
    pytest.param(base_manifest("1st-ext"), "manifest_invalid_name", "name", '(got "1st-ext")', id="name-leading-digit"),
    pytest.param(
        base_manifest("trailing-"), "manifest_invalid_name", "name", '(got "trailing-")', id="name-trailing-hyphen"
    ),
    pytest.param(
        base_manifest("double--hyphen"),
        "manifest_invalid_name",
        "name",
        '(got "double--hyphen")',
        id="name-double-hyphen",
    ),
    *[
        pytest.param(
            base_manifest(reserved),
            "manifest_reserved_name",
            "name",
            f'"{reserved}" is reserved by the platform\'s API',
            id=f"name-reserved-{reserved}",
        )
        for reserved in ("system", "background-tasks", "discover")
    ],
    # Version.
    *[
        pytest.param(
            base_manifest(version=version),
            "manifest_invalid_version",
            "version",
            f'"version" must be a semantic version like 1.2.0 (got "{version}")',
            id=f"version-{version}",
        )
        for version in ("one", "1.0", "01.0.0", "v1.0.0")
    ],
    pytest.param(
        base_manifest(karen_version=">>0.1"),
        "manifest_invalid_version_range",
        "karen_version",
        'must be a PEP 440 range like ">=0.1,<1" (got ">>0.1")',
        id="karen-version-invalid-range",
    ),
    pytest.param(
        base_manifest(entrypoint="handler.MainExtension"),
        "manifest_invalid_entrypoint",
        "entrypoint",
        'must be module:Class, like "handler:MainExtension"',
        id="entrypoint-without-colon",
    ),
    # Extension dependencies.
    pytest.param(
        extension_dependencies("Bad Name"),
        "manifest_invalid_dependency",
        "dependencies.extensions[0]",
        '"Bad Name" must be an extension name',
        id="dependency-bad-name",
    ),
    pytest.param(
        extension_dependencies("other>>1"),
        "manifest_invalid_dependency",
        "dependencies.extensions[0]",
        '"other>>1" must be an extension name',
        id="dependency-bad-range",
    ),
    pytest.param(
        extension_dependencies("other-ext", "sample-extension>=1.0"),
        "manifest_dependency_cycle",
        "dependencies.extensions[1]",
        "an extension cannot depend on itself",
        id="dependency-on-itself",
    ),
    pytest.param(
        extension_dependencies("other-ext", "other-ext>=1.2"),
        "manifest_duplicate_dependency",
        "dependencies.extensions[1]",
        '"other-ext" is listed twice',
        id="dependency-listed-twice",
    ),
    # Endpoint paths.
    *[
        pytest.param(
            api(endpoint("/items"), endpoint(path)),
            "manifest_invalid_endpoint_path",
            "api.endpoints[1].path",
            PATH_HINT,
            id=f"endpoint-path-{label}",
        )
        for label, path in [
            ("no-leading-slash", "items"),
            ("trailing-slash", "/items/"),
            ("empty-segment", "/items//detail"),
            ("space", "/my items"),
            ("parameter-leading-digit", "/items/{1bad}"),
        ]
    ],
    pytest.param(
        api(endpoint("/rooms/{id}/devices/{id}")),
        "manifest_invalid_endpoint_path",
        "api.endpoints[0].path",
        "uses the same {parameter} twice",
        id="endpoint-path-duplicate-parameter",
    ),
    *[
        pytest.param(
            api(endpoint(path)),
            "manifest_reserved_endpoint_path",
            "api.endpoints[0].path",
            f'"{path}" is served by the platform for every extension',
            id=f"endpoint-path-reserved-{path.strip('/')}",
        )
        for path in ("/health", "/config")
    ],
    pytest.param(
        api(endpoint("/items"), endpoint("/items", ("POST", "GET"))),
        "manifest_duplicate_endpoint",
        "api.endpoints[1].path",
        "GET /items is already declared by api.endpoints[0]",
        id="endpoint-declared-twice",
    ),
    pytest.param(
        api(endpoint("/rooms/{x}"), endpoint("/rooms/{y}")),
        "manifest_duplicate_endpoint",
        "api.endpoints[1].path",
        "GET /rooms/{y} is already declared by api.endpoints[0]",
        id="endpoint-same-shape-other-parameter-name",
    ),
    pytest.param(
        api(endpoint(methods=("FETCH",))),
        "manifest_invalid_method",
        "api.endpoints[0].methods[0]",
        '"FETCH" is not one of: GET, POST, PUT, PATCH, DELETE',
        id="endpoint-unknown-method",
    ),
    pytest.param(
        api(endpoint(methods=())),
        "manifest_invalid_value",
        "api.endpoints[0].methods",
        "must list at least 1 item",
        id="endpoint-no-methods",
    ),
    pytest.param(
        api(endpoint(public=True, permissions=["staff"])),
        "manifest_conflicting_access",
        "api.endpoints[0].public",
        "remove public or remove permissions",
        id="endpoint-public-with-permissions",
    ),
    # Task schedules.
    pytest.param(
        tasks(task(schedule="0 * * *")),
        "manifest_invalid_cron",
        "background_tasks[0].schedule",
        CRON_HINT,
        id="cron-four-fields",
    ),
    pytest.param(
        tasks(task(schedule="0 0 * * * *")),
        "manifest_invalid_cron",
        "background_tasks[0].schedule",
        CRON_HINT,
        id="cron-six-fields",
    ),
    *[
        pytest.param(
            tasks(task(schedule=schedule)),
            "manifest_invalid_cron",
            "background_tasks[0].schedule",
            fragment,
            id=f"cron-{label}",
        )
        for label, schedule, fragment in [
            ("minute-60", "60 * * * *", 'the minute field "60" of "60 * * * *" is not valid'),
            ("hour-24", "0 24 * * *", 'the hour field "24" of "0 24 * * *" is not valid'),
            ("day-of-week-funday", "0 9 * * funday", 'the day of week field "funday"'),
            ("step-zero", "*/0 * * * *", 'the minute field "*/0"'),
        ]
    ],
    pytest.param(
        tasks(task(schedule="0 * * * *", interval_seconds=3600)),
        "manifest_conflicting_schedule",
        "background_tasks[0].interval_seconds",
        "a task runs on a cron schedule or every interval_seconds, not both",
        id="cron-and-interval",
    ),
    pytest.param(
        tasks(task(interval_seconds=0)),
        "manifest_invalid_interval",
        "background_tasks[0].interval_seconds",
        f"{INTERVAL_HINT} (got 0)",
        id="interval-zero",
    ),
    pytest.param(
        tasks(task(interval_seconds=-60)),
        "manifest_invalid_interval",
        "background_tasks[0].interval_seconds",
        f"{INTERVAL_HINT} (got -60)",
        id="interval-negative",
    ),
    pytest.param(
        tasks(task(interval_seconds=1.5)),
        "manifest_wrong_type",
        "background_tasks[0].interval_seconds",
        "must be a whole number (got a number 1.5)",
        id="interval-not-integer",
    ),
    pytest.param(
        tasks(task(schedule="0 * * * *", timezone="Mars/Olympus")),
        "manifest_invalid_timezone",
        "background_tasks[0].timezone",
        '"Mars/Olympus" is not an IANA time zone',
        id="timezone-unknown",
    ),
    # Task identity and code.
    pytest.param(
        tasks(task(function="tasks..collect")),
        "manifest_invalid_function",
        "background_tasks[0].function",
        "must be a method name (hourly_cleanup_task) or module.function",
        id="function-empty-segment",
    ),
    pytest.param(
        tasks({"name": "cleanup"}),
        "manifest_missing_field",
        "background_tasks[0].function",
        'required field "function" is missing',
        id="task-without-function",
    ),
    pytest.param(
        tasks(task("Hourly-Cleanup")),
        "manifest_invalid_task_name",
        "background_tasks[0].name",
        '(got "Hourly-Cleanup")',
        id="task-name-not-snake-case",
    ),
    pytest.param(
        tasks(task(), task()),
        "manifest_duplicate_task",
        "background_tasks[1].name",
        '"cleanup" is already the name of background_tasks[0]',
        id="task-name-twice",
    ),
    # Task dependencies.
    pytest.param(
        tasks(task(depends_on=["warm_up"])),
        "manifest_unknown_task_dependency",
        "background_tasks[0].depends_on",
        '"warm_up" is not a task of this extension (tasks: cleanup)',
        id="depends-on-unknown-task",
    ),
    pytest.param(
        tasks(task(depends_on=["cleanup"])),
        "manifest_dependency_cycle",
        "background_tasks[0].depends_on",
        '"cleanup" cannot depend on itself',
        id="depends-on-itself",
    ),
    pytest.param(
        tasks(task("a", depends_on=["b"]), task("b", depends_on=["a"])),
        "manifest_dependency_cycle",
        "background_tasks[0].depends_on",
        "tasks depend on each other in a cycle: a -> b -> a",
        id="depends-on-cycle",
    ),
    # Embedded schemas and triggers.
    pytest.param(
        tasks(task(parameters={"message": "hi"})),
        "manifest_invalid_parameters_schema",
        "background_tasks[0].parameters",
        '"message" is not a JSON Schema keyword',
        id="parameters-not-a-schema",
    ),
    pytest.param(
        triggered({"event": "device.changed", "filter": {"room": {"$regex": "^kitchen"}}}),
        "manifest_invalid_filter",
        "background_tasks[0].triggers[0].filter.room.$regex",
        '"$regex" is not an operator',
        id="filter-unknown-operator",
    ),
    pytest.param(
        triggered({"event": "device.changed", "filter": {"room": {"$in": "kitchen"}}}),
        "manifest_invalid_filter",
        "background_tasks[0].triggers[0].filter.room.$in",
        "$in takes a list of values",
        id="filter-in-not-a-list",
    ),
    pytest.param(
        triggered({"event": "Bad Event"}),
        "manifest_invalid_event",
        "background_tasks[0].triggers[0].event",
        'must be a dotted event name like extension.loaded (got "Bad Event")',
        id="trigger-event-bad-name",
    ),
    pytest.param(
        base_manifest(settings={"api_key": "", "timeout": 30}),
        "manifest_invalid_settings_schema",
        "settings",
        '"api_key", "timeout" are not JSON Schema keywords',
        id="settings-not-a-schema",
    ),
    pytest.param(
        base_manifest(settings={"type": "string"}),
        "manifest_invalid_settings_schema",
        "settings",
        'must be a JSON Schema with "type": "object"',
        id="settings-not-an-object-schema",
    ),
    # Regressions: a trailing newline passed Python's "$", dot segments, impossible dependency names.
    pytest.param(base_manifest(name="hello-ext\n"), "manifest_invalid_name", "name", NAME_HINT, id="name-newline"),
    pytest.param(
        base_manifest(version="1.0.0\n"),
        "manifest_invalid_version",
        "version",
        "semantic version",
        id="version-newline",
    ),
    pytest.param(
        api(endpoint("/a\n")), "manifest_invalid_endpoint_path", "api.endpoints[0].path", PATH_HINT, id="path-newline"
    ),
    pytest.param(
        api(endpoint("/a/../b")), "manifest_invalid_endpoint_path", "api.endpoints[0].path", PATH_HINT, id="path-dotdot"
    ),
    pytest.param(
        api(endpoint("/.")), "manifest_invalid_endpoint_path", "api.endpoints[0].path", PATH_HINT, id="path-dot"
    ),
    pytest.param(
        tasks(task(schedule="0 * * * *", timezone="America")),
        "manifest_invalid_timezone",
        "background_tasks[0].timezone",
        "is not an IANA time zone",
        id="timezone-is-a-tzdata-folder",
    ),
    pytest.param(
        extension_dependencies("ab"),
        "manifest_invalid_dependency",
        "dependencies.extensions[0]",
        "3-50 characters, not reserved",
        id="dependency-name-too-short",
    ),
    pytest.param(
        extension_dependencies("system"),
        "manifest_invalid_dependency",
        "dependencies.extensions[0]",
        "not reserved",
        id="dependency-name-reserved",
    ),
]


def test_bad_manifest_table_holds_at_least_45_cases():
    assert len(BAD_MANIFESTS) >= 45


def test_base_manifest_is_valid_and_has_no_warnings():
    manifest = parse_manifest(base_manifest())

    assert manifest.name == "sample-extension"
    assert manifest.warnings == ()


@pytest.mark.parametrize(("document", "code", "field", "fragment"), BAD_MANIFESTS)
def test_bad_manifest_is_rejected_with_code_and_field_of_its_defect(
    document: dict[str, Any], code: str, field: str, fragment: str
):
    error = errors_of(document)

    found = [problem for problem in error.problems if (problem.code, problem.field) == (code, field)]
    assert found, f"expected ({code}, {field}) among {[(p.code, p.field) for p in error.problems]}"
    assert not found[0].is_warning
    assert fragment in found[0].message


def test_every_problem_of_a_manifest_is_reported_at_once():
    document = base_manifest(
        version="one",
        tags="ai",
        entrypoint="handler",
        api={"endpoints": [endpoint("/health")]},
        background_tasks=[task(schedule="60 * * * *")],
    )

    error = errors_of(document)

    assert {(problem.field, problem.code) for problem in error.problems} == {
        ("version", "manifest_invalid_version"),
        ("tags", "manifest_wrong_type"),
        ("entrypoint", "manifest_invalid_entrypoint"),
        ("api.endpoints[0].path", "manifest_reserved_endpoint_path"),
        ("background_tasks[0].schedule", "manifest_invalid_cron"),
    }
    assert str(error).startswith('Extension "sample-extension": extension.json has 5 problems:')


def test_unknown_keys_are_warnings_and_the_manifest_still_parses():
    document = base_manifest(webhooks={"on_push": "/hook"}, api={"endpoints": [endpoint(summery="typo")]})

    manifest = parse_manifest(document)

    assert {(w.field, w.code, w.is_warning) for w in manifest.warnings} == {
        ("webhooks", "manifest_unknown_key", True),
        ("api.endpoints[0].summery", "manifest_unknown_key", True),
    }
    messages = {warning.field: warning.message for warning in manifest.warnings}
    assert messages["webhooks"] == '"webhooks" is not a known key and is ignored'
    assert '(did you mean "summary"?)' in messages["api.endpoints[0].summery"]


def test_unknown_permission_values_are_warnings_and_the_manifest_still_parses():
    document = base_manifest(permissions={"system_access": ["metrics", "microphone"]})

    manifest = parse_manifest(document)

    (warning,) = manifest.warnings
    assert (warning.field, warning.code) == ("permissions.system_access[1]", "manifest_unknown_permission")
    assert warning.message.startswith('"microphone" is not one of: metrics, logs')


def test_strict_turns_unknown_keys_and_permission_values_into_errors():
    document = base_manifest(webhooks=[], permissions={"system_access": ["microphone"]})

    error = errors_of(document, strict=True)

    assert {(problem.field, problem.code) for problem in error.problems} == {
        ("webhooks", "manifest_unknown_key"),
        ("permissions.system_access[0]", "manifest_unknown_permission"),
    }
    assert "webhooks" in str(error)


def test_manifest_error_message_names_the_extension_and_every_field():
    document = base_manifest("weather-report", version="1.0", background_tasks=[task(timezone="Mars/Olympus")])

    error = errors_of(document)

    message = str(error)
    assert error.extension == "weather-report"
    assert message.startswith('Extension "weather-report": extension.json has 2 problems:')
    assert '  - version: "version" must be a semantic version like 1.2.0 (got "1.0")' in message
    assert '  - background_tasks[0].timezone: "Mars/Olympus" is not an IANA time zone' in message


def test_manifest_error_with_one_problem_carries_its_code():
    error = errors_of(base_manifest("system"))

    assert error.code == "manifest_reserved_name"
    assert str(error).startswith('Extension "system": extension.json: name: "system" is reserved')
    assert error.as_dict()["problems"] == [
        {"field": "name", "code": "manifest_reserved_name", "message": error.problems[0].message}
    ]


def test_published_schema_is_a_valid_draft_2020_12_json_schema():
    schema = manifest_schema()

    Draft202012Validator.check_schema(schema)

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema == json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def test_published_schema_accepts_the_base_manifest_and_rejects_a_missing_name():
    validator = Draft202012Validator(manifest_schema())

    assert list(validator.iter_errors(base_manifest())) == []
    assert [error.message for error in validator.iter_errors(without("name"))] == ["'name' is a required property"]


def test_strict_errors_are_not_flagged_as_warnings():
    error = errors_of(base_manifest(webhooks=[]), strict=True)

    assert [(problem.field, problem.is_warning) for problem in error.problems] == [("webhooks", False)]


def test_an_empty_dependency_is_reported_once():
    error = errors_of(extension_dependencies(""))

    assert [problem.field for problem in error.problems] == ["dependencies.extensions[0]"]


@pytest.mark.parametrize(("document", "code", "field", "fragment"), BAD_MANIFESTS)
def test_the_fast_schema_path_never_accepts_what_the_full_validator_rejects(document, code, field, fragment):
    assert not (fast_schema_accepts(document) and full_schema_errors(document))
