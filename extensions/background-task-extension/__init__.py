"""Background Task Extension: the first system's task example, on the Karen SDK.

Three scheduled tasks (hourly cleanup, daily report at 09:00, a health check
every 5 minutes), a manual task with parameters, and a handler that runs
whenever an extension is loaded. Every task returns a JSON-serialisable result.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from extensions_core.sdk import BaseExtension, TaskContext, route, widget


def _now() -> str:
    return datetime.now(UTC).isoformat()


class BackgroundTaskExtension(BaseExtension):
    """Demonstrates scheduled, manual and event-driven tasks."""

    def initialize(self) -> None:
        self.started_at = _now()

    @route("/status", methods=["GET"])
    def status(self, request) -> dict:
        """Return the extension's tasks as declared, with their schedules and triggers."""
        return {
            "extension": self.manifest.name,
            "version": self.manifest.version,
            "status": "active",
            "started_at": self.started_at,
            "tasks": [
                {
                    "name": task.name,
                    "description": task.description,
                    "schedule": task.schedule,
                    "triggers": [trigger.event for trigger in task.triggers],
                    "enabled": task.is_enabled,
                }
                for task in self.manifest.tasks
            ],
        }

    @widget("recent-runs")
    def recent_runs_widget(self, request) -> dict:
        """The dashboard box: the newest runs of this extension's tasks."""
        return {"runs": self.recent_runs(limit=8)}

    def hourly_cleanup_task(self, context: TaskContext, **parameters) -> dict:
        context.logger.info("Hourly cleanup started")
        removed = 0
        return {
            "task": context.task_name,
            "cleaned_items": removed,
            "execution_time": _now(),
            "status": "success",
        }

    def daily_report_task(self, context: TaskContext, **parameters) -> dict:
        context.logger.info("Daily report started")
        return {
            "task": context.task_name,
            "report_date": datetime.now(UTC).date().isoformat(),
            "execution_time": _now(),
            "status": "success",
        }

    def system_health_check_task(self, context: TaskContext, **parameters) -> dict:
        checks = {"extension_status": "healthy", "task_queue": "normal"}
        context.logger.info("Health checks: %s", checks)
        return {
            "task": context.task_name,
            "health_checks": checks,
            "overall_status": "healthy",
            "status": "success",
        }

    def manual_task(self, context: TaskContext, message: str = "Hello from manual task!", delay: float = 1) -> dict:
        context.logger.info("Manual task: %s (delay %ss)", message, delay)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            if context.is_cancelled():
                context.logger.info("Manual task cancelled")
                break
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        return {
            "task": context.task_name,
            "message": message,
            "delay": delay,
            "execution_time": _now(),
            "status": "success",
        }

    def handle_extension_loaded_event(self, context: TaskContext, **parameters) -> dict:
        event = context.event or {}
        loaded = (event.get("event_data") or event).get("extension_name", "unknown")
        context.logger.info("Extension loaded: %s", loaded)
        return {
            "task": context.task_name,
            "loaded_extension": loaded,
            "handled_at": _now(),
            "status": "success",
        }
