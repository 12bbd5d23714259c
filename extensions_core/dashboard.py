"""The control room's figures: overview, one card per extension, active runs, failures and runs over time.

Read-only and narrowed to what the viewer may see. The number of queries is
fixed: it grows neither with the number of extensions nor of executions. The
24 h figures (cards, the day's window, the chart) come from run_figures, which
reads each ended ten-minute slice of runs once; the last hour is read directly.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, F, Func, IntegerField, QuerySet
from django.urls import reverse
from django.utils import timezone

from extensions_core.conf import EXECUTION_STALE_AFTER
from extensions_core.health import (
    beat_health,
    broker_status,
    database_health,
    duration_percentiles,
    extension_health,
    process_health,
)
from extensions_core.models import Extension, ProcessHeartbeat, TaskExecution
from extensions_core.permissions import (
    can_manage_extension,
    can_run_task,
    is_superuser,
    visible_extension_ids,
    visible_task_ids,
)
from extensions_core.run_figures import run_figures
from extensions_core.selectors import execution_list_for_user

Status = Extension.Status
Run = TaskExecution.Status
# A whole dashboard waits at most this long for the extensions' health checks (run side by side).
HEALTH_DEADLINE_SECONDS = 1.0
# Health reports are shown for this long; one older than HEALTH_REFRESH_AFTER_SECONDS is shown while a new
# check runs in the background, so a dashboard polled every 5 s never waits for health_check() after its first
# look, and each extension's check runs at most every 4 s per web process.
HEALTH_REUSE_SECONDS = 10.0
HEALTH_REFRESH_AFTER_SECONDS = 4.0
CHART_HOURS = 24
STATUS_COLOURS = {
    Status.ACTIVE: "#1a7f37",
    Status.ERROR: "#cf222e",
    Status.DISABLED: "#6e7781",
    Status.NOT_LOADED: "#9a6700",
    Status.LOADING: "#0969da",
    Status.UNLOADING: "#0969da",
}
RUN_COLOURS = {
    Run.PENDING: "#9a6700",
    Run.RUNNING: "#0969da",
    Run.COMPLETED: "#1a7f37",
    Run.FAILED: "#cf222e",
    Run.CANCELLED: "#6e7781",
}


@dataclass(frozen=True, slots=True)
class Window:
    """Runs queued within a time window: counts, success rate and p95 duration."""

    label: str
    total: int
    by_status: dict[str, int]
    success_rate: float | None
    p95_seconds: float | None


@dataclass(slots=True)
class Card:
    """One extension as the dashboard shows it."""

    extension: Extension
    colour: str
    health: dict[str, Any] | None
    endpoints: int
    tasks: int
    runs_24h: int = 0
    completed_24h: int = 0
    failed_24h: int = 0
    cpu_seconds_24h: float = 0.0
    peak_memory_bytes_24h: int | None = None
    last_run_at: datetime | None = None
    actions: list[str] = field(default_factory=list)
    # The extension's admin URL; its lifecycle actions post to {admin_url}lifecycle/{action}/.
    admin_url: str = ""

    @property
    def failure_rate(self) -> float | None:
        """Failed among the runs that ended completed or failed (cancelled and unfinished ones are neither)."""
        finished = self.completed_24h + self.failed_24h
        return round(self.failed_24h / finished, 4) if finished else None

    @property
    def last_error(self) -> str:
        return self.extension.error_message or self.extension.reload_error_message


def _runs_for(user) -> QuerySet[TaskExecution]:
    rows = TaskExecution.objects.order_by()
    visible = visible_task_ids(user)
    return rows if visible is None else rows.filter(definition_id__in=visible)


def _extensions_for(user) -> QuerySet[Extension]:
    rows = Extension.objects.order_by("name")
    visible = visible_extension_ids(user)
    return rows if visible is None else rows.filter(pk__in=visible)


class _HealthBoard:
    """Extensions' health checks of this process, run side by side with one deadline and reused briefly.

    A report younger than HEALTH_REUSE_SECONDS is shown as it is; past
    HEALTH_REFRESH_AFTER_SECONDS a new check starts in the background for the
    next look (stale while revalidating). A check still running from an earlier
    look is not started again: the card says how long it has been running.
    """

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="karen-health")
        self.reports: dict[tuple[str, str, int], tuple[float, dict[str, Any]]] = {}
        self.running: dict[tuple[str, str, int], tuple[float, Any]] = {}
        self.lock = threading.Lock()

    def check(self, extensions: list[Extension], *, deadline: float) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        results: dict[str, dict[str, Any]] = {}
        waiting = {}
        with self.lock:
            for extension in extensions:
                key = (extension.name, extension.status, extension.revision)
                reused = self.reports.get(key)
                if reused and now - reused[0] < HEALTH_REUSE_SECONDS:
                    results[extension.name] = reused[1]
                    if now - reused[0] > HEALTH_REFRESH_AFTER_SECONDS and key not in self.running:
                        self.running[key] = (now, self.pool.submit(self._run, key, extension))
                    continue
                if key not in self.running:
                    self.running[key] = (now, self.pool.submit(self._run, key, extension))
                waiting[extension.name] = (key, *self.running[key])
        wait([future for _, _, future in waiting.values()], timeout=deadline)
        for name, (_key, started, future) in waiting.items():
            if future.done():
                results[name] = future.result()
                continue
            waited = time.monotonic() - started
            error = (
                f"health_check() has not returned after {waited:.1f} s"
                if future.running()
                else f"its health check waits for a free thread ({waited:.1f} s): other checks have not returned"
            )
            results[name] = {"healthy": False, "error": error, "details": {}}
        return results

    def _run(self, key: tuple[str, str, int], extension: Extension) -> dict[str, Any]:
        try:
            # This pool thread is the bound (check() waits only until its deadline): no second thread per check.
            report = extension_health(extension, timeout=None)
        finally:
            with self.lock:
                self.running.pop(key, None)
        with self.lock:
            # One report per extension: those of its earlier states and revisions go.
            for stale in [other for other in self.reports if other[0] == key[0] and other != key]:
                del self.reports[stale]
            self.reports[key] = (time.monotonic(), report)
        return report


health_board = _HealthBoard()


class JSONArrayLength(Func):
    """The length of the JSON array at *path* inside a JSON column; 0 when it is missing or not an array.

    Lets a list of extensions carry the counts of their manifests' endpoints and
    tasks without decoding each manifest in Python.
    """

    output_field = IntegerField()

    def __init__(self, column: str, *path: str) -> None:
        super().__init__(F(column))
        self.path = path

    def as_sql(self, compiler, connection, **extra):  # noqa: ARG002 - Func's signature
        column, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            value = f"({column}) #> %s::text[]"
            sql = f"COALESCE(CASE WHEN jsonb_typeof({value}) = 'array' THEN jsonb_array_length({value}) END, 0)"
            return sql, (*params, list(self.path), *params, list(self.path))
        json_path = "$" + "".join(f".{key}" for key in self.path)
        return f"COALESCE(json_array_length({column}, %s), 0)", (*params, json_path)


def extension_cards(user) -> list[Card]:
    """Return one card per extension *user* may see, with its health, 24 h run figures and allowed actions."""
    extensions = list(
        _extensions_for(user)
        .only(
            "name",
            "display_name",
            "version",
            "status",
            "is_enabled",
            "error_message",
            "reload_error_message",
            "revision",
            "status_changed_at",
        )
        .annotate(
            endpoint_count=JSONArrayLength("manifest", "api", "endpoints"),
            task_count=JSONArrayLength("manifest", "background_tasks"),
        )
    )
    active = [extension for extension in extensions if extension.status == Status.ACTIVE]
    health = health_board.check(active, deadline=HEALTH_DEADLINE_SECONDS) if active else {}
    figures = run_figures(user, hours=CHART_HOURS).by_extension()
    # One reverse for all cards (a reverse per card and action cost more than the rest of the part).
    listing = reverse("admin:extensions_core_extension_changelist")
    cards = []
    for extension in extensions:
        card = Card(
            admin_url=f"{listing}{extension.pk}/",
            extension=extension,
            colour=STATUS_COLOURS.get(extension.status, "#6e7781"),
            health=health.get(extension.name),
            endpoints=extension.endpoint_count,
            tasks=extension.task_count,
            actions=lifecycle_actions(user, extension),
        )
        row = figures.get(extension.name)
        if row:
            card.runs_24h, card.completed_24h, card.failed_24h = row.runs, row.completed, row.failed
            card.cpu_seconds_24h, card.peak_memory_bytes_24h = round(row.cpu_seconds, 3), row.peak_memory_bytes
            card.last_run_at = row.last_queued_at
        cards.append(card)
    return cards


def lifecycle_actions(user, extension: Extension) -> list[str]:
    """Return the lifecycle actions *user* may take on *extension* in its present state."""
    if not can_manage_extension(user, extension):
        return []
    if not extension.is_enabled or extension.status == Status.DISABLED:
        return ["enable"]
    if extension.status == Status.ACTIVE:
        return ["reload", "unload", "disable"]
    if extension.status in (Status.NOT_LOADED, Status.ERROR):
        return ["load", "disable"]
    return []


def _window(label: str, counts: Counter, p95_seconds: float | None) -> Window:
    completed, failed = counts.get(Run.COMPLETED, 0), counts.get(Run.FAILED, 0)
    return Window(
        label=label,
        total=sum(counts.values()),
        by_status={status: counts.get(status, 0) for status in Run.values},
        success_rate=round(completed / (completed + failed), 4) if completed + failed else None,
        p95_seconds=p95_seconds,
    )


def _last_hour(rows: QuerySet[TaskExecution]) -> Window:
    counts = Counter(dict(rows.values_list("status").annotate(n=Count("*")).values_list("status", "n")))
    return _window("last hour", counts, duration_percentiles(rows.filter(duration_seconds__isnull=False))["p95"])


def _last_day(user) -> Window:
    figures = run_figures(user, hours=CHART_HOURS, durations=True)
    since = timezone.localtime(figures.since).strftime("%H:%M")
    return _window(f"last 24 h (since {since})", figures.by_status(), figures.percentiles()["p95"])


class _BrokerReport:
    """The broker's component and queue depth, from one connection, reused for a few seconds per process."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.taken_at = float("-inf")
        self.report: tuple[dict[str, Any], dict[str, Any]] | None = None
        self.lock = threading.Lock()

    def get(self) -> tuple[dict[str, Any], dict[str, Any]]:
        with self.lock:
            if self.report is None or time.monotonic() - self.taken_at > self.seconds:
                self.report = broker_status()
                self.taken_at = time.monotonic()
            return self.report


