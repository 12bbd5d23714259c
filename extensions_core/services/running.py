"""Running one claimed execution in this worker process: find its function, run it under its limits, record the end."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from django.db.models import Q

from extensions_core.models import TaskExecution
from extensions_core.registry import registry
from extensions_core.runner import Outcome, RunLimits, run_in_process, run_isolated
from extensions_core.sdk import TaskContext
from extensions_core.services.executions import (
    execution_claim,
    execution_fail_unclaimable,
    execution_finish,
    execution_heartbeat,
    execution_is_cancel_requested,
)

Reason = TaskExecution.FailureReason


class _Control:
    """What the runner asks the database while a run goes on."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id

    def is_cancel_requested(self) -> bool:
        return execution_is_cancel_requested(execution_id=self.execution_id)

    def heartbeat(self, log: list) -> None:
        execution_heartbeat(execution_id=self.execution_id, log=log)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execution_run(*, execution_id: str) -> TaskExecution | None:
    """Claim *execution_id* and run it here; None when it was not pending (already ran, cancelled, waiting)."""
    pending = TaskExecution.objects.filter(pk=execution_id).values_list("extension_name", "task_name").first()
    if pending is None:
        return None
    loaded = registry.get(pending[0])
    if loaded is None:
        execution_fail_unclaimable(
            execution_id=execution_id,
            reason=Reason.EXTENSION_UNAVAILABLE,
            message=f'extension "{pending[0]}" is not loaded in worker {worker_name()}',
        )
        return None
    execution = execution_claim(execution_id=execution_id, worker=worker_name())
    if execution is None:
        return None
    definition = execution.definition
    try:
        if definition is None:
            raise LookupError(f'task "{execution.task_name}" is no longer defined')
        function = loaded.instance.get_task_function(definition.function)
    except (LookupError, ImportError) as error:
        execution_finish(
            execution=execution,
            outcome=Outcome(status="failed", failure_reason=Reason.EXTENSION_UNAVAILABLE, error=str(error)),
        )
        return execution
    limits = _limits(execution, loaded.manifest.resources)
    make_context = _context_factory(execution)
    control = _Control(str(execution.id))
    if execution.is_isolated:
        outcome = run_isolated(function, make_context, execution.parameters, limits, control)
    else:
        outcome = run_in_process(
            function,
            make_context,
            execution.parameters,
            limits,
            control,
            on_hard_stop=lambda stop: execution_finish(execution=execution, outcome=stop),
        )
    execution_finish(execution=execution, outcome=outcome, only_if=Q(worker=execution.worker))
    return execution


def _limits(execution: TaskExecution, resources: dict[str, Any]) -> RunLimits:
    if not execution.is_isolated:
        return RunLimits(timeout_seconds=execution.timeout_seconds)
    memory = resources.get("max_memory_mb")
    return RunLimits(
        timeout_seconds=execution.timeout_seconds,
        max_memory_bytes=int(memory) * 2**20 if memory else None,
        max_cpu_percent=resources.get("max_cpu_percent"),
    )


def _context_factory(execution: TaskExecution):
    event = None
    if execution.event is not None:
        event = {
            "event_id": str(execution.event.id),
            "event_type": execution.event.event_type,
            "event_data": execution.event.event_data,
            "emitted_at": execution.event.created_at.isoformat(),
        }
    execution_id = str(execution.id)

    def emit(event_type: str, event_data: dict[str, Any] | None = None) -> dict[str, Any]:
        from extensions_core.services.events import event_emit

        emitted = event_emit(
            event_type=event_type,
            event_data=event_data or {},
            source="extension",
            emitted_by=f"{execution.extension_name}/{execution.task_name}",
            caused_by_id=execution_id,
        )
        return {"event_id": str(emitted.id), "triggered_tasks": emitted.triggered_tasks}

    def make_context(is_cancelled) -> TaskContext:
        return TaskContext(
            execution_id=execution_id,
            task_name=execution.task_name,
            extension_name=execution.extension_name,
            parameters=dict(execution.parameters),
            event=event,
            logger=logging.getLogger(f"karen.tasks.{execution.extension_name}.{execution.task_name}"),
            is_cancelled=is_cancelled,
            attempt=execution.attempt,
            emit=emit,
        )

    return make_context
