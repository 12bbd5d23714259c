"""A run's statuses, failure reasons and triggers: the one vocabulary of the model, the runner and the sandbox."""

from __future__ import annotations

from django.db import models


class Status(models.TextChoices):
    PENDING = "pending", "pending"
    RUNNING = "running", "running"
    COMPLETED = "completed", "completed"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


class FailureReason(models.TextChoices):
    EXCEPTION = "exception", "raised an exception"
    TIMEOUT = "timeout", "ran past its timeout"
    MEMORY_LIMIT = "memory_limit", "exceeded its memory limit"
    CPU_LIMIT = "cpu_limit", "exceeded its CPU limit"
    WORKER_LOST = "worker_lost", "its worker died or stopped beating"
    MESSAGE_LOST = "message_lost", "its queue message never reached a worker"
    DEPENDENCY_FAILED = "dependency_failed", "a task it depends on failed"
    EXTENSION_UNAVAILABLE = "extension_unavailable", "its extension or task was not runnable"
    CRASHED = "crashed", "its process died"
    INVALID_RESULT = "invalid_result", "returned a value that is not JSON"


class Trigger(models.TextChoices):
    MANUAL = "manual", "manual"
    SCHEDULE = "schedule", "schedule"
    EVENT = "event", "event"
    DEPENDENCY = "dependency", "dependency"
    RETRY = "retry", "retry"


# Not ended yet: waiting for a worker, or running on one.
ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING)
# How a run ends; none of them changes again.
FINAL_STATUSES = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
