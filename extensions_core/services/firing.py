"""Firing schedules: each due time of a task definition's schedule starts at most one run, whatever beats are running.

Two guards, either of which is enough: the beat row's `last_run_at` moves
from the due time last fired to the new one with one conditional UPDATE (a
second beat with the same idea changes nothing), and each run's id is derived
from the schedule's name and its due time (a second start of it is refused).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django_celery_beat.models import PeriodicTask

from extensions_core.exceptions import TaskInputError, TaskStateError
from extensions_core.models import TaskDefinition, TaskExecution
from extensions_core.services.executions import execution_start

logger = logging.getLogger(__name__)

# Namespace of the ids of scheduled runs: uuid5(namespace, "karen:{extension}/{task}@{due time}").
FIRE_NAMESPACE = uuid.UUID("5b0e4c8e-0d4f-4f5e-9a53-6a7c2f1e8b11")


def fire_key(schedule_name: str, due: datetime) -> uuid.UUID:
    """Return the id of the one run of *schedule_name* for due time *due*."""
    return uuid.uuid5(FIRE_NAMESPACE, f"{schedule_name}@{due.isoformat()}")


@dataclass(frozen=True, slots=True)
class FireResult:
    """What firing a schedule did: the runs it started, and due times it could not run (already run, or refused)."""

    started: tuple[uuid.UUID, ...] = ()
    not_started: tuple[str, ...] = ()


def schedule_baseline(*, periodic_task_id: int, at: datetime) -> bool:
    """Mark a schedule that never fired as fired up to *at*, so due times from then on count; False if it had fired."""
    return bool(PeriodicTask.objects.filter(pk=periodic_task_id, last_run_at__isnull=True).update(last_run_at=at))


@transaction.atomic
def schedule_fire(
    *,
    periodic_task_id: int,
    schedule_name: str,
    extension_name: str,
    task_name: str,
    previous: datetime,
    fired_up_to: datetime,
    due_times: list[datetime],
    described: str,
) -> FireResult | None:
    """Move the schedule from *previous* to *fired_up_to* and start one run per due time in *due_times*.

    Return None (and start nothing) when the schedule is no longer at
    *previous*: another beat fired it, or an operator changed it.
    """
    moved = PeriodicTask.objects.filter(pk=periodic_task_id, last_run_at=previous).update(
        last_run_at=fired_up_to, total_run_count=F("total_run_count") + len(due_times)
    )
    if not moved:
        return None
    definition = (
        TaskDefinition.objects.select_related("extension")
        .filter(extension__name=extension_name, name=task_name)
        .first()
    )
    started, not_started = [], []
    for due in due_times:
        execution_id = fire_key(schedule_name, due)
        stamp = due.strftime("%Y-%m-%d %H:%M:%S UTC")
        if definition is None:
            not_started.append(f"{stamp}: the task is no longer defined")
            continue
        if TaskExecution.objects.filter(pk=execution_id).exists():
            not_started.append(f"{stamp}: already started")
            continue
        try:
            execution_start(
                definition=definition,
                trigger_type=TaskExecution.Trigger.SCHEDULE,
                triggered_by=f"schedule {described}, due {stamp}",
                execution_id=execution_id,
            )
        except (TaskStateError, TaskInputError) as error:
            not_started.append(f"{stamp}: {error.message}")
        except IntegrityError:
            not_started.append(f"{stamp}: already started")
        else:
            started.append(execution_id)
    for reason in not_started:
        logger.warning("Scheduled run of %s not started for %s", schedule_name, reason)
    return FireResult(started=tuple(started), not_started=tuple(not_started))
