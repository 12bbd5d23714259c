"""Beat: task definitions' schedules as django-celery-beat rows, and the scheduler that runs them and says it is alive.

A scheduled definition owns one PeriodicTask named "karen:{extension}/{task}".
The definition is the source of truth (an operator edits the schedule there,
or on the beat row, which writes back to the definition); the row follows it.
"""

from __future__ import annotations

import json
import logging
import time

from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from extensions_core.database import CONNECTION_ERRORS, connection_close, connection_refresh
from extensions_core.manifest.checks import task_schedule_problems
from extensions_core.models import Extension, TaskDefinition
from extensions_core.workers import Heartbeat

logger = logging.getLogger(__name__)
MAX_OUTAGE_WAIT_SECONDS = 5.0


class PlatformScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler that also records a beat heartbeat every few seconds."""

    def setup_schedule(self) -> None:
        super().setup_schedule()
        self._heartbeat = Heartbeat("beat")
        self._last_beat = 0.0
        self._outage_wait = 0.0

    def tick(self, *args, **kwargs):
        from extensions_core.services.heartbeats import HEARTBEAT_SECONDS

        try:
            now = time.monotonic()
            if now - self._last_beat >= HEARTBEAT_SECONDS:
                self._last_beat = now
                self._heartbeat.beat_and_reap()
            connection_refresh()
            # Wake at least once per heartbeat period, whatever the next due task.
            wait = min(super().tick(*args, **kwargs), HEARTBEAT_SECONDS)
        except CONNECTION_ERRORS as error:
            # Beat never exits for a database outage: it says so, waits, and tries again on a new connection.
            self._outage_wait = min(max(self._outage_wait * 2, 0.5), MAX_OUTAGE_WAIT_SECONDS)
            logger.warning("Beat cannot reach the database (%s); trying again in %g s", error, self._outage_wait)
            connection_close()
            return self._outage_wait
        self._outage_wait = 0.0
        return wait

    def close(self) -> None:
        self._heartbeat.stop()
        super().close()


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
