"""Health and statistics reports: one extension, the system's components, and counts of extensions.

Read-only; every count is narrowed to what the caller may see.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, connection
from django.db.models import Count
from django.utils import timezone
from kombu.exceptions import ChannelError

from extensions_core.conf import EXECUTION_STALE_AFTER
from extensions_core.executions.states import Status
from extensions_core.loader import run_with_timeout
from extensions_core.models import Extension, ProcessHeartbeat
from extensions_core.registry import registry
from extensions_core.selectors import execution_list_for_user, extension_list_for_user
from extensions_core.services.heartbeats import processes_alive

HEALTH_CHECK_TIMEOUT_SECONDS = 5.0


def extension_health(extension: Extension, *, timeout: float | None = HEALTH_CHECK_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Return the health of *extension* as seen by this process (its health_check(), bounded in time).

    With *timeout* None, health_check() runs in the calling thread: for a caller
    that bounds it itself (the dashboard's pool of checks).
    """
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
        if timeout is None:
            details = loaded.instance.health_check()
        else:
            details = run_with_timeout(
                loaded.instance.health_check, timeout=timeout, what=f"{extension.name}.health_check()"
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
            broker.ensure_connection(max_retries=1, interval_start=0.2, interval_step=0.2, timeout=2)
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


def beat_health() -> dict[str, Any]:
    """Beats alive, and which one leads (fires the schedules); degraded when beats run but none leads."""
    from extensions_core.services.leases import BEAT_LEASE, lease_holder

    component = process_health(ProcessHeartbeat.Role.BEAT, "beat")
    lease = lease_holder(BEAT_LEASE)
    component["leader"] = lease.holder if lease else None
    if component["status"] == "ok":
        if lease is None:
            component.update(status="degraded", detail=f"{component['detail']}; none holds the lease (no fires yet)")
        else:
            standby = [name for name in component["detail"].split(", ") if name != lease.holder]
            component["detail"] = f"leader {lease.holder}" + (f"; standby {', '.join(standby)}" if standby else "")
    return component


def system_health(user) -> dict[str, Any]:
    """Return the health of the database, broker, workers, beat, and the visible extensions by status."""
    components = {
        "database": database_health(),
        "broker": broker_health(),
        "workers": process_health(ProcessHeartbeat.Role.WORKER, "worker"),
        "beat": beat_health(),
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


def queue_depth() -> dict[str, Any]:
    """Return how many messages wait in the broker's default queue (None when the broker cannot say)."""
    from karen.celery import app

    queue = app.conf.task_default_queue
    try:
        with app.connection_for_read() as broker:
            broker.ensure_connection(max_retries=1, interval_start=0.2, interval_step=0.2, timeout=2)
            try:
                declared = broker.default_channel.queue_declare(queue=queue, passive=True)
            except ChannelError as error:
                if "no queue" not in str(error).lower():
                    raise
                # Redis deletes a list once it is empty: a queue that does not exist holds nothing.
                return {"name": queue, "messages": 0, "detail": "empty"}
    except Exception as error:  # noqa: BLE001 - a down broker: reported, not raised
        return {"name": queue, "messages": None, "detail": f"{type(error).__name__}: {error}"}
    return {"name": queue, "messages": declared.message_count, "detail": ""}


def broker_status() -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the broker's component (as broker_health) and queue depth (as queue_depth), from one connection."""
    from karen.celery import app

    queue = app.conf.task_default_queue
    started = time.perf_counter()
    try:
        with app.connection_for_read() as broker:
            broker.ensure_connection(max_retries=1, interval_start=0.2, interval_step=0.2, timeout=2)
            latency = round((time.perf_counter() - started) * 1000, 3)
            component = _component("ok", str(broker.transport_cls), latency_ms=latency)
            try:
                messages = broker.default_channel.queue_declare(queue=queue, passive=True).message_count
                depth = {"name": queue, "messages": messages, "detail": ""}
            except ChannelError as error:
                if "no queue" not in str(error).lower():
                    raise
                depth = {"name": queue, "messages": 0, "detail": "empty"}
    except Exception as error:  # noqa: BLE001 - a down broker: reported, not raised
        detail = f"{type(error).__name__}: {error}"
        return _component("down", detail, latency_ms=None), {"name": queue, "messages": None, "detail": detail}
    return component, depth


def task_health(user) -> dict[str, Any]:
    """Return whether tasks can run: workers and beat alive, queue depth, and executions that look stuck."""
    from extensions_core.services.reaping import REDISPATCH_AFTER

    now = timezone.now()
    active = execution_list_for_user(user, active_only=True)
    running = active.filter(status=Status.RUNNING)
    pending = active.filter(status=Status.PENDING)
    stuck_running = running.filter(heartbeat_at__lt=now - EXECUTION_STALE_AFTER).count()
    stuck_pending = pending.filter(is_waiting_for_dependencies=False, queued_at__lt=now - REDISPATCH_AFTER).count()
    workers = process_health(ProcessHeartbeat.Role.WORKER, "worker")
    beat = beat_health()
    queue = queue_depth()
    components = (("workers", workers), ("beat", beat))
    problems = [f"{name}: {component['detail']}" for name, component in components if component["status"] != "ok"]
    if stuck_running:
        problems.append(f"{stuck_running} running execution(s) stopped beating (their worker may be gone)")
    if queue["messages"] is None:
        problems.append(f"the broker cannot say how many messages wait: {queue['detail']}")
    return {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "workers": workers,
        "beat": beat,
        "queue": queue,
        "executions": {
            Status.RUNNING.value: running.count(),
            Status.PENDING.value: pending.count(),
            "stuck_running": stuck_running,
            "stuck_pending": stuck_pending,
        },
        "checked_at": now,
    }


def task_stats(user, *, since=None) -> dict[str, Any]:
    """Return execution counts by status, success rate and duration percentiles since *since* (default 24 h)."""
    since = since or timezone.now() - timezone.timedelta(hours=24)
    rows = execution_list_for_user(user, since=since).order_by()
    by_status = Counter(dict(rows.values_list("status").annotate(count=Count("id")).values_list("status", "count")))
    per_extension: dict[str, dict[str, Any]] = {}
    for name, state, count in (
        rows.values_list("extension_name", "status")
        .annotate(count=Count("id"))
        .values_list("extension_name", "status", "count")
    ):
        per_extension.setdefault(name, {"total": 0})
        per_extension[name][state] = count
        per_extension[name]["total"] += count
    for counts in per_extension.values():
        counts["success_rate"] = _rate(counts.get(Status.COMPLETED, 0), counts.get(Status.FAILED, 0))
    return {
        "since": since,
        "total": sum(by_status.values()),
        "by_status": {state: by_status.get(state, 0) for state in Status.values},
        "success_rate": _rate(by_status.get(Status.COMPLETED, 0), by_status.get(Status.FAILED, 0)),
        "duration_seconds": duration_percentiles(rows.filter(duration_seconds__isnull=False)),
        "by_extension": per_extension,
    }


def _rate(completed: int, failed: int) -> float | None:
    return round(completed / (completed + failed), 4) if completed + failed else None


def duration_percentiles(rows) -> dict[str, float | None]:
    """p50/p95/p99/max: computed by PostgreSQL itself there; in Python on SQLite (the embedded, small case)."""
    keys = ("p50", "p95", "p99", "max")
    if connection.vendor == "postgresql":
        try:
            sql, params = rows.values("duration_seconds").query.sql_with_params()
        except EmptyResultSet:  # nothing visible: no query to run
            return dict.fromkeys(keys)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_seconds), "
                f"max(duration_seconds) FROM ({sql}) AS finished",
                params,
            )
            percentiles, maximum = cursor.fetchone()
        values = [*(percentiles or [None, None, None]), maximum]
        return {key: round(value, 6) if value is not None else None for key, value in zip(keys, values, strict=True)}
    return percentiles_of(sorted(rows.values_list("duration_seconds", flat=True)))


def percentiles_of(durations: list[float]) -> dict[str, float | None]:
    """p50/p95/p99/max of sorted *durations*, interpolated as PostgreSQL's percentile_cont does."""
    if not durations:
        return dict.fromkeys(("p50", "p95", "p99", "max"))

    def at(fraction: float) -> float:
        position = fraction * (len(durations) - 1)
        low = int(position)
        high = min(low + 1, len(durations) - 1)
        return round(durations[low] + (durations[high] - durations[low]) * (position - low), 6)

    return {"p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": durations[-1]}
