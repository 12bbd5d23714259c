"""Health and statistics reports: one extension, the system's components, and counts of extensions.

Read-only; every count is narrowed to what the caller may see.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from django.db import DatabaseError, connection
from django.utils import timezone

from extensions_core.loader import run_with_timeout
from extensions_core.models import Extension, ProcessHeartbeat
from extensions_core.registry import registry
from extensions_core.selectors import extension_list_for_user
from extensions_core.services.heartbeats import processes_alive

HEALTH_CHECK_TIMEOUT_SECONDS = 5.0


def extension_health(extension: Extension) -> dict[str, Any]:
    """Return the health of *extension* as seen by this process (its health_check(), bounded in time)."""
    report = {
        "name": extension.name,
        "status": extension.status,
        "healthy": False,
        "details": {},
        "error": "",
        "checked_at": timezone.now(),
    }
    loaded = registry.entries.get(extension.name)
    if extension.status != Extension.Status.ACTIVE or loaded is None:
        reason = extension.error_message or f"the extension is {extension.get_status_display()}"
        failure = registry.failures.get(extension.name)
        if extension.status == Extension.Status.ACTIVE and failure:
            reason = f"active, but it failed to load in this process: {failure[1]}"
        report["error"] = reason
        return report
    try:
        details = run_with_timeout(
            loaded.instance.health_check, timeout=HEALTH_CHECK_TIMEOUT_SECONDS, what=f"{extension.name}.health_check()"
        )
    except Exception as error:  # noqa: BLE001 - an extension's failure is its health, reported
        report["error"] = f"health_check() raised {type(error).__name__}: {error}"
        return report
    if not isinstance(details, dict):
        report["error"] = f"health_check() must return a dict (got {type(details).__name__})"
        return report
    report["details"] = details
    report["healthy"] = bool(details.get("healthy", True))
    if not report["healthy"]:
        report["error"] = str(details.get("error") or "health_check() reported unhealthy")
    return report


def _component(status: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"status": status, "detail": detail, **extra}


def database_health() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        return _component("down", f"{connection.vendor}: {error}", latency_ms=None)
    latency = round((time.perf_counter() - started) * 1000, 3)
    return _component("ok", connection.vendor, latency_ms=latency)


def broker_health() -> dict[str, Any]:
    from karen.celery import app

    started = time.perf_counter()
    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
            transport = broker.transport_cls
    except Exception as error:  # noqa: BLE001 - any broker failure means "down", with its text
        return _component("down", f"{type(error).__name__}: {error}", latency_ms=None)
    latency = round((time.perf_counter() - started) * 1000, 3)
    return _component("ok", str(transport), latency_ms=latency)


def process_health(role: str, noun: str) -> dict[str, Any]:
    alive = processes_alive(role)
    if not alive:
        last = ProcessHeartbeat.objects.filter(role=role).order_by("-last_seen_at").first()
        seen = f"; last seen {last.last_seen_at.isoformat()}" if last else "; never seen"
        return _component("down", f"no {noun} alive{seen}", count=0)
    names = ", ".join(f"{item.hostname}:{item.pid}" for item in alive)
    return _component("ok", names, count=len(alive))


def system_health(user) -> dict[str, Any]:
    """Return the health of the database, broker, workers, beat, and the visible extensions by status."""
    components = {
        "database": database_health(),
        "broker": broker_health(),
        "workers": process_health(ProcessHeartbeat.Role.WORKER, "worker"),
        "beat": process_health(ProcessHeartbeat.Role.BEAT, "beat"),
    }
    statuses = {component["status"] for component in components.values()}
    overall = "down" if components["database"]["status"] == "down" else ("ok" if statuses == {"ok"} else "degraded")
    counts = Counter(extension_list_for_user(user).values_list("status", flat=True))
    return {
        "status": overall,
        **components,
        "extensions": {status: counts.get(status, 0) for status in Extension.Status.values},
        "checked_at": timezone.now(),
    }


def system_stats(user) -> dict[str, Any]:
    """Return counts of the extensions *user* may see, and of their declared endpoints and tasks."""
    rows = list(extension_list_for_user(user).values("status", "category", "manifest"))
    capabilities: Counter[str] = Counter()
    tasks: Counter[str] = Counter()
    endpoints = 0
    for row in rows:
        manifest = row["manifest"] or {}
        capabilities.update(name for name, value in (manifest.get("capabilities") or {}).items() if value is True)
        endpoints += len((manifest.get("api") or {}).get("endpoints") or [])
        for task in manifest.get("background_tasks") or []:
            tasks["total"] += 1
            if task.get("schedule") or task.get("interval_seconds"):
                tasks["scheduled"] += 1
            elif task.get("triggers"):
                tasks["event_triggered"] += 1
            else:
                tasks["manual"] += 1
    return {
        "total": len(rows),
        "by_status": dict(Counter(row["status"] for row in rows)),
        "by_category": dict(Counter(row["category"] for row in rows)),
        "by_capability": dict(capabilities),
        "endpoints": endpoints,
        "tasks": {key: tasks.get(key, 0) for key in ("total", "scheduled", "event_triggered", "manual")},
    }


__all__ = ["extension_health", "system_health", "system_stats"]
