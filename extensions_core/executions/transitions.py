"""Every status change of a run: each one an INSERT or a conditional UPDATE keyed on the row's current status.

    queue           (new)     -> pending        a run, or a retry of one
    claim           pending   -> running        once: a second delivery of the message finds it taken
    heartbeat       running   -> running        alive, and its log so far
    request_cancel  running   -> running        asks it to stop (cancel_requested_at)
    finish          running   -> completed | failed | cancelled
    end_pending     pending   -> failed | cancelled
    mark_unsent / mark_resent / wait_for_dependencies / release   (pending stays pending: how its message went)

A redelivered message, a cancel racing completion or two reapers at once all
leave exactly one final state, because each change names the status it
starts from. The hot path (queue, claim, finish) is hand-written SQL built from the
status values: through the ORM it cost more than the round trip. No other
module spells a status; they use `states`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from extensions_core.executions.states import Status
from extensions_core.models import TaskDefinition, TaskExecution

_TABLE = TaskExecution._meta.db_table
_FIELDS = TaskExecution._meta.concrete_fields
# A claim returns the whole row as it now stands, so the run is the row (no second read, no field left at its
# model default) and is built the way a query builds one (positional, converted as the ORM converts).
_CLAIM_SQL = (
    f"UPDATE {_TABLE} SET status = '{Status.RUNNING.value}', started_at = %s, heartbeat_at = %s, worker = %s, "
    "dispatch_error = '' "
    f"WHERE id = %s AND ((status = '{Status.PENDING.value}' AND NOT is_waiting_for_dependencies "
    "AND cancel_requested_at IS NULL) "
    f"OR (status = '{Status.RUNNING.value}' AND worker = %s AND started_at = %s)) "
    f"RETURNING {', '.join(field.column for field in _FIELDS)}"
)
_INSERT_SQL = (
    f"INSERT INTO {_TABLE} ({', '.join(field.column for field in _FIELDS)}) VALUES ({', '.join(['%s'] * len(_FIELDS))})"
)
# Per database vendor: for each column of the row, the ORM's converters of its value.
_CONVERTERS: dict[str, list[tuple[int, list, Any]]] = {}
# Per set of columns a finish writes: its SQL and the fields that prepare its values.
_FINISH: dict[tuple[str, ...], tuple[str, list]] = {}


def _row_converters() -> list[tuple[int, list, Any]]:
    converters = _CONVERTERS.get(connection.vendor)
    if converters is None:
        converters = []
        for index, field in enumerate(_FIELDS):
            column = field.get_col(_TABLE)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if found:
                converters.append((index, found, column))
        _CONVERTERS[connection.vendor] = converters
    return converters


def queue(definition: TaskDefinition, *, dispatched: bool = True, **values: Any) -> TaskExecution:
    """Insert a pending run of *definition* (its limits copied from it); *values* name the rest.

    *dispatched*: its message goes out after commit (the row says so up front:
    no second write on the hot path); False for a run that waits for others.
    """
    now = timezone.now()
    values.setdefault("attempt", 1)
    values.setdefault("max_attempts", definition.max_retries + 1)
    execution = TaskExecution(
        definition=definition,
        extension_name=definition.extension.name,
        task_name=definition.name,
        status=Status.PENDING,
        is_isolated=definition.is_isolated,
        timeout_seconds=definition.timeout_seconds,
        queued_at=now,
        dispatched_at=now if dispatched else None,
        dispatch_count=1 if dispatched else 0,
        **values,
    )
    # Written as save() would write it (every column, each value prepared by its field), without the ORM's
    # statement building: every start pays this, and the model has no save signals or auto fields to honour.
    parameters = [field.get_db_prep_save(getattr(execution, field.attname), connection) for field in _FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, parameters)
    execution._state.adding = False
    execution._state.db = connection.alias
    return execution


def claim(*, execution_id: str, worker: str, now: datetime | None = None) -> TaskExecution | None:
    """Mark a pending run running on *worker*; None if it is not pending (a duplicate or cancelled message).

    Repeating a claim with the same *worker* and *now* returns the run again,
    so a claim whose reply was lost with its connection can be retried.
    """
    try:
        run_id = uuid.UUID(str(execution_id))
    except ValueError:
        return None
    key = TaskExecution._meta.pk.get_db_prep_value(run_id, connection)
    now = now or timezone.now()
    stamp = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [stamp, stamp, worker, key, worker, stamp])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, converters, column in _row_converters():
        for convert in converters:
            values[index] = convert(values[index], column, connection)
    return TaskExecution.from_db(connection.alias, None, values)


def heartbeat(*, execution_id: str, log: list | None = None) -> bool:
    """Record that a running run is alive (and its log so far); False when it is no longer running."""
    values: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if log is not None:
        values["log"] = log
    return bool(TaskExecution.objects.filter(pk=execution_id, status=Status.RUNNING).update(**values))


def request_cancel(*, execution_id, now: datetime) -> bool:
    """Ask a running run to stop; False when it is not running or was asked already."""
    return bool(
        TaskExecution.objects.filter(pk=execution_id, status=Status.RUNNING, cancel_requested_at__isnull=True).update(
            cancel_requested_at=now
        )
    )


def finish(*, execution_id, values: dict[str, Any], only_if: Q | None = None) -> bool:
    """Write how a running run ended (*values* hold its final status); False when it is no longer running."""
    if values.get("status") not in (Status.COMPLETED, Status.FAILED, Status.CANCELLED):
        raise ValueError(f"a run ends completed, failed or cancelled, not {values.get('status')!r}")
    if only_if is not None:
        return bool(TaskExecution.objects.filter(only_if, pk=execution_id, status=Status.RUNNING).update(**values))
    columns = tuple(values)
    prepared = _FINISH.get(columns)
    if prepared is None:
        assignments = ", ".join(f"{column} = %s" for column in columns)
        sql = f"UPDATE {_TABLE} SET {assignments} WHERE id = %s AND status = '{Status.RUNNING.value}'"
        prepared = _FINISH[columns] = (sql, [TaskExecution._meta.get_field(column) for column in columns])
    sql, fields = prepared
    parameters = [
        field.get_db_prep_save(value, connection) for field, value in zip(fields, values.values(), strict=True)
    ]
    parameters.append(TaskExecution._meta.pk.get_db_prep_value(execution_id, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        return cursor.rowcount == 1


def end_pending(*, execution_id, status: Status, **values: Any) -> bool:
    """End a pending run as *status* (failed or cancelled) with *values*; False when it is not pending."""
    if status not in (Status.FAILED, Status.CANCELLED):
        raise ValueError(f"a pending run ends failed or cancelled, not {status!r}")
    return bool(
        TaskExecution.objects.filter(pk=execution_id, status=Status.PENDING).update(
            status=status, finished_at=timezone.now(), **values
        )
    )


def mark_unsent(*, execution_id: str, error: str) -> bool:
    """Record that a pending run's message could not be sent (the reaper sends it again)."""
    return bool(
        TaskExecution.objects.filter(pk=execution_id, status=Status.PENDING).update(
            dispatched_at=None, dispatch_error=error[:2000]
        )
    )


