"""Events as records: a name and its data checked, the event stored, the triggers it fires found.

Low in the layers so that both sides of "a run ends, its event starts runs"
can use it without importing each other: `services.executions` stores the
task.* events of runs here and starts their triggers' tasks itself, and
`services.events.event_emit` (everyone else's events) stores here and starts
them through `services.executions`.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from django.utils import timezone

from extensions_core.exceptions import ManifestProblem, TaskInputError
from extensions_core.filters import filter_matches, filter_problems
from extensions_core.models import Event, EventTrigger, Extension, TaskExecution
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


def event_record(
    *,
    event_type: str,
    event_data: dict[str, Any] | None,
    source: str,
    emitted_by: str = "",
    user=None,
    caused_by_id: str | uuid.UUID | None = None,
) -> tuple[Event, list[EventTrigger]]:
    """Store the event; return it and the enabled triggers whose filter matches it (none past MAX_EVENT_DEPTH).

    Raise TaskInputError for a bad name or data.
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
        return event, []
    return event, [trigger for trigger in triggers if filter_matches(trigger.filter_conditions, event_data)]


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


def task_event_listeners_forget() -> None:
    """Make the next task_events_have_listeners() read the triggers again (one was just created or changed)."""
    _listeners["checked"] = float("-inf")
