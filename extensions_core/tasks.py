"""Celery tasks with explicit, stable names, and the task base class every task runs through.

Each task first brings its worker process's extension registry in line with
the database (the same cheap check web requests make), so a change made
anywhere is in effect in every worker process before its next task.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from celery import Task, shared_task
from django.core.cache import cache

from extensions_core.database import retrying
from extensions_core.registry import registry
from extensions_core.services import registry_sync
from extensions_core.services.executions import execution_start_scheduled
from extensions_core.services.reaping import executions_reap
from extensions_core.services.running import execution_run

# How long a task waits for an unreachable database before it gives up (its run is then resent by the reaper).
DATABASE_WAIT_SECONDS = 60


class ExtensionAwareTask(Task):
    """Base of all platform tasks: sync the registry, then run."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Celery's Django fixup keeps the connection for many tasks and never checks it: a database
        # restart would fail every later task of this process. retrying() checks it (cheaply) first.
        retrying(registry_sync, what="Registry sync before a task", for_seconds=DATABASE_WAIT_SECONDS)
        return super().__call__(*args, **kwargs)


@shared_task(name="extensions_core.registry_report", base=ExtensionAwareTask)
def registry_report_task(key: str, timeout_seconds: int = 300) -> dict[str, Any]:
    """Store in the cache, under *key*, which extensions this worker process has loaded."""
    report = {"host": socket.gethostname(), "pid": os.getpid(), "loaded": registry.snapshot()}
    cache.set(key, report, timeout_seconds)
    return report


@shared_task(name="extensions_core.execution_run", base=ExtensionAwareTask, ignore_result=True)
def execution_run_task(execution_id: str) -> None:
    """Run execution *execution_id* in this worker, unless another delivery already claimed it."""
    execution_run(execution_id=execution_id)


@shared_task(name="extensions_core.execution_schedule", base=ExtensionAwareTask, bind=True, ignore_result=True)
def execution_schedule_task(self, extension: str, task: str) -> None:
    """Start a scheduled run of *extension*/*task* (sent by beat); the message id becomes the execution id."""
    execution_start_scheduled(extension_name=extension, task_name=task, message_id=self.request.id)


@shared_task(name="extensions_core.executions_reap", base=ExtensionAwareTask, ignore_result=True)
def executions_reap_task() -> dict[str, int]:
    """Run the reaper once (it also runs by itself in every worker and in beat)."""
    report = executions_reap()
    return {"worker_lost": report.worker_lost, "redispatched": report.redispatched, "message_lost": report.message_lost}
