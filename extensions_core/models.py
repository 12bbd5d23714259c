"""Persistent state: extensions (the operator's wish and what the platform observed) and the change marker."""

from __future__ import annotations

from django.db import models


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
    revision = models.PositiveIntegerField(
        default=0, help_text="Bumped on every load and reload; processes re-import when it changes."
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


class TaskDefinition(models.Model):
    """A background task declared by an extension's manifest; operators may override some fields in admin."""

    # Fields an operator may change in admin; a manifest resync keeps the operator's values.
    OPERATOR_FIELDS = ("is_enabled", "timeout_seconds", "max_retries", "retry_backoff_seconds", "is_isolated")

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
