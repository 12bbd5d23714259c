"""Admin for background tasks: definitions (schedules editable, run now), executions (cancel), triggers, events.

Beat rows of task definitions edited on django-celery-beat's own page write
back to the definition, so the edit survives the next manifest resync.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask
from guardian.admin import GuardedModelAdminMixin

from extensions_core.admin.runs import LIVE_SECONDS, log_html
from extensions_core.due_times import Schedule
from extensions_core.exceptions import ExecutionNotFoundError, ExtensionError
from extensions_core.executions.states import Status
from extensions_core.manifest.checks import task_schedule_problems
from extensions_core.models import Event, EventTrigger, TaskDefinition, TaskExecution
from extensions_core.permissions import can_run_task
from extensions_core.schedules import PERIODIC_TASK_PREFIX
from extensions_core.selectors import execution_get_for_user, execution_list_for_user
from extensions_core.services import task_definition_override
from extensions_core.services.events import trigger_create, trigger_delete, trigger_update
from extensions_core.services.executions import execution_cancel, execution_start

STATUS_COLOURS = {
    Status.PENDING: "#9a6700",
    Status.RUNNING: "#0969da",
    Status.COMPLETED: "#1a7f37",
    Status.FAILED: "#cf222e",
    Status.CANCELLED: "#6e7781",
}


def _url_name(model_admin: admin.ModelAdmin, view: str) -> str:
    opts = model_admin.model._meta
    return f"{opts.app_label}_{opts.model_name}_{view}"


def _next_or(request: HttpRequest, fallback: str) -> str:
    """Return the POSTed `next` if it is a path of this site, else *fallback*."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


def _zone_note(moment) -> str:
    """The zone's name when its abbreviation does not already say it ("Europe/Paris" beside "CET")."""
    name = str(moment.tzinfo)
    return "" if name == moment.strftime("%Z") else name


def schedule_of(definition: TaskDefinition) -> Schedule | None:
    """Return the definition's schedule (cron in its time zone, or interval), or None when it has none."""
    if definition.interval_seconds:
        return Schedule(interval_seconds=definition.interval_seconds)
    if definition.schedule:
        return Schedule(cron=definition.schedule, timezone=definition.timezone or "UTC")
    return None


def _pretty(value) -> str:
    if value in (None, "", [], {}):
        return "-"
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', json.dumps(value, indent=2))


class TaskDefinitionForm(forms.ModelForm):
    class Meta:
        model = TaskDefinition
        fields = list(TaskDefinition.OPERATOR_FIELDS)

    def clean(self):
        data = super().clean()
        schedule = " ".join((data.get("schedule") or "").split())
        interval = data.get("interval_seconds")
        if schedule and interval and {"schedule", "interval_seconds"} <= set(self.changed_data):
            raise forms.ValidationError("Give a cron schedule or an interval, not both.")
        for problem in task_schedule_problems(
            schedule=schedule or None,
            interval_seconds=None if "schedule" in self.changed_data and schedule else interval,
            timezone=data.get("timezone"),
        ):
            field = problem.field.rsplit(".", 1)[-1]
            self.add_error(field if field in self.fields else None, problem.message)
        return data


