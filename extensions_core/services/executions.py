"""Executions: start (after commit), claim exactly once, heartbeat, cancel, finish, retry, dependencies.

Every state change is a conditional UPDATE on the row's current status, so a
redelivered message, a cancel racing completion, or two reapers at once all
leave exactly one final state.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from extensions_core.broker import BrokerUnavailableError, broker_publish
from extensions_core.database import retrying
from extensions_core.exceptions import ExtensionError, ManifestProblem, TaskInputError, TaskStateError
from extensions_core.executions import transitions
from extensions_core.executions.outcome import Outcome
from extensions_core.manifest.schema import json_path
from extensions_core.models import Event, EventTrigger, Extension, TaskDefinition, TaskExecution
from extensions_core.services.event_records import event_record, task_events_have_listeners
from extensions_core.validation import json_storable_check, schema_findings

logger = logging.getLogger(__name__)

RUN_TASK_NAME = "extensions_core.execution_run"
Status = TaskExecution.Status
Reason = TaskExecution.FailureReason
# Failures a retry cannot fix.
NOT_RETRIED = {Reason.DEPENDENCY_FAILED, Reason.EXTENSION_UNAVAILABLE}


def task_definition_check_runnable(definition: TaskDefinition) -> None:
    """Raise TaskStateError unless *definition* can run now (declared, enabled, extension active)."""
    extension = definition.extension
    if not definition.is_present:
        raise TaskStateError(
            f'task "{definition.name}" is no longer declared', extension=extension.name, code="task_not_declared"
        )
    if not definition.is_enabled:
        raise TaskStateError(f'task "{definition.name}" is disabled', extension=extension.name, code="task_disabled")
    if not extension.is_enabled or extension.status != Extension.Status.ACTIVE:
        raise TaskStateError(
            f'is {extension.get_status_display()}, so task "{definition.name}" cannot run; load it first',
            extension=extension.name,
            code="extension_not_active",
        )


def task_parameters_check(definition: TaskDefinition, parameters: Any) -> dict[str, Any]:
    """Return *parameters* if they satisfy the definition's parameters schema.

    Raise TaskInputError listing each problem otherwise.
    """
    if not isinstance(parameters, dict):
        raise TaskInputError(
            "parameters must be a JSON object",
            code="invalid_parameters",
            problems=(ManifestProblem("parameters", "invalid_parameters", "must be an object"),),
        )
    json_storable_check(parameters, field="parameters")
    if definition.parameters_schema:
        problems = tuple(
            ManifestProblem(
                "parameters" + (("." + json_path(path)) if path else ""),
                "invalid_parameters",
                message,
            )
            for path, message in schema_findings(definition.parameters_schema, parameters)
        )
        if problems:
            listed = "; ".join(str(problem) for problem in problems)
            raise TaskInputError(
                f'parameters of task "{definition.name}" are not valid: {listed}',
                extension=definition.extension.name,
                code="invalid_parameters",
                problems=problems,
            )
    return parameters


def execution_start(
    *,
    definition: TaskDefinition,
    trigger_type: str,
    parameters: dict[str, Any] | None = None,
    triggered_by: str = "",
    user=None,
    event=None,
    execution_id: uuid.UUID | None = None,
) -> TaskExecution:
    """Create an execution of *definition* and queue it after commit; dependencies first.

    Raise TaskStateError when the task cannot run now, TaskInputError when the
    parameters do not match its schema.
    """
    task_definition_check_runnable(definition)
    parameters = task_parameters_check(definition, parameters if parameters is not None else {})
    values = {
        "id": execution_id or uuid.uuid4(),
        "trigger_type": trigger_type,
        "triggered_by": triggered_by,
        "user": user,
        "event": event,
        "parameters": parameters,
    }
    if definition.depends_on or execution_id is not None:
        # Several rows; or a chosen id, which a second delivery may already hold (its caller catches the
        # IntegrityError, so it must not break a transaction around it): a transaction of their own.
        with transaction.atomic():
            execution = transitions.queue(definition, **values)
            _start_dependencies_or_dispatch(execution, definition)
        return execution
    # One row: its INSERT is atomic by itself, so no BEGIN and COMMIT of its own (two round trips of the three);
    # within a caller's transaction it commits with it, and its message goes out then.
    execution = transitions.queue(definition, **values)
    _dispatch_on_commit(execution)
    return execution


def execution_start_scheduled(*, extension_name: str, task_name: str, message_id: str | None) -> TaskExecution | None:
    """Start the scheduled run beat asked for; None (logged) when the task cannot run now or it already started.

    The beat message's id is the execution's id, so a redelivered message starts nothing new.
    """
    definition = (
        TaskDefinition.objects.select_related("extension")
        .filter(extension__name=extension_name, name=task_name)
        .first()
    )
    if definition is None:
        logger.warning("Beat asked for %s/%s, which is not defined; skipped", extension_name, task_name)
        return None
    execution_id = uuid.UUID(message_id) if message_id else uuid.uuid4()
    if TaskExecution.objects.filter(pk=execution_id).exists():
        return None
    try:
        return execution_start(
            definition=definition,
            trigger_type=TaskExecution.Trigger.SCHEDULE,
            triggered_by="schedule " + (definition.schedule or f"every {definition.interval_seconds} s"),
            execution_id=execution_id,
        )
    except (TaskStateError, TaskInputError) as error:
        logger.warning("Scheduled run of %s skipped: %s", definition, error.message)
        return None
    except IntegrityError:
        return None  # the same message, delivered twice at once


def _start_dependencies_or_dispatch(execution: TaskExecution, definition: TaskDefinition) -> None:
    names = list(definition.depends_on or ())
    if not names:
        _dispatch_on_commit(execution)
        return
    others = {row.name: row for row in TaskDefinition.objects.filter(extension=definition.extension, name__in=names)}
    for name in names:
        other = others.get(name)
        if other is None:
            raise TaskStateError(
                f'task "{definition.name}" depends on "{name}", which is not declared',
                extension=definition.extension.name,
                code="task_dependency_missing",
            )
        task_definition_check_runnable(other)
    transitions.wait_for_dependencies(execution)
    for name in names:
        dependency = transitions.queue(
            others[name],
            id=uuid.uuid4(),
            trigger_type=TaskExecution.Trigger.DEPENDENCY,
            triggered_by=f"execution {execution.id}",
            user=execution.user,
            event=execution.event,
            parent=execution,
            parameters={},
        )
        _start_dependencies_or_dispatch(dependency, others[name])


def _dispatch_on_commit(execution: TaskExecution, countdown: float | None = None) -> None:
    """Publish after commit; the row already says when it was dispatched (no second write on the hot path)."""
    execution_id = str(execution.id)
    transaction.on_commit(lambda: execution_dispatch(execution_id=execution_id, countdown=countdown))


def execution_dispatch(*, execution_id: str, countdown: float | None = None) -> bool:
    """Publish the message that runs *execution_id*; on a broker failure keep the row pending for the reaper."""
    try:
        broker_publish(RUN_TASK_NAME, args=[execution_id], task_id=execution_id, countdown=countdown)
    except BrokerUnavailableError as error:
        logger.warning(
            "Could not queue execution %s: %s; it stays pending and is sent again later", execution_id, error
        )
        transitions.mark_unsent(execution_id=execution_id, error=str(error))
        return False
    return True


def execution_claim(*, execution_id: str, worker: str, now: datetime | None = None) -> TaskExecution | None:
    """Mark a pending execution running on *worker*; None if it is not pending (a duplicate or cancelled message).

    The returned execution carries `function_name`, the definition's function
    (see transitions.claim for retrying a claim whose reply was lost).
    """
    execution = transitions.claim(execution_id=execution_id, worker=worker, now=now)
    if execution is not None:
        execution.function_name = _function_of(execution.definition_id)
    return execution


_functions: dict[int, tuple[str, int | None]] = {}


def _function_of(definition_id: int | None) -> str | None:
    """The definition's `function`, cached per process until the next extension change (it only changes on reload)."""
    from extensions_core.registry import registry

    if definition_id is None:
        return None
    cached = _functions.get(definition_id)
    if cached is not None and cached[1] == registry.applied_generation:
        return cached[0]
    function = TaskDefinition.objects.filter(pk=definition_id).values_list("function", flat=True).first()
    if function is not None:
        _functions[definition_id] = (function, registry.applied_generation)
    return function