# A live part polls every 5 s; several viewers (or parts) in that window share one look at the broker.
broker_report = _BrokerReport(seconds=3.0)


def overview(user, *, with_broker: bool = True) -> dict[str, Any]:
    """Return the overview: components, extensions by status and health, run windows, stuck runs."""
    now = timezone.now()
    components = {"database": database_health()}
    queue = None
    if with_broker:
        components["broker"], queue = broker_report.get()
    components["workers"] = process_health(ProcessHeartbeat.Role.WORKER, "worker")
    components["beat"] = beat_health()
    extensions = list(_extensions_for(user).only("name", "status", "is_enabled", "revision", "error_message"))
    by_status = Counter(extension.status for extension in extensions)
    active = [extension for extension in extensions if extension.status == Status.ACTIVE]
    health = health_board.check(active, deadline=HEALTH_DEADLINE_SECONDS) if active else {}
    enabled = [extension for extension in extensions if extension.is_enabled]
    healthy = sum(1 for report in health.values() if report.get("healthy"))
    runs = _runs_for(user)
    active_runs = runs.filter(status__in=TaskExecution.ACTIVE_STATUSES)
    stuck = active_runs.filter(status=Run.RUNNING, heartbeat_at__lt=now - EXECUTION_STALE_AFTER).count()
    return {
        "components": components,
        "queue": queue,
        "extensions_total": len(extensions),
        "extensions_by_status": [
            (status, label, by_status.get(status, 0), STATUS_COLOURS[status]) for status, label in Status.choices
        ],
        "health_percent": round(100 * healthy / len(enabled)) if enabled else None,
        "healthy": healthy,
        "enabled": len(enabled),
        "stuck": stuck,
        "windows": [_last_hour(runs.filter(queued_at__gte=now - timedelta(hours=1))), _last_day(user)],
        "checked_at": now,
    }


