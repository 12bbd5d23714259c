"""Semantic checks of a manifest: what the JSON Schema cannot say.

Reserved names and paths, version ranges, cron fields, duplicates, task
dependency cycles, time zones, embedded JSON Schemas and event filters. Each
check reads only values of the right type, so schema errors are not repeated.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from celery.schedules import crontab
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from extensions_core.dependencies import find_cycle
from extensions_core.exceptions import ManifestProblem
from extensions_core.filters import filter_problems
from extensions_core.manifest.model import parse_dependency
from extensions_core.validation import remote_reference_problems

# Segments of /api/extensions/ that belong to the platform (DESIGN.md §4).
RESERVED_NAMES = frozenset({"system", "background-tasks", "discover"})
# Sub-paths of /api/extensions/{name}/ served by the platform for every extension.
RESERVED_ENDPOINT_PATHS = frozenset(
    {"/health", "/config", "/schema", "/load", "/unload", "/reload", "/enable", "/disable"}
)
PAGE_PATH = re.compile(r"(/[a-z0-9][a-z0-9_-]*)+")
# First segments of /admin/extensions/{name}/... that the platform serves itself.
RESERVED_PAGE_SEGMENTS = frozenset({"widgets"})
ENDPOINT_PATH = re.compile(r"(/((?!\.{1,2}(?:/|$))[A-Za-z0-9._~-]+|\{[A-Za-z_][A-Za-z0-9_]*\}))+")
PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
SCHEDULE_SHAPE = re.compile(r"^\s*\S+\s+\S+\s+\S+\s+\S+\s+\S+\s*$")
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
CRON_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
# django-celery-beat's CrontabSchedule column widths: longer fields never reach beat.
CRON_FIELD_MAX_LENGTH = {
    "minute": 240,
    "hour": 96,
    "day_of_month": 124,
    "month_of_year": 64,
    "day_of_week": 64,
}
SCHEMA_KEYWORDS = frozenset(
    set(Draft202012Validator.META_SCHEMA.get("properties", {}))
    | {
        "$schema",
        "$id",
        "$ref",
        "$defs",
        "$comment",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$vocabulary",
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "prefixItems",
        "enum",
        "const",
        "default",
        "description",
        "title",
        "examples",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minItems",
        "maxItems",
        "uniqueItems",
        "contains",
        "minContains",
        "maxContains",
        "minProperties",
        "maxProperties",
        "patternProperties",
        "propertyNames",
        "dependentRequired",
        "dependentSchemas",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
        "unevaluatedItems",
        "unevaluatedProperties",
        "readOnly",
        "writeOnly",
        "deprecated",
        "contentMediaType",
        "contentEncoding",
        "contentSchema",
        "definitions",
    }
)


def semantic_problems(document: dict[str, Any]) -> list[ManifestProblem]:
    """Return every semantic problem of a manifest document (an object)."""
    problems: list[ManifestProblem] = []
    problems += _name_problems(document)
    problems += _karen_version_problems(document)
    problems += _dependency_problems(document)
    problems += _api_problems(document)
    problems += _task_problems(document)
    problems += _ui_problems(document)
    settings = document.get("settings")
    if isinstance(settings, dict):
        problems += embedded_schema_problems(
            settings, "settings", "manifest_invalid_settings_schema", "the configuration"
        )
    return problems


def _name_problems(document: dict[str, Any]) -> Iterator[ManifestProblem]:
    name = document.get("name")
    if isinstance(name, str) and name in RESERVED_NAMES:
        reserved = ", ".join(sorted(RESERVED_NAMES))
        yield ManifestProblem(
            "name",
            "manifest_reserved_name",
            f'"{name}" is reserved by the platform\'s API ({reserved}); choose another name',
        )


def _karen_version_problems(document: dict[str, Any]) -> Iterator[ManifestProblem]:
    value = document.get("karen_version")
    if isinstance(value, str):
        try:
            SpecifierSet(value)
        except InvalidSpecifier:
            yield ManifestProblem(
                "karen_version",
                "manifest_invalid_version_range",
                f'"karen_version" must be a PEP 440 range like ">=0.1,<1" (got "{value}")',
            )


def _dependency_problems(document: dict[str, Any]) -> Iterator[ManifestProblem]:
    dependencies = document.get("dependencies")
    if not isinstance(dependencies, dict) or not isinstance(dependencies.get("extensions"), list):
        return
    seen: set[str] = set()
    for index, item in enumerate(dependencies["extensions"]):
        field = f"dependencies.extensions[{index}]"
        if not isinstance(item, str) or not item.strip():
            continue
        try:
            dependency = parse_dependency(item)
            if not 3 <= len(dependency.name) <= 50 or dependency.name in RESERVED_NAMES:
                raise ValueError(dependency.name)
        except (ValueError, InvalidSpecifier):
            yield ManifestProblem(
                field,
                "manifest_invalid_dependency",
                f'"{item}" must be an extension name (3-50 characters, not reserved) with an optional '
                'PEP 440 range, like "other-ext" or "other-ext>=1.2,<2"',
            )
            continue
        if dependency.name == document.get("name"):
            yield ManifestProblem(field, "manifest_dependency_cycle", "an extension cannot depend on itself")
        elif dependency.name in seen:
            yield ManifestProblem(
                field,
                "manifest_duplicate_dependency",
                f'"{dependency.name}" is listed twice; merge the ranges into one entry',
            )
        seen.add(dependency.name)


def _api_problems(document: dict[str, Any]) -> Iterator[ManifestProblem]:
    api = document.get("api")
    if not isinstance(api, dict):
        return
    prefix, name = api.get("prefix"), document.get("name")
    if isinstance(prefix, str) and isinstance(name, str) and prefix.rstrip("/") != (f"/api/extensions/{name}"):
        yield ManifestProblem(
            "api.prefix",
            "manifest_prefix_ignored",
            f'routes are always mounted at /api/extensions/{name}/; "{prefix}" is ignored',
            is_warning=True,
        )
    endpoints = api.get("endpoints")
    if isinstance(endpoints, list):
        yield from _endpoint_problems(endpoints)


def _endpoint_problems(endpoints: list[Any]) -> Iterator[ManifestProblem]:
    claimed: dict[tuple[str, str], int] = {}
    for index, endpoint in enumerate(endpoints):
        if not isinstance(endpoint, dict):
            continue
        field = f"api.endpoints[{index}]"
        path = endpoint.get("path")
        if not isinstance(path, str) or not ENDPOINT_PATH.fullmatch(path):
            continue
        if path in RESERVED_ENDPOINT_PATHS:
            reserved = ", ".join(sorted(RESERVED_ENDPOINT_PATHS))
            yield ManifestProblem(
                f"{field}.path",
                "manifest_reserved_endpoint_path",
                f'"{path}" is served by the platform for every extension ({reserved}); choose another path',
            )
        parameters = PARAMETER.findall(path)
        if len(parameters) != len(set(parameters)):
            yield ManifestProblem(
                f"{field}.path",
                "manifest_invalid_endpoint_path",
                f'"{path}" uses the same {{parameter}} twice; give each a distinct name',
            )
        if endpoint.get("public") is True and endpoint.get("permissions"):
            yield ManifestProblem(
                f"{field}.public",
                "manifest_conflicting_access",
                "a public endpoint admits anonymous callers, so its permissions would never "
                "apply; remove public or remove permissions",
            )
        shape = PARAMETER.sub("{}", path)
        methods = endpoint.get("methods")
        for method in methods if isinstance(methods, list) else ():
            if not isinstance(method, str):
                continue
            first = claimed.setdefault((shape, method), index)
            if first != index:
                yield ManifestProblem(
                    f"{field}.path",
                    "manifest_duplicate_endpoint",
                    f"{method} {path} is already declared by api.endpoints[{first}]",
                )


def _ui_problems(document: dict[str, Any]) -> Iterator[ManifestProblem]:
    """Pages: one per path, none on a path the platform serves; widgets: one per name."""
    ui = document.get("ui")
    if not isinstance(ui, dict):
        return
    claimed: dict[str, str] = {}
    for key in ("control_room_pages", "admin_pages"):
        items = ui.get(key)
        for index, page in enumerate(items if isinstance(items, list) else ()):
            path = page.get("path") if isinstance(page, dict) else None
            if not isinstance(path, str) or not PAGE_PATH.fullmatch(path):
                continue
            field = f"ui.{key}[{index}].path"
            if path.split("/")[1] in RESERVED_PAGE_SEGMENTS:
                reserved = ", ".join(f"/{segment}" for segment in sorted(RESERVED_PAGE_SEGMENTS))
                yield ManifestProblem(
                    field,
                    "manifest_reserved_page_path",
                    f'"{path}" is served by the platform for every extension ({reserved} and below); '
                    "choose another path",
                )
            first = claimed.setdefault(path, field)
            if first != field:
                yield ManifestProblem(
                    field, "manifest_duplicate_page", f'page path "{path}" is already declared by {first}'
                )
    widgets = ui.get("dashboard_widgets")
    names: dict[str, int] = {}
    for index, widget in enumerate(widgets if isinstance(widgets, list) else ()):
        name = widget.get("name") if isinstance(widget, dict) else None
        if isinstance(name, str) and names.setdefault(name, index) != index:
            yield ManifestProblem(
                f"ui.dashboard_widgets[{index}].name",
                "manifest_duplicate_widget",
                f'widget "{name}" is already declared by ui.dashboard_widgets[{names[name]}]',
            )


def _task_problems(document: dict[str, Any]) -> Iterator[ManifestProblem]:
    tasks = document.get("background_tasks")
    if not isinstance(tasks, list):
        return
    names: dict[str, int] = {}
    graph: dict[str, list[str]] = {}
    for index, task in enumerate(tasks):
        if not isinstance(task, dict):
            continue
        field = f"background_tasks[{index}]"
        name = task.get("name")
        if isinstance(name, str):
            if name in names:
                yield ManifestProblem(
                    f"{field}.name",
                    "manifest_duplicate_task",
                    f'"{name}" is already the name of background_tasks[{names[name]}]',
                )
            else:
                names[name] = index
                depends_on = task.get("depends_on")
                graph[name] = [d for d in depends_on if isinstance(d, str)] if isinstance(depends_on, list) else []
        yield from _schedule_problems(task, field)
        yield from _task_schema_and_trigger_problems(task, field)
    yield from _task_dependency_problems(tasks, names, graph)


def _schedule_problems(task: dict[str, Any], field: str) -> Iterator[ManifestProblem]:
    schedule = task.get("schedule")
    if isinstance(schedule, str) and SCHEDULE_SHAPE.match(schedule):
        yield from cron_problems(schedule, f"{field}.schedule")
    if task.get("schedule") is not None and task.get("interval_seconds") is not None:
        yield ManifestProblem(
            f"{field}.interval_seconds",
            "manifest_conflicting_schedule",
            "a task runs on a cron schedule or every interval_seconds, not both; remove one",
        )
    zone = task.get("timezone")
    if isinstance(zone, str) and not _is_time_zone(zone):
        yield ManifestProblem(
            f"{field}.timezone",
            "manifest_invalid_timezone",
            f'"{zone}" is not an IANA time zone; use a name like "UTC" or "Europe/Paris"',
        )


def cron_problems(expression: str, field: str) -> Iterator[ManifestProblem]:
    """Return a problem for each of the five cron fields that beat would not accept."""
    for key, label, value in zip(CRON_FIELDS, CRON_FIELD_NAMES, expression.split(), strict=True):
        reason = _cron_field_reason(key, value)
        if reason:
            yield ManifestProblem(
                field,
                "manifest_invalid_cron",
                f'the {label} field "{value}" of "{expression}" is not valid ({reason}); '
                'a cron expression is "minute hour day-of-month month day-of-week", '
                'like "*/5 * * * *"',
            )


@lru_cache(maxsize=1024)
def _cron_field_reason(key: str, value: str) -> str | None:
    if len(value) > CRON_FIELD_MAX_LENGTH[key]:
        return f"is longer than {CRON_FIELD_MAX_LENGTH[key]} characters"
    try:
        crontab(**{key: value})
    except Exception as error:  # noqa: BLE001 - Celery's parser raises its own ParseException, among others
        reason = str(error) or "is not valid"
        return reason + "; Sunday is 0" if key == "day_of_week" and "7" in value else reason
    return None


def _is_time_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _task_schema_and_trigger_problems(task: dict[str, Any], field: str) -> Iterator[ManifestProblem]:
    parameters = task.get("parameters")
    if isinstance(parameters, dict):
        yield from embedded_schema_problems(
            parameters,
            f"{field}.parameters",
            "manifest_invalid_parameters_schema",
            "the task's parameters",
        )
    triggers = task.get("triggers")
    for index, trigger in enumerate(triggers if isinstance(triggers, list) else ()):
        conditions = trigger.get("filter") if isinstance(trigger, dict) else None
        if isinstance(conditions, dict):
            where = f"{field}.triggers[{index}].filter"
            for problem_field, message in filter_problems(conditions, path=where):
                yield ManifestProblem(problem_field, "manifest_invalid_filter", message)


def _task_dependency_problems(
    tasks: list[Any], names: dict[str, int], graph: dict[str, list[str]]
) -> Iterator[ManifestProblem]:
    for name, depends_on in graph.items():
        field = f"background_tasks[{names[name]}].depends_on"
        for dependency in depends_on:
            if dependency == name:
                yield ManifestProblem(field, "manifest_dependency_cycle", f'"{name}" cannot depend on itself')
            elif dependency not in graph:
                yield ManifestProblem(
                    field,
                    "manifest_unknown_task_dependency",
                    f'"{dependency}" is not a task of this extension (tasks: {", ".join(sorted(graph)) or "none"})',
                )
    cycle = find_cycle({name: [d for d in deps if d != name and d in graph] for name, deps in graph.items()})
    if cycle:
        yield ManifestProblem(
            f"background_tasks[{names[cycle[0]]}].depends_on",
            "manifest_dependency_cycle",
            "tasks depend on each other in a cycle: " + " -> ".join(cycle),
        )


def embedded_schema_problems(schema: dict[str, Any], field: str, code: str, subject: str) -> list[ManifestProblem]:
    """Check that *schema* is a JSON Schema of an object; *subject* names what it describes."""
    strangers = sorted(key for key in schema if key not in SCHEMA_KEYWORDS)
    if strangers:
        listed = ", ".join(f'"{key}"' for key in strangers[:6]) + (", ..." if len(strangers) > 6 else "")
        return [
            ManifestProblem(
                field,
                code,
                f'"{field}" must be a JSON Schema describing {subject}, but {listed} '
                f"{'is not a' if len(strangers) == 1 else 'are not'} JSON Schema keyword"
                f"{'' if len(strangers) == 1 else 's'}; write it as "
                '{"type": "object", "properties": {"key": {"type": "string", "default": "..."}}}',
            )
        ]
    if schema.get("type") != "object":
        return [
            ManifestProblem(
                field,
                code,
                f'"{field}" must be a JSON Schema with "type": "object" describing {subject}',
            )
        ]
    remote = remote_reference_problems(schema, field=field, code=code)
    if remote:
        return remote
    failure = _schema_failure(json.dumps(schema, sort_keys=True))
    if failure:
        where, message = failure
        return [
            ManifestProblem(
                f"{field}.{where}" if where else field, code, f'"{field}" is not a valid JSON Schema: {message}'
            )
        ]
    return []


@lru_cache(maxsize=512)
def _schema_failure(dumped: str) -> tuple[str, str] | None:
    """Return (path, message) of the meta-schema error of a JSON-encoded schema, or None."""
    try:
        Draft202012Validator.check_schema(json.loads(dumped))
    except SchemaError as error:
        return ".".join(str(part) for part in error.absolute_path), error.message
    return None


def task_schedule_problems(
    *, schedule: str | None, interval_seconds: int | None, timezone: str | None, field: str = "task"
) -> list[ManifestProblem]:
    """Return what is wrong with a schedule an operator typed (same rules as the manifest's)."""
    problems = []
    if schedule and not SCHEDULE_SHAPE.match(schedule):
        problems.append(
            ManifestProblem(
                f"{field}.schedule",
                "manifest_invalid_cron",
                f'"{schedule}" is not a 5-field cron expression, '
                'like "*/5 * * * *" (minute hour day-of-month month day-of-week)',
            )
        )
    if interval_seconds is not None and not 1 <= interval_seconds <= 31536000:
        problems.append(
            ManifestProblem(
                f"{field}.interval_seconds", "manifest_invalid_interval", "must be from 1 to 31536000 seconds"
            )
        )
    task = {"schedule": schedule or None, "interval_seconds": interval_seconds, "timezone": timezone}
    problems += list(_schedule_problems({key: value for key, value in task.items() if value is not None}, field))
    return problems