def execution_heartbeat(*, execution_id: str, log: list | None = None) -> None:
    """Record that a running execution is alive (and its log so far)."""
    transitions.heartbeat(execution_id=execution_id, log=log)


def execution_is_cancel_requested(*, execution_id: str) -> bool:
    return TaskExecution.objects.filter(pk=execution_id, cancel_requested_at__isnull=False).exists()


def execution_end_pending(*, execution: TaskExecution, status: str, **values: Any) -> bool:
    """End a pending execution as *status* (with *values*), then settle what follows; False if it was not pending.

    The caller holds the transaction.
    """
    if not transitions.end_pending(execution_id=execution.pk, status=status, **values):
        return False
    execution.refresh_from_db()
    execution_follow_up(execution)
    return True


@transaction.atomic
def execution_cancel(*, execution: TaskExecution, by: str = "") -> TaskExecution:
    """Cancel a pending execution now, or ask a running one to stop (it stops within seconds).

    Raise TaskStateError when it has already finished.
    """
    now = timezone.now()
    reason = f"{Status.CANCELLED.label} by {by}" if by else Status.CANCELLED.label
    if execution_end_pending(execution=execution, status=Status.CANCELLED, cancel_requested_at=now, error=reason):
        return execution
    if transitions.request_cancel(execution_id=execution.pk, now=now):
        execution.refresh_from_db()
        return execution
    execution.refresh_from_db()
    if execution.status == Status.RUNNING:
        return execution  # already asked
    raise TaskStateError(
        f"execution {execution.id} has already finished ({execution.status})", code="execution_finished"
    )