def mark_resent(*, execution_id, sends_so_far: int, now: datetime) -> bool:
    """Record one more send of a pending run's message; False when it is no longer pending or another sent it."""
    return bool(
        TaskExecution.objects.filter(pk=execution_id, status=Status.PENDING, dispatch_count=sends_so_far).update(
            dispatched_at=now, dispatch_count=sends_so_far + 1
        )
    )


def wait_for_dependencies(execution: TaskExecution) -> None:
    """Hold a pending run until the runs it depends on complete (its message is not sent)."""
    execution.is_waiting_for_dependencies = True
    execution.dispatched_at = None
    execution.dispatch_count = 0
    execution.save(update_fields=["is_waiting_for_dependencies", "dispatched_at", "dispatch_count"])


def release(execution: TaskExecution) -> None:
    """Let a run that waited for its dependencies go (its message goes out after commit)."""
    execution.is_waiting_for_dependencies = False
    execution.dispatched_at = timezone.now()
    execution.dispatch_count += 1
    execution.save(update_fields=["is_waiting_for_dependencies", "dispatched_at", "dispatch_count"])


def pending_for_update(execution_id) -> TaskExecution | None:
    """Lock a run's row for a decision about it (the caller holds the transaction); None when it is gone."""
    return TaskExecution.objects.select_for_update().filter(pk=execution_id).first()