@admin.register(TaskDefinition)
class TaskDefinitionAdmin(GuardedModelAdminMixin, admin.ModelAdmin):
    """Task definitions from manifests; operators may change the fields in OPERATOR_FIELDS and run them now."""

    form = TaskDefinitionForm
    change_form_template = "admin/extensions_core/taskdefinition/change_form.html"
    list_display = ["__str__", "kind", "schedule_in_words", "is_enabled", "is_isolated", "is_present", "run_link"]
    list_filter = ["is_enabled", "is_present", "extension"]
    search_fields = ["name", "extension__name", "description"]
    actions = ["run_now"]
    fields = [
        "extension",
        "name",
        "function",
        "description",
        "schedule_in_words",
        "depends_on",
        "parameters_schema",
        "triggers",
        "is_present",
        "overridden_fields",
        "beat_row",
        *TaskDefinition.OPERATOR_FIELDS,
    ]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [field for field in self.fields if field not in TaskDefinition.OPERATOR_FIELDS]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # definitions come from manifests

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the next sync from the manifest would bring it back; disable it instead

    def get_urls(self):
        from django.urls import path

        from extensions_core.admin.runs import run_form_view

        run = path("<path:definition_id>/run/", self.admin_site.admin_view(run_form_view), name=_url_name(self, "run"))
        return [run, *super().get_urls()]

    @admin.display(description="schedule")
    def schedule_in_words(self, obj: TaskDefinition) -> str:
        schedule = schedule_of(obj)
        if schedule is None:
            return (
                "manual or event-triggered"
                if not obj.triggers
                else "on events: " + ", ".join(str(trigger.get("event")) for trigger in obj.triggers)
            )
        return format_html('{} <code title="as declared">{}</code>', schedule.in_words(), schedule.describe())

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        definition = self.get_object(request, object_id)
        extra = {}
        if definition is not None:
            schedule = schedule_of(definition)
            since = timezone.now() - timedelta(hours=24)
            counts = Counter(
                dict(
                    definition.executions.filter(queued_at__gte=since)
                    .order_by()
                    .values_list("status")
                    .annotate(n=Count("id"))
                    .values_list("status", "n")
                )
            )
            finished = counts[Status.COMPLETED] + counts[Status.FAILED]
            extra = {
                "next_runs": [
                    (due.isoformat(), due.strftime("%a %Y-%m-%d %H:%M:%S %Z"), _zone_note(due))
                    for due in (schedule.upcoming(timezone.now(), 5) if schedule and definition.is_enabled else [])
                ],
                "recent_runs": list(definition.executions.order_by("-queued_at")[:10]),
                "counts_24h": counts,
                "success_rate_24h": round(100 * counts[Status.COMPLETED] / finished) if finished else None,
                "may_run": can_run_task(request.user, definition),
            }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    @admin.display(description="")
    def run_link(self, obj: TaskDefinition) -> str:
        return format_html(
            "<a class='button' href='{}'>Run…</a>", reverse("admin:extensions_core_taskdefinition_run", args=[obj.pk])
        )

    @admin.display(description="beat schedule row")
    def beat_row(self, obj: TaskDefinition) -> str:
        row = PeriodicTask.objects.filter(name=f"{PERIODIC_TASK_PREFIX}{obj.extension.name}/{obj.name}").first()
        if row is None:
            return "-"
        url = reverse("admin:django_celery_beat_periodictask_change", args=[row.pk])
        state = "enabled" if row.enabled else "disabled (task disabled or extension not active)"
        last = row.last_run_at.strftime("%Y-%m-%d %H:%M:%S %Z") if row.last_run_at else "never"
        return format_html('<a href="{}">{}</a> — {}, last run {}', url, row.name, state, last)

    def save_model(self, request: HttpRequest, obj: TaskDefinition, form, change: bool) -> None:
        changes = {
            field: form.cleaned_data[field] for field in form.changed_data if field in TaskDefinition.OPERATOR_FIELDS
        }
        if changes:
            task_definition_override(definition=TaskDefinition.objects.get(pk=obj.pk), changes=changes)

    @admin.action(description="Run the selected tasks now (no parameters)")
    def run_now(self, request: HttpRequest, queryset) -> None:
        for definition in queryset.select_related("extension"):
            if not can_run_task(request.user, definition):
                self.message_user(
                    request, f"{definition}: you may not run it (needs run_taskdefinition).", level=messages.ERROR
                )
                continue
            try:
                execution = execution_start(
                    definition=definition,
                    trigger_type=TaskExecution.Trigger.MANUAL,
                    triggered_by=f"user {request.user.get_username()} (admin)",
                    user=request.user,
                )
            except ExtensionError as error:
                self.message_user(request, f"{definition}: {error.message}", level=messages.ERROR)
                continue
            url = reverse("admin:extensions_core_taskexecution_change", args=[execution.pk])
            self.message_user(
                request,
                format_html('{}: started <a href="{}">{}</a>', definition, url, execution.pk),
                level=messages.SUCCESS,
            )