def execution_finish(
    *,
    execution: TaskExecution,
    outcome: Outcome,
    only_if: Q | None = None,
    wait_for_database_seconds: float = 0,
) -> bool:
    """Record how a running execution ended, then retry, settle its dependent and emit task events.

    Return False (and change nothing) when it is no longer running: someone
    else (a cancel of a pending run, the reaper) recorded its end first. The
    common case (a success nobody waits for) is one UPDATE; the others run in
    one transaction with their follow-ups. While the database is unreachable
    it keeps trying for *wait_for_database_seconds*; a first attempt that
    committed before its connection dropped is recognised, never repeated.
    """
    now = timezone.now()
    started = execution.started_at or now
    values = {
        "status": outcome.status,
        "failure_reason": outcome.failure_reason if outcome.status == Status.FAILED else "",
        # What a cancelled or failed task returned is not its result: only a completed run has one.
        "result": outcome.result if outcome.status == Status.COMPLETED else None,
        "error": outcome.error[:20000],
        "traceback": outcome.traceback[:50000],
        "finished_at": now,
        "duration_seconds": round((now - started).total_seconds(), 6),
        "cpu_seconds": outcome.cpu_seconds,
        "peak_memory_bytes": outcome.peak_memory_bytes,
    }
    if outcome.log or outcome.status != Status.FAILED or outcome.failure_reason != Reason.WORKER_LOST:
        values["log"] = outcome.log
    for key, value in values.items():
        setattr(execution, key, value)

    def finish() -> bool:
        needs_follow_up = _needs_follow_up(execution)
        with transaction.atomic() if needs_follow_up else nullcontext():
            if not transitions.finish(execution_id=execution.pk, values=values, only_if=only_if):
                return False
            if needs_follow_up:
                execution_follow_up(execution)
        return True

    def landed() -> bool | None:
        # finished_at is this attempt's own stamp: only this call can have written it.
        return TaskExecution.objects.filter(pk=execution.pk, status=outcome.status, finished_at=now).exists() or None

    return retrying(
        finish,
        what=f"Recording the end of execution {execution.pk}",
        for_seconds=wait_for_database_seconds,
        landed=landed,
    )


