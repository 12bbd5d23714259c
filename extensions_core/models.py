"""Persistent state: extensions (the operator's wish and what the platform observed) and the change marker."""

from __future__ import annotations

from django.db import models

from extensions_core.executions.states import ACTIVE_STATUSES, FailureReason
from extensions_core.executions.states import Status as RunStatus
from extensions_core.executions.states import Trigger as RunTrigger


class Extension(models.Model):
    """One extension package known to the platform, with its desired and observed state."""

    class Status(models.TextChoices):
        NOT_LOADED = "not_loaded", "not loaded"
        LOADING = "loading", "loading"
        ACTIVE = "active", "active"
        ERROR = "error", "error"
        DISABLED = "disabled", "disabled"
        UNLOADING = "unloading", "unloading"

    class Source(models.TextChoices):
        DIRECTORY = "directory", "extension folder"
        ENTRY_POINT = "entry_point", "installed distribution"

    name = models.SlugField(max_length=50, unique=True)
    version = models.CharField(max_length=64, blank=True)
    display_name = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    author = models.CharField(max_length=200, blank=True)
    license = models.CharField(max_length=100, blank=True)
    category = models.CharField(max_length=50, blank=True, db_index=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.DIRECTORY)
    path = models.CharField(max_length=1024, help_text="Folder of the extension package.")
    entry_point = models.CharField(max_length=300, blank=True)
    manifest = models.JSONField(default=dict, blank=True, help_text="extension.json as last read.")
    manifest_warnings = models.JSONField(default=list, blank=True)
    config = models.JSONField(default=dict, blank=True)
    is_enabled = models.BooleanField(default=True, help_text="The operator's wish.")
    is_present = models.BooleanField(default=True, help_text="Found by the last discovery.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOT_LOADED, db_index=True)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    error_traceback = models.TextField(blank=True)
    # Why the version on disk could not replace the running one (a failed reload, or a discovery that found its
    # manifest broken); the running version keeps serving and its status is unchanged.
    reload_error_code = models.CharField(max_length=100, blank=True)
    reload_error_message = models.TextField(blank=True)
    reload_error_traceback = models.TextField(blank=True)
    reload_failed_at = models.DateTimeField(null=True, blank=True)
    revision = models.PositiveIntegerField(
        default=0, help_text="Bumped on every load and reload; processes re-import when it changes."
    )
    code_digest = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the package as the current revision loaded it."
    )
    config_version = models.PositiveIntegerField(
        default=0, help_text="Bumped on every configuration change; processes call configure() when it changes."
    )
    loaded_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    discovered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("use_extension", "Can call the extension's endpoints"),
            ("manage_extension", "Can load, unload, reload, enable, disable and configure the extension"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def last_reload_error(self) -> dict | None:
        """Why the version on disk could not replace the running one, or None."""
        if not self.reload_error_code:
            return None
        return {
            "code": self.reload_error_code,
            "message": self.reload_error_message,
            "failed_at": self.reload_failed_at,
        }


class RegistryState(models.Model):
    """The shared change marker: one row whose generation grows with every extension state change.

    Each process compares it with the generation it last applied to decide
    whether to re-read extension rows.
    """

    generation = models.BigIntegerField(default=0)
    access_generation = models.BigIntegerField(
        default=0, help_text="Grows with every change of users, groups or permissions; drops cached access rules."
    )
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "registry state"

    def __str__(self) -> str:
        return f"generation {self.generation}"


class ProcessHeartbeat(models.Model):
    """A worker or beat process saying it is alive; health counts those seen recently."""

    class Role(models.TextChoices):
        WORKER = "worker", "Celery worker"
        BEAT = "beat", "Celery beat"

    role = models.CharField(max_length=10, choices=Role.choices)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["role", "hostname", "pid"], name="one_heartbeat_per_process")]

    def __str__(self) -> str:
        return f"{self.role} {self.hostname}:{self.pid}"


class SchedulerLease(models.Model):
    """Who may act alone for a role (the firing beat) until when; a holder renews it, anyone takes it once expired."""

    name = models.CharField(max_length=50, unique=True)
    holder = models.CharField(max_length=300, help_text="host:pid of the process holding it.")
    acquired_at = models.DateTimeField()
    renewed_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}: {self.holder} until {self.expires_at:%H:%M:%S}"


