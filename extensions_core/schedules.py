"""Task definitions' schedules as django-celery-beat rows (the beat process that fires them is `beat.py`).

A scheduled definition owns one PeriodicTask named "karen:{extension}/{task}".
The definition is the source of truth (an operator edits the schedule there,
or on the beat row, which writes back to the definition); the row follows it.
"""

from __future__ import annotations

import json
import logging

from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from extensions_core.manifest.checks import task_schedule_problems
from extensions_core.models import Extension, TaskDefinition

logger = logging.getLogger(__name__)


# --- beat rows of task definitions ----------------------------------------------------------------

PERIODIC_TASK_PREFIX = "karen:"
SCHEDULED_RUN_TASK_NAME = "extensions_core.execution_schedule"


def periodic_task_name(extension_name: str, task_name: str) -> str:
    return f"{PERIODIC_TASK_PREFIX}{extension_name}/{task_name}"


def schedule_sync(*, definition: TaskDefinition) -> PeriodicTask | None:
    """Make the beat row of *definition* match it: created, changed, enabled or disabled; None if unscheduled.

    The row runs only while the task is declared and enabled and its extension
    is active; otherwise it stays (history kept) but disabled. A schedule that
    does not validate never reaches beat: the row is disabled and the problem logged.
    """
    name = periodic_task_name(definition.extension.name, definition.name)
    row = PeriodicTask.objects.filter(name=name).first()
    if not (definition.schedule or definition.interval_seconds):
        if row is not None:
            row.delete()
        return None
    problems = task_schedule_problems(
        schedule=definition.schedule or None,
        interval_seconds=definition.interval_seconds,
        timezone=definition.timezone,
    )
    extension = definition.extension
    is_runnable = (
        not problems
        and definition.is_present
        and definition.is_enabled
        and extension.is_enabled
        and extension.status == Extension.Status.ACTIVE
    )
    if problems:
        logger.error("Task %s is not scheduled: %s", definition, "; ".join(map(str, problems)))
        if row is None:
            return None
        wanted = {"enabled": False}
    else:
        wanted = {
            "task": SCHEDULED_RUN_TASK_NAME,
            "kwargs": json.dumps({"extension": extension.name, "task": definition.name}),
            "crontab": _crontab_of(definition) if definition.schedule else None,
            "interval": _interval_of(definition) if not definition.schedule else None,
            "enabled": is_runnable,
            "description": f"{definition.description} (from {extension.name}'s manifest; edit the task definition)"[
                :200
            ],
        }
    if row is None:
        return PeriodicTask.objects.create(name=name, **wanted)
    changed = [key for key, value in wanted.items() if getattr(row, key) != value]
    if changed:
        for key in changed:
            setattr(row, key, wanted[key])
        row.save()  # the save tells beat (PeriodicTasks.changed) to reload its schedule
    return row


def _crontab_of(definition: TaskDefinition) -> CrontabSchedule:
    minute, hour, day_of_month, month_of_year, day_of_week = definition.schedule.split()
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=definition.timezone or "UTC",
    )
    return schedule


def _interval_of(definition: TaskDefinition) -> IntervalSchedule:
    schedule, _ = IntervalSchedule.objects.get_or_create(
        every=definition.interval_seconds, period=IntervalSchedule.SECONDS
    )
    return schedule


def schedules_sync(*, extension: Extension) -> None:
    """Bring the beat rows of every task of *extension* in line with the definitions and its state."""
    for definition in TaskDefinition.objects.select_related("extension").filter(extension=extension):
        schedule_sync(definition=definition)


def __getattr__(name: str):
    # The scheduler moved to beat.py; "extensions_core.schedules:PlatformScheduler" keeps working for deployments
    # that name it in CELERY_BEAT_SCHEDULER (loaded lazily: beat.py imports this module).
    if name == "PlatformScheduler":
        from extensions_core.beat import PlatformScheduler

        return PlatformScheduler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
