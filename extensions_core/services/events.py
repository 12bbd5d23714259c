"""Events and triggers: store an emitted event, start every enabled matching trigger's task, guard against loops."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from extensions_core.exceptions import ExtensionError, ManifestProblem, TaskInputError
from extensions_core.filters import filter_matches, filter_problems
from extensions_core.models import Event, EventTrigger, Extension, TaskDefinition, TaskExecution
from extensions_core.validation import json_storable_check

logger = logging.getLogger(__name__)

EVENT_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$")
SYSTEM_EVENTS = ("extension.loaded", "extension.unloaded", "extension.failed", "task.completed", "task.failed")
# An event caused by a run that an event started, and so on: past this depth triggers no longer fire.
MAX_EVENT_DEPTH = 8


def event_type_check(event_type: Any, *, field: str = "event_type") -> str:
    """Return *event_type* if it is a dotted lowercase name; else TaskInputError."""
    if not isinstance(event_type, str) or not EVENT_TYPE_PATTERN.match(event_type) or len(event_type) > 100:
        message = "must be a dotted lowercase event name of at most 100 characters, like order.created"
        raise TaskInputError(
            f"{field} {message}",
            code="invalid_event_type",
            problems=(ManifestProblem(field, "invalid_event_type", message),),
        )
    return event_type


def filter_conditions_check(conditions: Any, *, field: str = "filter_conditions") -> dict[str, Any]:
    """Return *conditions* if they are a valid filter; else TaskInputError listing each problem."""
    if conditions is None:
        return {}
    json_storable_check(conditions, field=field)
    problems = tuple(
        ManifestProblem(where, "invalid_filter", message) for where, message in filter_problems(conditions, path=field)
    )
    if problems:
        raise TaskInputError("; ".join(str(problem) for problem in problems), code="invalid_filter", problems=problems)
    return conditions


@transaction.atomic
def event_emit(
    *,
    event_type: str,
    event_data: dict[str, Any] | None = None,
    source: str,
    emitted_by: str = "",
    user=None,
    caused_by_id: str | uuid.UUID | None = None,
) -> Event:
    """Store the event and start the task of every enabled trigger whose filter matches; return the event.

    `event.triggered_tasks` lists each started execution (or why a matching
    trigger could not start). Raise TaskInputError for a bad name or data.
    """
    event_type_check(event_type)
    if event_data is None:
        event_data = {}
    if not isinstance(event_data, dict):
        raise TaskInputError(
            "event_data must be a JSON object",
            code="invalid_event_data",
            problems=(ManifestProblem("event_data", "invalid_event_data", "must be an object"),),
        )
    json_storable_check(event_data, field="event_data")
    depth = _depth_of(caused_by_id)
    event = Event.objects.create(
        id=uuid.uuid4(),
        event_type=event_type,
        event_data=event_data,
        source=source,
        emitted_by=emitted_by[:200],
        user=user,
        caused_by_id=caused_by_id,
        depth=depth,
        created_at=timezone.now(),
    )
    triggers = list(_enabled_triggers(event_type))
    if triggers and depth > MAX_EVENT_DEPTH:
        event.suppressed = (
            f"{len(triggers)} matching trigger(s) not fired: this event is {depth} events deep in a chain of "
            f"runs started by events (limit {MAX_EVENT_DEPTH}); a trigger loop is likely"
        )
        logger.warning("Event %s (%s): %s", event.id, event_type, event.suppressed)
        event.save(update_fields=["suppressed"])
        return event
    event.triggered_tasks = [
        _fire(trigger, event) for trigger in triggers if filter_matches(trigger.filter_conditions, event_data)
    ]
    if event.triggered_tasks:
        event.save(update_fields=["triggered_tasks"])
    return event


def _depth_of(caused_by_id) -> int:
    if caused_by_id is None:
        return 0
    parent_depth = TaskExecution.objects.filter(pk=caused_by_id).values_list("event__depth", flat=True).first()
    return 1 if parent_depth is None else parent_depth + 1


def _enabled_triggers(event_type: str):
    return EventTrigger.objects.select_related("definition__extension").filter(
        event_type=event_type,
        is_enabled=True,
        definition__is_enabled=True,
        definition__is_present=True,
        definition__extension__status=Extension.Status.ACTIVE,
    )


def _fire(trigger: EventTrigger, event: Event) -> dict[str, Any]:
    from extensions_core.services.executions import execution_start

    definition = trigger.definition
    entry: dict[str, Any] = {
        "trigger_id": trigger.pk,
        "extension_name": definition.extension.name,
        "task_name": definition.name,
    }
    try:
        with transaction.atomic():
            execution = execution_start(
                definition=definition,
                trigger_type=TaskExecution.Trigger.EVENT,
                triggered_by=f"event {event.event_type} ({event.id})",
                user=event.user,
                event=event,
            )
    except ExtensionError as error:
        entry.update(execution_id=None, error=error.message)
    else:
        entry.update(execution_id=str(execution.id), status=execution.status)
    return entry


def event_emit_system(*, event_type: str, event_data: dict[str, Any], caused_by_id=None) -> Event:
    """Emit one of the platform's own events (SYSTEM_EVENTS), after the current transaction commits."""
    return event_emit(
        event_type=event_type,
        event_data=event_data,
        source=Event.Source.SYSTEM,
        emitted_by="platform",
        caused_by_id=caused_by_id,
    )