def runs_chart(user, *, hours: int = CHART_HOURS) -> dict[str, Any]:
    """Return runs per status per hour over the last *hours* hours, as stacked bars ready to draw."""
    now = timezone.now()
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    counts = run_figures(user, hours=hours).by_hour_and_status()
    bars = []
    for index in range(hours):
        hour = start + timedelta(hours=index)
        bars.append({"hour": hour, "counts": counts.get(hour, Counter())})
    peak = max((sum(bar["counts"].values()) for bar in bars), default=0) or 1
    width, height = 24, 120
    for index, bar in enumerate(bars):
        bottom = height
        segments = []
        for status in (Run.COMPLETED, Run.FAILED, Run.CANCELLED, Run.RUNNING, Run.PENDING):
            n = bar["counts"].get(status, 0)
            if not n:
                continue
            size = max(1.0, height * n / peak)
            bottom -= size
            segments.append({"status": status, "n": n, "y": round(bottom, 2), "h": round(size, 2)})
        bar.update(x=index * width, segments=segments, total=sum(bar["counts"].values()))
    return {
        "bars": bars,
        "peak": peak,
        "width": hours * width,
        "height": height,
        "bar_width": width - 4,
        "legend": [(status, RUN_COLOURS[status]) for status in Run.values],
        "colours": RUN_COLOURS,
    }


def active_runs(user, *, limit: int = 20) -> list[dict[str, Any]]:
    """Return the newest pending and running runs *user* may see, with elapsed time and whether it may cancel."""
    now = timezone.now()
    rows = list(
        execution_list_for_user(user, active_only=True)
        .select_related("definition__extension")
        .defer("log", "result", "traceback", "parameters")[:limit]
    )
    return [
        {
            "execution": row,
            "elapsed_seconds": (now - (row.started_at or row.queued_at)).total_seconds(),
            "may_cancel": row.definition is not None
            and can_run_task(user, row.definition)
            or (row.definition is None and is_superuser(user)),
        }
        for row in rows
    ]


def recent_failures(user, *, limit: int = 10, hours: int = 24) -> list[TaskExecution]:
    """Return the newest failed runs of the last *hours* hours that *user* may see."""
    since = timezone.now() - timedelta(hours=hours)
    return list(
        execution_list_for_user(user, status=Run.FAILED, since=since).only(
            "id", "extension_name", "task_name", "failure_reason", "error", "queued_at", "finished_at"
        )[:limit]
    )
