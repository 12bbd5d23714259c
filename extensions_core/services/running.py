"""Running one claimed execution in this worker process: find its function, run it under its limits, record the end."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from django.utils import timezone

from extensions_core.database import connection_refresh, retrying
from extensions_core.executions.in_process import run_in_process
from extensions_core.executions.outcome import Outcome, RunLimits
from extensions_core.executions.sandbox import current_sandbox_pid, run_isolated
from extensions_core.log_context import log_context
from extensions_core.models import TaskExecution
from extensions_core.process_tree import kill_descendants, reap_children
from extensions_core.registry import registry
from extensions_core.sdk import TaskContext
from extensions_core.services.executions import (
    execution_claim,
    execution_finish,
    execution_heartbeat,
    execution_is_cancel_requested,
)
from extensions_core.services.propagation import registry_sync

Status = TaskExecution.Status
Reason = TaskExecution.FailureReason
# How long a worker keeps trying to claim a run, and to record how one ended, while the database is unreachable.
CLAIM_RETRY_SECONDS = 60
FINISH_RETRY_SECONDS = 600


class _Control:
    """What the runner asks the database while a run goes on."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id

    def is_cancel_requested(self) -> bool:
        connection_refresh()
        return execution_is_cancel_requested(execution_id=self.execution_id)

    def heartbeat(self, log: list) -> None:
        connection_refresh()
        execution_heartbeat(execution_id=self.execution_id, log=log)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execution_run(*, execution_id: str) -> TaskExecution | None:
    """Claim *execution_id* and run it here; None when it was not pending (already ran, cancelled, waiting)."""
    worker, now = worker_name(), timezone.now()
    execution = retrying(
        lambda: execution_claim(execution_id=execution_id, worker=worker, now=now) or False,
        what=f"Claiming execution {execution_id}",
        for_seconds=CLAIM_RETRY_SECONDS,
    )
    if not execution:
        return None
    with log_context(extension=execution.extension_name, execution_id=str(execution.id)):
        _run_claimed(execution, worker)
    return execution


def _run_claimed(execution: TaskExecution, worker: str) -> None:
    loaded = registry.get(execution.extension_name)
    if loaded is None:
        _finish(
            execution,
            Outcome(
                status=Status.FAILED,
                failure_reason=Reason.EXTENSION_UNAVAILABLE,
                error=f'extension "{execution.extension_name}" is not loaded in worker {worker}',
            ),
        )
        return
    function_name = execution.function_name
    try:
        if function_name is None:
            raise LookupError(f'task "{execution.task_name}" is no longer defined')
        function = loaded.instance.get_task_function(function_name)
    except (LookupError, ImportError) as error:
        _finish(execution, Outcome(status=Status.FAILED, failure_reason=Reason.EXTENSION_UNAVAILABLE, error=str(error)))
        return
    limits = _limits(execution, loaded.manifest.resources)
    control = _Control(str(execution.id))
    if execution.is_isolated:
        outcome = run_isolated(_request(execution, function_name), limits, control, execute_in_sandbox)
    else:
        make_context = _context_factory(_request(execution, function_name))
        outcome = run_in_process(
            function,
            make_context,
            execution.parameters,
            limits,
            control,
            on_hard_stop=lambda stop: _finish(execution, stop),
        )
    _end_strays()
    _finish(execution, outcome)


def _end_strays() -> None:
    """Kill what a run left behind in this worker process: children of an in-process run, orphans of a dead sandbox.

    The pool process is a subreaper (workers.py), so orphans land here instead of init.
    """
    sandbox = current_sandbox_pid()
    reap_children(kill_descendants(os.getpid(), skip=[sandbox] if sandbox else []))


def _finish(execution: TaskExecution, outcome: Outcome) -> bool:
    """Record the end of a run this worker claimed, waiting out a database outage rather than losing it."""
    return execution_finish(execution=execution, outcome=outcome, wait_for_database_seconds=FINISH_RETRY_SECONDS)


def _limits(execution: TaskExecution, resources: dict[str, Any]) -> RunLimits:
    if not execution.is_isolated:
        return RunLimits(timeout_seconds=execution.timeout_seconds)
    memory = resources.get("max_memory_mb")
    return RunLimits(
        timeout_seconds=execution.timeout_seconds,
        max_memory_bytes=int(memory) * 2**20 if memory else None,
        max_cpu_percent=resources.get("max_cpu_percent"),
    )


def _request(execution: TaskExecution, function: str) -> dict[str, Any]:
    """What a run needs, as plain data (it crosses into the sandbox)."""
    event = None
    if execution.event_id is not None:
        row = execution.event
        event = {
            "event_id": str(row.id),
            "event_type": row.event_type,
            "event_data": row.event_data,
            "emitted_at": row.created_at.isoformat(),
        }
    return {
        "execution_id": str(execution.id),
        "extension_name": execution.extension_name,
        "task_name": execution.task_name,
        "function": function,
        "parameters": dict(execution.parameters),
        "event": event,
        "attempt": execution.attempt,
    }


def execute_in_sandbox(request: dict[str, Any], is_cancelled):
    """Inside the sandbox: bring its registry up to date, find the function; return the call that runs the task.

    What this logs (a registry sync loading or unloading extensions) is not the run's.
    """
    connection_refresh()  # the sandbox lives for many runs: its connection may have outlived a database restart
    registry_sync()
    loaded = registry.get(request["extension_name"])
    if loaded is None:
        raise LookupError(f'extension "{request["extension_name"]}" is not loaded in the sandbox')
    function = loaded.instance.get_task_function(request["function"])
    context = _context_factory(request)(is_cancelled)

    def run() -> Any:
        with log_context(extension=request["extension_name"], execution_id=request["execution_id"]):
            return function(context, **request["parameters"])

    return run


def _context_factory(request: dict[str, Any]):
    execution_id = request["execution_id"]
    origin = f"{request['extension_name']}/{request['task_name']}"

    def emit(event_type: str, event_data: dict[str, Any] | None = None) -> dict[str, Any]:
        from extensions_core.services.events import event_emit

        emitted = event_emit(
            event_type=event_type,
            event_data=event_data or {},
            source="extension",
            emitted_by=origin,
            caused_by_id=execution_id,
        )
        return {"event_id": str(emitted.id), "triggered_tasks": emitted.triggered_tasks}

    def make_context(is_cancelled) -> TaskContext:
        return TaskContext(
            execution_id=execution_id,
            task_name=request["task_name"],
            extension_name=request["extension_name"],
            parameters=dict(request["parameters"]),
            event=request["event"],
            logger=logging.getLogger(f"karen.tasks.{request['extension_name']}.{request['task_name']}"),
            is_cancelled=is_cancelled,
            attempt=request["attempt"],
            emit=emit,
        )

    return make_context