class TaskDefinition(models.Model):
    """A background task declared by an extension's manifest; operators may override some fields in admin."""

    class MisfirePolicy(models.TextChoices):
        RUN_ONCE = "run_once", "run once for all missed due times"
        SKIP = "skip", "skip missed due times"
        RUN_ALL = "run_all", "run each missed due time (at most 100)"

    # Fields an operator may change in admin; a manifest resync keeps the operator's values.
    OPERATOR_FIELDS = (
        "is_enabled",
        "schedule",
        "interval_seconds",
        "timezone",
        "timeout_seconds",
        "max_retries",
        "retry_backoff_seconds",
        "is_isolated",
        "misfire_policy",
    )

    extension = models.ForeignKey(Extension, on_delete=models.CASCADE, related_name="task_definitions")
    name = models.CharField(max_length=100)
    function = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    schedule = models.CharField(max_length=200, blank=True, help_text="5-field cron, as declared.")
    interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    timeout_seconds = models.FloatField(null=True, blank=True)
    max_retries = models.PositiveSmallIntegerField(default=0)
    retry_backoff_seconds = models.FloatField(default=0)
    is_isolated = models.BooleanField(default=True, help_text="Run in a separate process with limits.")
    misfire_policy = models.CharField(
        max_length=10,
        choices=MisfirePolicy.choices,
        default=MisfirePolicy.RUN_ONCE,
        help_text="What beat does with due times it missed while no beat ran (down, or no leader).",
    )
    depends_on = models.JSONField(default=list, blank=True)
    parameters_schema = models.JSONField(null=True, blank=True)
    triggers = models.JSONField(default=list, blank=True)
    is_enabled = models.BooleanField(default=True)
    is_present = models.BooleanField(default=True, help_text="Still declared by the extension's manifest.")
    overridden_fields = models.JSONField(default=list, blank=True, help_text="Fields an operator changed in admin.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["extension__name", "name"]
        constraints = [models.UniqueConstraint(fields=["extension", "name"], name="one_task_name_per_extension")]
        permissions = [("run_taskdefinition", "Can run the task by hand")]

    def __str__(self) -> str:
        return f"{self.extension.name}/{self.name}"

    @property
    def kind(self) -> str:
        """scheduled, event (triggered) or manual."""
        if self.schedule or self.interval_seconds:
            return "scheduled"
        return "event" if self.triggers else "manual"


class TaskExecution(models.Model):
    """One run of a task definition: what started it, where it ran, how it ended, and what it printed."""

    # The vocabulary is shared with the runner and the sandbox: extensions_core/executions/states.py.
    Status = RunStatus
    FailureReason = FailureReason
    Trigger = RunTrigger

    ACTIVE_STATUSES = ACTIVE_STATUSES

    id = models.UUIDField(primary_key=True, editable=False)
    definition = models.ForeignKey(
        TaskDefinition, on_delete=models.SET_NULL, null=True, blank=True, related_name="executions"
    )
    # Names are copied so history survives a definition's removal and filters need no join.
    extension_name = models.CharField(max_length=50)
    task_name = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.CharField(max_length=30, choices=FailureReason.choices, blank=True)
    trigger_type = models.CharField(max_length=10, choices=Trigger.choices)
    triggered_by = models.CharField(max_length=200, blank=True, help_text="User, schedule, event or execution.")
    user = models.ForeignKey("auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    parameters = models.JSONField(default=dict, blank=True)
    event = models.ForeignKey("Event", on_delete=models.SET_NULL, null=True, blank=True, related_name="executions")
    parent = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="dependencies",
        help_text="The execution waiting for this one (dependency runs).",
    )
    retry_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="retries",
        help_text="The failed attempt this one retries.",
    )
    is_waiting_for_dependencies = models.BooleanField(default=False)
    attempt = models.PositiveSmallIntegerField(default=1)
    max_attempts = models.PositiveSmallIntegerField(default=1)
    is_isolated = models.BooleanField(default=True)
    timeout_seconds = models.FloatField(null=True, blank=True)
    queued_at = models.DateTimeField()
    not_before = models.DateTimeField(null=True, blank=True, help_text="Retries wait for their backoff.")
    dispatched_at = models.DateTimeField(null=True, blank=True, help_text="Last time its message was sent.")
    dispatch_count = models.PositiveSmallIntegerField(default=0)
    dispatch_error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    log = models.JSONField(default=list, blank=True, help_text="Captured log lines: [at, level, message].")
    cpu_seconds = models.FloatField(null=True, blank=True)
    peak_memory_bytes = models.BigIntegerField(null=True, blank=True)
    worker = models.CharField(max_length=300, blank=True, help_text="host:pid of the process that ran it.")

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [
            models.Index(fields=["-queued_at", "-id"], name="execution_newest"),
            # The dashboard's 24 h figures (counts by status, per extension, per hour, durations, CPU, memory) read
            # only these columns: an index-only scan on PostgreSQL (INCLUDE is ignored elsewhere).
            models.Index(
                fields=["queued_at"],
                include=[
                    "definition",
                    "extension_name",
                    "status",
                    "duration_seconds",
                    "cpu_seconds",
                    "peak_memory_bytes",
                ],
                name="execution_recent_figures",
            ),
            models.Index(fields=["extension_name", "task_name", "-queued_at"], name="execution_task_newest"),
            models.Index(fields=["definition", "-queued_at"], name="execution_definition_newest"),
            models.Index(fields=["status", "-queued_at"], name="execution_status_newest"),
            models.Index(fields=["trigger_type", "-queued_at"], name="execution_trigger_newest"),
            models.Index(
                fields=["status", "heartbeat_at"],
                name="execution_active",
                condition=models.Q(status__in=[status.value for status in ACTIVE_STATUSES]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.extension_name}/{self.task_name} {self.id}"

    @property
    def is_finished(self) -> bool:
        return self.status not in self.ACTIVE_STATUSES


class Event(models.Model):
    """Something that happened, emitted by a person, a command, an extension or the platform."""

    class Source(models.TextChoices):
        API = "api", "API"
        COMMAND = "command", "command"
        EXTENSION = "extension", "extension (SDK)"
        SYSTEM = "system", "platform"
        ADMIN = "admin", "admin"

    id = models.UUIDField(primary_key=True, editable=False)
    event_type = models.CharField(max_length=100)
    event_data = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    emitted_by = models.CharField(max_length=200, blank=True)
    user = models.ForeignKey("auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    caused_by = models.ForeignKey(
        TaskExecution,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The execution that emitted it, if any.",
    )
    depth = models.PositiveSmallIntegerField(default=0, help_text="Events in the chain that led to this one.")
    triggered_tasks = models.JSONField(default=list, blank=True)
    suppressed = models.TextField(blank=True, help_text="Why matching triggers did not start (loop guard).")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="event_newest"),
            models.Index(fields=["event_type", "-created_at"], name="event_type_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.id}"


class EventTrigger(models.Model):
    """Start a task whenever an event of a type, whose data matches the filter, is emitted."""

    class Source(models.TextChoices):
        MANIFEST = "manifest", "manifest"
        API = "api", "API"
        ADMIN = "admin", "admin"

    definition = models.ForeignKey(TaskDefinition, on_delete=models.CASCADE, related_name="event_triggers")
    event_type = models.CharField(max_length=100, db_index=True)
    filter_conditions = models.JSONField(default=dict, blank=True)
    is_enabled = models.BooleanField(default=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["event_type", "id"]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.definition}"


class DashboardLayout(models.Model):
    """One viewer's arrangement of the dashboard's widgets: the order they are shown in and the ones hidden."""

    user = models.OneToOneField("auth.User", on_delete=models.CASCADE, related_name="dashboard_layout")
    order = models.JSONField(default=list, blank=True, help_text='Widget keys ("extension:widget") in the order shown.')
    hidden = models.JSONField(default=list, blank=True, help_text="Widget keys the viewer hid.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"dashboard layout of {self.user}"
