"""Events and triggers: emit an event (stored, and every enabled matching trigger's task started); trigger CRUD."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction

from extensions_core.models import Event, EventTrigger, Extension, TaskDefinition
from extensions_core.services.event_records import (  # noqa: F401 - the old names stay importable from here
    EVENT_TYPE_PATTERN,
    MAX_EVENT_DEPTH,
    SYSTEM_EVENTS,
    event_record,
    event_type_check,
    filter_conditions_check,
    task_event_listeners_forget,
    task_events_have_listeners,
)
from extensions_core.services.executions import (  # noqa: F401 - event_emit_for_execution: the old name
    event_emit_for_execution,
    executions_start_for_event,
)

logger = logging.getLogger(__name__)


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
    event, triggers = event_record(
        event_type=event_type,
        event_data=event_data,
        source=source,
        emitted_by=emitted_by,
        user=user,
        caused_by_id=caused_by_id,
    )
    executions_start_for_event(event=event, triggers=triggers)
    return event


def event_emit_system(*, event_type: str, event_data: dict[str, Any], caused_by_id=None) -> Event:
    """Emit one of the platform's own events (SYSTEM_EVENTS), after the current transaction commits."""
    return event_emit(
        event_type=event_type,
        event_data=event_data,
        source=Event.Source.SYSTEM,
        emitted_by="platform",
        caused_by_id=caused_by_id,
    )


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
    task_event_listeners_forget()
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
