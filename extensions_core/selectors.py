"""Read queries, already narrowed to what the given user may see."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import QuerySet

from extensions_core.exceptions import (
    ExecutionNotFoundError,
    ExtensionNotFoundError,
    TaskNotFoundError,
    TriggerNotFoundError,
)
from extensions_core.models import Event, EventTrigger, Extension, TaskDefinition, TaskExecution
from extensions_core.permissions import (
    can_view_extension,
    can_view_task,
    is_superuser,
    visible_extension_ids,
    visible_task_ids,
)


def extension_list_for_user(user, *, status: str | None = None, category: str | None = None) -> QuerySet[Extension]:
    """Return the extensions *user* may see, optionally of one status and category."""
    rows = Extension.objects.all()
    visible = visible_extension_ids(user)
    if visible is not None:
        rows = rows.filter(pk__in=visible)
    if status:
        rows = rows.filter(status=status)
    if category:
        rows = rows.filter(category=category)
    return rows.order_by("name")


def extension_get_for_user(user, name: str) -> Extension:
    """Return extension *name* if *user* may see it.

    Raise ExtensionNotFoundError when it does not exist or is invisible to the
    user: the two are indistinguishable to the caller.
    """
    extension = Extension.objects.filter(name=name).first()
    if extension is None or not can_view_extension(user, extension):
        raise ExtensionNotFoundError(name)
    return extension


def task_definition_list_for_user(user, *, extension: str | None = None) -> QuerySet[TaskDefinition]:
    """Return the task definitions *user* may see, still declared by their manifests."""
    rows = TaskDefinition.objects.select_related("extension").filter(is_present=True)
    visible = visible_task_ids(user)
    if visible is not None:
        rows = rows.filter(pk__in=visible)
    if extension:
        rows = rows.filter(extension__name=extension)
    return rows.order_by("extension__name", "name")


def task_definition_get_for_user(user, extension: str, name: str) -> TaskDefinition:
    """Return the definition *extension*/*name* if *user* may see it; else TaskNotFoundError (missing or invisible)."""
    definition = (
        TaskDefinition.objects.select_related("extension")
        .filter(extension__name=extension, name=name, is_present=True)
        .first()
    )
    if definition is None or not can_view_task(user, definition):
        raise TaskNotFoundError(extension, name)
    return definition


def execution_list_for_user(
    user,
    *,
    extension: str | None = None,
    task: str | None = None,
    status: str | None = None,
    trigger: str | None = None,
    failure_reason: str | None = None,
    since=None,
    until=None,
    active_only: bool = False,
) -> QuerySet[TaskExecution]:
    """Return the executions of task definitions *user* may see, newest first, filtered."""
    rows = TaskExecution.objects.all()
    visible = visible_task_ids(user)
    if visible is not None:
        rows = rows.filter(definition_id__in=visible)
    if extension:
        rows = rows.filter(extension_name=extension)
    if task:
        rows = rows.filter(task_name=task)
    if active_only:
        rows = rows.filter(status__in=TaskExecution.ACTIVE_STATUSES)
    elif status:
        rows = rows.filter(status=status)
    if trigger:
        rows = rows.filter(trigger_type=trigger)
    if failure_reason:
        rows = rows.filter(failure_reason=failure_reason)
    if since:
        rows = rows.filter(queued_at__gte=since)
    if until:
        rows = rows.filter(queued_at__lt=until)
    return rows.order_by("-queued_at", "-id")


def execution_get_for_user(user, execution_id, *, with_log: bool = True) -> TaskExecution:
    """Return execution *execution_id* if *user* may see its task; else ExecutionNotFoundError (missing or invisible).

    Runs of a definition that no longer exists are visible to superusers only.
    Without *with_log*, the log (possibly thousands of lines) is not read.
    """
    rows = TaskExecution.objects.select_related("definition__extension")
    if not with_log:
        rows = rows.defer("log")
    try:
        execution = rows.filter(pk=execution_id).first()
    except (ValueError, ValidationError):
        execution = None
    if execution is None:
        raise ExecutionNotFoundError(str(execution_id))
    visible = can_view_task(user, execution.definition) if execution.definition else is_superuser(user)
    if not visible:
        raise ExecutionNotFoundError(str(execution_id))
    return execution


def execution_log_after(execution_id, after: int) -> tuple[int, list]:
    """Return (number of log lines, the lines after the first *after*) of an execution, sliced by the database.

    A run's page polls this every second while it runs: only the new lines leave the database.
    """
    table = TaskExecution._meta.db_table
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT jsonb_array_length(log), COALESCE((SELECT jsonb_agg(line ORDER BY position) "
            f"FROM jsonb_array_elements(log) WITH ORDINALITY AS lines(line, position) WHERE position > %s), "
            f"'[]'::jsonb) FROM {table} WHERE id = %s"
        )
    elif connection.vendor == "sqlite":
        sql = (
            f"SELECT json_array_length(log), (SELECT json_group_array(json(value)) FROM "
            f"(SELECT value FROM json_each(log) WHERE key >= %s ORDER BY key)) FROM {table} WHERE id = %s"
        )
    else:
        log = TaskExecution.objects.filter(pk=execution_id).values_list("log", flat=True).first() or []
        return len(log), log[after:]
    with connection.cursor() as cursor:
        cursor.execute(sql, [after, TaskExecution._meta.pk.get_db_prep_value(execution_id, connection)])
        row = cursor.fetchone()
    if row is None:
        return 0, []
    count, lines = row
    return count or 0, json.loads(lines) if isinstance(lines, str) else (lines or [])


def trigger_list_for_user(user, *, event_type: str | None = None) -> QuerySet[EventTrigger]:
    """Return the triggers of task definitions *user* may see."""
    rows = EventTrigger.objects.select_related("definition__extension").filter(definition__is_present=True)
    visible = visible_task_ids(user)
    if visible is not None:
        rows = rows.filter(definition_id__in=visible)
    if event_type:
        rows = rows.filter(event_type=event_type)
    return rows.order_by("event_type", "id")


def trigger_get_for_user(user, trigger_id) -> EventTrigger:
    """Return trigger *trigger_id* if *user* may see its task; else TriggerNotFoundError."""
    trigger = EventTrigger.objects.select_related("definition__extension").filter(pk=trigger_id).first()
    if trigger is None or not can_view_task(user, trigger.definition):
        raise TriggerNotFoundError(trigger_id)
    return trigger


def event_list_for_user(user, *, event_type: str | None = None, since=None, until=None) -> QuerySet[Event]:
    """Return the event history, newest first (every event: viewing it needs view_event)."""
    rows = Event.objects.all()
    if event_type:
        rows = rows.filter(event_type=event_type)
    if since:
        rows = rows.filter(created_at__gte=since)
    if until:
        rows = rows.filter(created_at__lt=until)
    return rows.order_by("-created_at", "-id")


def task_names_visible_to(user) -> set[tuple[str, str]] | None:
    """Return the (extension, task) names of the task definitions *user* may see; None when it may see all."""
    visible = visible_task_ids(user)
    if visible is None:
        return None
    return set(TaskDefinition.objects.filter(pk__in=visible).values_list("extension__name", "name"))
