"""Task definitions: kept in line with the manifests that declare them."""

from __future__ import annotations

from django.db import transaction

from extensions_core.exceptions import TaskInputError
from extensions_core.manifest import Manifest, TaskSpec
from extensions_core.manifest.checks import task_schedule_problems
from extensions_core.models import Extension, TaskDefinition
from extensions_core.schedules import schedule_sync
from extensions_core.services.events import triggers_sync


def _declared(spec: TaskSpec) -> dict:
    return {
        "function": spec.function,
        "description": spec.description,
        "schedule": spec.schedule or "",
        "interval_seconds": spec.interval_seconds,
        "timezone": spec.timezone or "UTC",
        "timeout_seconds": spec.timeout_seconds,
        "max_retries": spec.max_retries,
        "retry_backoff_seconds": spec.retry_backoff_seconds,
        "is_isolated": spec.is_isolated,
        "misfire_policy": spec.misfire_policy,
        "depends_on": list(spec.depends_on),
        "parameters_schema": spec.parameters,
        "triggers": [{"event": trigger.event, "filter": trigger.filter} for trigger in spec.triggers],
        "is_enabled": spec.is_enabled,
        "is_present": True,
    }


@transaction.atomic
def task_definitions_sync(*, extension: Extension, manifest: Manifest) -> list[TaskDefinition]:
    """Create or update the definitions *manifest* declares; mark the others as no longer present.

    Fields an operator overrode in admin keep the operator's value.
    """
    existing = {row.name: row for row in TaskDefinition.objects.select_for_update().filter(extension=extension)}
    synced = []
    for spec in manifest.tasks:
        values = _declared(spec)
        row = existing.pop(spec.name, None)
        if row is None:
            synced.append(TaskDefinition.objects.create(extension=extension, name=spec.name, **values))
            continue
        changes = {key: value for key, value in values.items() if key not in row.overridden_fields}
        changed = [key for key, value in changes.items() if getattr(row, key) != value]
        for key in changed:
            setattr(row, key, changes[key])
        if changed:
            row.save(update_fields=[*changed, "updated_at"])
        synced.append(row)
    for row in existing.values():
        if row.is_present:
            row.is_present = False
            row.save(update_fields=["is_present", "updated_at"])
    for row in [*synced, *existing.values()]:
        row.extension = extension
        triggers_sync(definition=row)
        schedule_sync(definition=row)
    return synced


@transaction.atomic
def task_definition_override(*, definition: TaskDefinition, changes: dict) -> TaskDefinition:
    """Apply an operator's *changes* (fields of TaskDefinition.OPERATOR_FIELDS), remember them as overrides,
    and update the beat row; a manifest resync keeps them.

    Raise TaskInputError when the schedule does not validate (it never reaches beat).
    """
    unknown = set(changes) - set(TaskDefinition.OPERATOR_FIELDS)
    if unknown:
        raise ValueError(f"not operator fields: {', '.join(sorted(unknown))}")
    if "schedule" in changes:
        changes["schedule"] = " ".join((changes["schedule"] or "").split())
    schedule = changes.get("schedule", definition.schedule)
    interval = changes.get("interval_seconds", definition.interval_seconds)
    if "schedule" in changes and schedule and "interval_seconds" not in changes:
        changes["interval_seconds"] = interval = None  # a new cron replaces the interval
    if "interval_seconds" in changes and interval and "schedule" not in changes:
        changes["schedule"] = schedule = ""  # and a new interval replaces the cron
    problems = task_schedule_problems(
        schedule=schedule or None,
        interval_seconds=interval,
        timezone=changes.get("timezone", definition.timezone),
    )
    if problems:
        raise TaskInputError(
            "; ".join(str(problem) for problem in problems),
            extension=definition.extension.name,
            code=problems[0].code,
            problems=tuple(problems),
        )
    for key, value in changes.items():
        setattr(definition, key, value)
    definition.overridden_fields = sorted(set(definition.overridden_fields) | set(changes))
    definition.save(update_fields=[*changes, "overridden_fields", "updated_at"])
    schedule_sync(definition=definition)
    return definition