@admin.register(TaskExecution)
class TaskExecutionAdmin(admin.ModelAdmin):
    """Every run: filter by status, trigger, reason and task; read its result, error, traceback and log; cancel it."""

    change_form_template = "admin/extensions_core/taskexecution/change_form.html"
    list_display = [
        "short_id",
        "extension_name",
        "task_name",
        "status_badge",
        "failure_reason",
        "trigger_type",
        "attempt",
        "queued_at",
        "duration_seconds",
    ]
    list_filter = ["status", "trigger_type", "failure_reason", "extension_name", "task_name"]
    search_fields = ["=id", "task_name", "extension_name", "error"]
    date_hierarchy = "queued_at"
    list_per_page = 50
    show_full_result_count = False  # no COUNT(*) over millions of rows on every page
    actions = ["cancel_selected"]
    fieldsets = [
        (None, {"fields": ["id", "extension_name", "task_name", "status_badge", "failure_reason", "error"]}),
        (
            "Trigger",
            {
                "fields": [
                    "trigger_type",
                    "triggered_by",
                    "user",
                    "event",
                    "parent",
                    "retry_of",
                    "attempt",
                    "max_attempts",
                    "parameters_pretty",
                ]
            },
        ),
        (
            "Timing",
            {
                "fields": [
                    "queued_at",
                    "started_at",
                    "finished_at",
                    "duration_seconds",
                    "timeout_seconds",
                    "heartbeat_at",
                    "cancel_requested_at",
                    "worker",
                    "is_isolated",
                ]
            },
        ),
        ("Resources", {"fields": ["cpu_seconds", "peak_memory_mb"]}),
        ("Outcome", {"fields": ["result_pretty", "traceback_pretty"]}),
        ("Delivery", {"classes": ["collapse"], "fields": ["dispatched_at", "dispatch_count", "dispatch_error"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [field for _, options in self.fieldsets for field in options["fields"]]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a record of what happened; cancelling is its one action

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a record of what happened (and the dashboard reuses the figures of ended runs)

    def get_urls(self):
        from django.urls import path

        from extensions_core.admin.runs import execution_live_view, run_again_view

        wrap = self.admin_site.admin_view
        return [
            path("<path:execution_id>/live/", wrap(execution_live_view), name=_url_name(self, "live")),
            path("<path:execution_id>/run-again/", wrap(run_again_view), name=_url_name(self, "run_again")),
            path("<path:execution_id>/cancel/", wrap(self.cancel_view), name=_url_name(self, "cancel")),
            *super().get_urls(),
        ]

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: TaskExecution) -> str:
        text = str(obj.pk)
        return format_html('<span class="cr-mono" title="{}">{}…</span>', text, text[:8])

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: TaskExecution) -> str:
        colour = STATUS_COLOURS.get(obj.status, "#6e7781")
        return format_html('<b style="color: {}">{}</b>', colour, obj.get_status_display())

    @admin.display(description="parameters")
    def parameters_pretty(self, obj: TaskExecution) -> str:
        return _pretty(obj.parameters)

    @admin.display(description="result")
    def result_pretty(self, obj: TaskExecution) -> str:
        if obj.status != TaskExecution.Status.COMPLETED:
            return f"- (a {obj.get_status_display()} run has no result)" if obj.is_finished else "- (not finished)"
        return _pretty(obj.result)

    @admin.display(description="traceback")
    def traceback_pretty(self, obj: TaskExecution) -> str:
        if not obj.traceback:
            return "-"
        return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', obj.traceback)

    @admin.display(description="log")
    def log_lines(self, obj: TaskExecution) -> str:
        if not obj.log:
            return "-"
        text = "\n".join(f"{at}  {level:<8} {message}" for at, level, message in obj.log)
        return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)

    @admin.display(description="peak memory (MB)")
    def peak_memory_mb(self, obj: TaskExecution) -> str:
        return f"{obj.peak_memory_bytes / 2**20:.1f}" if obj.peak_memory_bytes else "-"

    def _cancel(self, request: HttpRequest, execution: TaskExecution) -> None:
        if execution.definition is not None and not can_run_task(request.user, execution.definition):
            self.message_user(
                request, f"{execution.id}: you may not cancel it (needs run_taskdefinition).", level=messages.ERROR
            )
            return
        try:
            execution = execution_cancel(execution=execution, by=f"user {request.user.get_username()} (admin)")
        except ExtensionError as error:
            self.message_user(request, error.message, level=messages.WARNING)
            return
        note = "asked to stop (within seconds)" if execution.status == Status.RUNNING else execution.status
        self.message_user(request, f"{execution.id}: {note}.", level=messages.SUCCESS)

    @admin.action(description="Cancel the selected executions")
    def cancel_selected(self, request: HttpRequest, queryset) -> None:
        for execution in queryset.select_related("definition__extension"):
            self._cancel(request, execution)

    def cancel_view(self, request: HttpRequest, execution_id: str):
        """POST: cancel one run; back to `next` (same site only) or the run's page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        execution = self.get_object(request, execution_id)
        if execution is None:
            raise Http404("No such run is visible to you.")
        self._cancel(request, execution)
        return HttpResponseRedirect(
            _next_or(request, reverse("admin:extensions_core_taskexecution_change", args=[execution.pk]))
        )

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        if request.method == "POST" and "_cancel_execution" in request.POST:
            execution = self.get_object(request, object_id)
            if execution is not None:
                self._cancel(request, execution)
            return HttpResponseRedirect(request.path)
        execution = self.get_object(request, object_id)
        extra = {}
        if execution is not None:
            may_run = execution.definition is not None and can_run_task(request.user, execution.definition)
            extra = {
                "execution": execution,
                "can_cancel": not execution.is_finished and (may_run or execution.definition is None),
                "can_run_again": may_run and execution.is_finished,
                "line_count": len(execution.log or []),
                "log_html": log_html(execution.log or []),
                "live_seconds": LIVE_SECONDS,
                "live_url": reverse("admin:extensions_core_taskexecution_live", args=[execution.pk]),
            }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def get_queryset(self, request: HttpRequest):
        # Only the runs of task definitions the viewer may see (runs of a removed definition: superusers).
        # The list never shows the large fields; a run's own page reads its row whole (get_object).
        return execution_list_for_user(request.user).defer("log", "result", "traceback", "parameters")

    def get_object(self, request: HttpRequest, object_id: str, from_field=None):
        """Read the run whole, once per request (the page's context and the admin's form both ask for it)."""
        cached = getattr(request, "_karen_execution", None)
        if cached is not None and cached[0] == object_id:
            return cached[1]
        try:
            execution = execution_get_for_user(request.user, object_id)
        except ExecutionNotFoundError:
            execution = None
        request._karen_execution = (object_id, execution)
        return execution


class EventTriggerForm(forms.ModelForm):
    class Meta:
        model = EventTrigger
        fields = ["definition", "event_type", "filter_conditions", "is_enabled"]

    def clean(self):
        data = super().clean()
        from extensions_core.services.events import event_type_check, filter_conditions_check

        try:
            if "event_type" in data:
                event_type_check(data["event_type"])
            filter_conditions_check(data.get("filter_conditions") or {})
        except ExtensionError as error:
            raise forms.ValidationError(error.message) from error
        return data


@admin.register(EventTrigger)
class EventTriggerAdmin(admin.ModelAdmin):
    """Triggers from manifests, the API and here; add, edit, enable or delete them."""

    form = EventTriggerForm
    list_display = ["event_type", "definition", "filter_conditions", "is_enabled", "source", "updated_at"]
    list_filter = ["is_enabled", "source", "event_type"]
    search_fields = ["event_type", "definition__name", "definition__extension__name"]

    def save_model(self, request: HttpRequest, obj: EventTrigger, form, change: bool) -> None:
        if change:
            changes = {field: form.cleaned_data[field] for field in form.changed_data if field != "definition"}
            trigger_update(trigger=EventTrigger.objects.get(pk=obj.pk), changes=changes)
        else:
            created = trigger_create(
                definition=form.cleaned_data["definition"],
                event_type=form.cleaned_data["event_type"],
                filter_conditions=form.cleaned_data.get("filter_conditions"),
                is_enabled=form.cleaned_data.get("is_enabled", True),
                source=EventTrigger.Source.ADMIN,
                created_by=f"user {request.user.get_username()}",
            )
            obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: EventTrigger) -> None:
        trigger_delete(trigger=obj)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The event history (read only): what was emitted, by whom, and which tasks it started."""

    list_display = ["created_at", "event_type", "source", "emitted_by", "started", "depth"]
    list_filter = ["event_type", "source"]
    search_fields = ["=id", "event_type", "emitted_by"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = [
        "id",
        "event_type",
        "source",
        "emitted_by",
        "user",
        "caused_by",
        "depth",
        "created_at",
        "data_pretty",
        "triggered_pretty",
        "suppressed",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="tasks started")
    def started(self, obj: Event) -> int:
        return sum(1 for entry in obj.triggered_tasks if entry.get("execution_id"))

    @admin.display(description="event data")
    def data_pretty(self, obj: Event) -> str:
        return _pretty(obj.event_data)

    @admin.display(description="triggered tasks")
    def triggered_pretty(self, obj: Event) -> str:
        return _pretty(obj.triggered_tasks)


class PlatformPeriodicTaskAdmin(PeriodicTaskAdmin):
    """django-celery-beat's page; on a task definition's row, a schedule or enabled edit goes to the definition."""

    def save_model(self, request: HttpRequest, obj: PeriodicTask, form, change: bool) -> None:
        if not (change and obj.name.startswith(PERIODIC_TASK_PREFIX)):
            return super().save_model(request, obj, form, change)
        extension_name, _, task_name = obj.name[len(PERIODIC_TASK_PREFIX) :].partition("/")
        definition = (
            TaskDefinition.objects.select_related("extension")
            .filter(extension__name=extension_name, name=task_name)
            .first()
        )
        if definition is None:
            return super().save_model(request, obj, form, change)
        changes = {}
        if obj.crontab is not None and {"crontab"} & set(form.changed_data):
            cron = obj.crontab
            changes["schedule"] = " ".join(
                [cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week]
            )
            changes["timezone"] = str(cron.timezone)
        elif obj.interval is not None and {"interval"} & set(form.changed_data):
            seconds = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1, "microseconds": 1e-6}
            changes["interval_seconds"] = max(1, int(obj.interval.every * seconds[obj.interval.period]))
        if "enabled" in form.changed_data:
            changes["is_enabled"] = obj.enabled
        try:
            if changes:
                task_definition_override(definition=definition, changes=changes)
        except ExtensionError as error:
            self.message_user(request, f"Not saved: {error.message}", level=messages.ERROR)
            return None
        self.message_user(request, f"Saved to the task definition {definition} (it survives manifest resyncs).")
        return None


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PlatformPeriodicTaskAdmin)