_listeners = {"checked": float("-inf"), "present": True}
LISTENERS_RECHECK_SECONDS = 1.0


def task_events_have_listeners() -> bool:
    """Return whether any enabled trigger listens to task.completed or task.failed (re-read at most once a second).

    Every finished run asks; a trigger created just now is noticed within a second.
    """
    now = time.monotonic()
    if now - _listeners["checked"] >= LISTENERS_RECHECK_SECONDS:
        _listeners["present"] = EventTrigger.objects.filter(
            event_type__in=("task.completed", "task.failed"), is_enabled=True
        ).exists()
        _listeners["checked"] = now
    return _listeners["present"]


def event_emit_for_execution(*, execution: TaskExecution) -> Event | None:
    """Emit task.completed / task.failed for a finished run, stored only when a trigger listens.

    Every run ends this way, so storing an event nobody listens to would double
    the writes of a busy system for no reader.
    """
    if execution.status == TaskExecution.Status.COMPLETED:
        event_type = "task.completed"
    elif execution.status == TaskExecution.Status.FAILED:
        event_type = "task.failed"
    else:
        return None
    if not task_events_have_listeners():
        return None
    data = {
        "execution_id": str(execution.id),
        "extension_name": execution.extension_name,
        "task_name": execution.task_name,
        "status": execution.status,
        "failure_reason": execution.failure_reason,
        "error": execution.error,
        "attempt": execution.attempt,
        "trigger_type": execution.trigger_type,
        "duration_seconds": execution.duration_seconds,
    }
    return event_emit_system(event_type=event_type, event_data=data, caused_by_id=execution.pk)


def extension_event_emit(*, event_type: str, extension: Extension) -> None:
    """Emit extension.loaded / unloaded / failed after the current transaction commits; never fails the caller."""
    data = {
        "extension_name": extension.name,
        "version": extension.version,
        "status": extension.status,
        "error_code": extension.error_code,
        "error_message": extension.error_message,
    }

    def emit() -> None:
        try:
            event_emit_system(event_type=event_type, event_data=data)
        except Exception:  # noqa: BLE001 - an event must never undo or fail a lifecycle change
            logger.exception("Could not emit %s for %s", event_type, extension.name)

    transaction.on_commit(emit)


# --- triggers -------------------------------------------------------------------------------------


def trigger_create(
    *,
    definition: TaskDefinition,
    event_type: str,
    filter_conditions: dict[str, Any] | None = None,
    is_enabled: bool = True,
    source: str = EventTrigger.Source.API,
    created_by: str = "",
) -> EventTrigger:
    """Create a trigger that starts *definition* on *event_type*; TaskInputError for a bad name or filter."""
    _listeners["checked"] = float("-inf")
    return EventTrigger.objects.create(
        definition=definition,
        event_type=event_type_check(event_type),
        filter_conditions=filter_conditions_check(filter_conditions),
        is_enabled=is_enabled,
        source=source,
        created_by=created_by[:200],
    )


def trigger_update(*, trigger: EventTrigger, changes: dict[str, Any]) -> EventTrigger:
    """Change a trigger's event_type, filter_conditions or is_enabled; TaskInputError for bad values."""
    if "event_type" in changes:
        trigger.event_type = event_type_check(changes["event_type"])
    if "filter_conditions" in changes:
        trigger.filter_conditions = filter_conditions_check(changes["filter_conditions"])
    if "is_enabled" in changes:
        trigger.is_enabled = bool(changes["is_enabled"])
    trigger.save()
    return trigger


def trigger_delete(*, trigger: EventTrigger) -> None:
    trigger.delete()


def triggers_sync(*, definition: TaskDefinition) -> None:
    """Keep the manifest's triggers of *definition* as trigger rows; an operator's enabled flag is kept."""
    declared = [(item["event"], item.get("filter") or {}) for item in definition.triggers or ()]
    existing = list(EventTrigger.objects.filter(definition=definition, source=EventTrigger.Source.MANIFEST))
    for row in existing:
        key = (row.event_type, row.filter_conditions)
        if key in declared:
            declared.remove(key)
        else:
            row.delete()
    EventTrigger.objects.bulk_create(
        EventTrigger(
            definition=definition,
            event_type=event_type,
            filter_conditions=conditions,
            source=EventTrigger.Source.MANIFEST,
            created_by="manifest",
        )
        for event_type, conditions in declared
    )
