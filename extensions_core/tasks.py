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

from extensions_core.registry import registry
from extensions_core.services import registry_sync


class ExtensionAwareTask(Task):
    """Base of all platform tasks: sync the registry, then run."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        registry_sync()
        return super().__call__(*args, **kwargs)


@shared_task(name="extensions_core.registry_report", base=ExtensionAwareTask)
def registry_report_task(key: str, timeout_seconds: int = 300) -> dict[str, Any]:
    """Store in the cache, under *key*, which extensions this worker process has loaded."""
    report = {"host": socket.gethostname(), "pid": os.getpid(), "loaded": registry.snapshot()}
    cache.set(key, report, timeout_seconds)
    return report