def _needs_follow_up(execution: TaskExecution) -> bool:
    if execution.parent_id or execution.status == Status.CANCELLED:
        return True
    if execution.status == Status.FAILED and execution.attempt < execution.max_attempts:
        return True
    return task_events_have_listeners()


def execution_follow_up(execution: TaskExecution) -> None:
    retry = _maybe_retry(execution)
    if retry is None and execution.parent_id:
        _settle_parent(execution.parent_id)
    if execution.status == Status.CANCELLED:
        _cancel_waiting_dependencies(execution)
    event_emit_for_execution(execution=execution)


def _maybe_retry(execution: TaskExecution) -> TaskExecution | None:
    if execution.status != Status.FAILED or execution.failure_reason in NOT_RETRIED:
        return None
    if execution.attempt >= execution.max_attempts or execution.definition_id is None:
        return None
    definition = TaskDefinition.objects.select_related("extension").get(pk=execution.definition_id)
    delay = definition.retry_backoff_seconds * (2 ** (execution.attempt - 1))
    retry = transitions.queue(
        definition,
        id=uuid.uuid4(),
        trigger_type=TaskExecution.Trigger.RETRY,
        triggered_by=f"execution {execution.id}",
        user_id=execution.user_id,
        parameters=execution.parameters,
        event_id=execution.event_id,
        parent_id=execution.parent_id,
        retry_of=execution,
        attempt=execution.attempt + 1,
        max_attempts=execution.max_attempts,
        not_before=timezone.now() + timedelta(seconds=delay) if delay else None,
    )
    _dispatch_on_commit(retry, countdown=delay or None)
    return retry


def _settle_parent(parent_id: uuid.UUID) -> None:
    """Run the waiting parent when all its dependencies completed; fail it when one failed for good."""
    parent = transitions.pending_for_update(parent_id)
    if parent is None or parent.status != Status.PENDING or not parent.is_waiting_for_dependencies:
        return
    latest: dict[str, TaskExecution] = {}
    for child in TaskExecution.objects.filter(parent_id=parent_id).order_by("attempt"):
        latest[child.task_name] = child
    failed = [child for child in latest.values() if child.status in (Status.FAILED, Status.CANCELLED)]
    if failed:
        child = failed[0]
        message = f'dependency "{child.task_name}" {child.status}' + (
            f" ({child.failure_reason}): {child.error}" if child.failure_reason else ""
        )
        execution_end_pending(
            execution=parent,
            status=Status.FAILED,
            failure_reason=Reason.DEPENDENCY_FAILED,
            error=message[:20000],
            is_waiting_for_dependencies=False,
        )
        return
    if all(child.status == Status.COMPLETED for child in latest.values()):
        transitions.release(parent)
        _dispatch_on_commit(parent)


def _cancel_waiting_dependencies(execution: TaskExecution) -> None:
    for child in TaskExecution.objects.filter(parent_id=execution.pk, status__in=TaskExecution.ACTIVE_STATUSES):
        try:
            execution_cancel(execution=child, by=f"execution {execution.id} (cancelled)")
        except TaskStateError:
            continue


# --- runs started by events -----------------------------------------------------------------------


def executions_start_for_event(*, event: Event, triggers: list[EventTrigger]) -> None:
    """Start the task of each of *triggers* for *event*; record each start (or why not) on the event."""
    event.triggered_tasks = [_fire(trigger, event) for trigger in triggers]
    if event.triggered_tasks:
        event.save(update_fields=["triggered_tasks"])


def _fire(trigger: EventTrigger, event: Event) -> dict[str, Any]:
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
    event, triggers = event_record(
        event_type=event_type,
        event_data=data,
        source=Event.Source.SYSTEM,
        emitted_by="platform",
        caused_by_id=execution.pk,
    )
    executions_start_for_event(event=event, triggers=triggers)
    return event
