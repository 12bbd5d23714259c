"""Input and output serializers: shape only, no rules."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.validators import RegexValidator
from rest_framework import serializers

from extensions_core.executions.states import Status, Trigger
from extensions_core.models import Extension


class NoUnknownKeys:
    """Request bodies: a key the endpoint does not take is a 400 naming it, never silently dropped."""

    unknown_key_hint = ""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            accepted = sorted(name for name, field in self.fields.items() if not field.read_only)
            # The browsable API's HTML forms add their CSRF token; it is not part of the request's content.
            unknown = sorted(key for key in data if key not in accepted and key != "csrfmiddlewaretoken")
            if unknown:
                takes = ", ".join(f'"{name}"' for name in accepted)
                raise serializers.ValidationError(
                    {
                        key: [f'"{key}" is not taken here (this request takes {takes}){self.unknown_key_hint}']
                        for key in unknown
                    }
                )
        return super().to_internal_value(data)


class ProblemSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="JSON path of the offending value ('' for the whole input).")
    code = serializers.CharField(help_text="Stable snake_case code.")
    message = serializers.CharField(help_text="What is wrong and how to fix it.")


class ErrorSerializer(serializers.Serializer):
    """The one error body of the API."""

    code = serializers.CharField(help_text="Stable snake_case code, e.g. extension_not_found.")
    message = serializers.CharField(help_text="What went wrong, written for the person who must fix it.")
    problems = ProblemSerializer(many=True, required=False, help_text="Every problem found, when there are several.")


class EndpointSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="Full path, e.g. /api/extensions/hello-extension/hello/{name}.")
    methods = serializers.ListField(child=serializers.CharField())
    permissions = serializers.ListField(child=serializers.CharField(), help_text="Roles; any one suffices.")
    public = serializers.BooleanField()
    description = serializers.CharField(allow_blank=True)


class TaskSummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    function = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    schedule = serializers.CharField(allow_null=True)
    interval_seconds = serializers.IntegerField(allow_null=True)
    enabled = serializers.BooleanField()
    triggers = serializers.ListField(child=serializers.CharField(), help_text="Event names that start the task.")


class ReloadErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    failed_at = serializers.DateTimeField(allow_null=True)


class ExtensionSerializer(serializers.ModelSerializer):
    """An extension in lists."""

    enabled = serializers.BooleanField(source="is_enabled", read_only=True)
    capabilities = serializers.SerializerMethodField()
    last_reload_error = ReloadErrorSerializer(
        read_only=True,
        allow_null=True,
        help_text="Why the version on disk could not replace the running one (a failed reload, or a manifest "
        "that no longer validates); the running version keeps serving. Null when there is none.",
    )

    class Meta:
        model = Extension
        fields = [
            "name",
            "display_name",
            "version",
            "description",
            "author",
            "license",
            "category",
            "status",
            "enabled",
            "error_code",
            "error_message",
            "last_reload_error",
            "capabilities",
            "revision",
            "loaded_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_capabilities(self, extension: Extension) -> dict[str, bool]:
        return dict(extension.manifest.get("capabilities") or {})


class ExtensionDetailSerializer(ExtensionSerializer):
    """One extension: its manifest, state, error, endpoints and tasks."""

    manifest = serializers.JSONField(read_only=True, help_text="extension.json as loaded or last read.")
    manifest_warnings = ProblemSerializer(many=True, read_only=True)
    endpoints = serializers.SerializerMethodField()
    tasks = serializers.SerializerMethodField()
    source = serializers.CharField(read_only=True)
    error_traceback = serializers.CharField(read_only=True)

    class Meta(ExtensionSerializer.Meta):
        fields = [
            *ExtensionSerializer.Meta.fields,
            "source",
            "error_traceback",
            "manifest",
            "manifest_warnings",
            "endpoints",
            "tasks",
        ]
        read_only_fields = fields

    def get_endpoints(self, extension: Extension) -> list[dict]:
        endpoints = (extension.manifest.get("api") or {}).get("endpoints") or []
        return EndpointSerializer(
            [
                {
                    "path": f"/api/extensions/{extension.name}{item.get('path', '')}",
                    "methods": item.get("methods", []),
                    "permissions": item.get("permissions", []),
                    "public": bool(item.get("public", False)),
                    "description": item.get("description", ""),
                }
                for item in endpoints
            ],
            many=True,
        ).data

    def get_tasks(self, extension: Extension) -> list[dict]:
        tasks = extension.manifest.get("background_tasks") or []
        return TaskSummarySerializer(
            [
                {
                    "name": task.get("name", ""),
                    "function": task.get("function", ""),
                    "description": task.get("description", ""),
                    "schedule": task.get("schedule"),
                    "interval_seconds": task.get("interval_seconds"),
                    "enabled": task.get("enabled", True),
                    "triggers": [trigger.get("event", "") for trigger in task.get("triggers", [])],
                }
                for task in tasks
            ],
            many=True,
        ).data


class LifecycleQuerySerializer(serializers.Serializer):
    cascade = serializers.BooleanField(
        default=False, help_text="unload/disable: also unload the extensions that depend on this one."
    )


class ExtensionHealthSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.CharField(help_text="The extension's status.")
    healthy = serializers.BooleanField()
    details = serializers.DictField(help_text="What the extension's health_check() returned.")
    error = serializers.CharField(allow_blank=True, help_text="Why it is unhealthy, when it is.")
    checked_at = serializers.DateTimeField()


class ComponentHealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded", "down"])
    detail = serializers.CharField(allow_blank=True)
    latency_ms = serializers.FloatField(allow_null=True, required=False)
    count = serializers.IntegerField(required=False)


class BeatHealthSerializer(ComponentHealthSerializer):
    leader = serializers.CharField(allow_null=True, help_text="host:pid of the beat that fires the schedules.")


class SystemHealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded", "down"], help_text="Worst of the components.")
    database = ComponentHealthSerializer()
    broker = ComponentHealthSerializer()
    workers = ComponentHealthSerializer()
    beat = BeatHealthSerializer()
    extensions = serializers.DictField(child=serializers.IntegerField(), help_text="Visible extensions by status.")
    checked_at = serializers.DateTimeField()


class SystemStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Extensions visible to the caller.")
    by_status = serializers.DictField(child=serializers.IntegerField())
    by_category = serializers.DictField(child=serializers.IntegerField())
    by_capability = serializers.DictField(child=serializers.IntegerField())
    endpoints = serializers.IntegerField(help_text="Declared endpoints of the visible extensions.")
    tasks = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Declared tasks of the visible extensions: total, scheduled, event_triggered, manual.",
    )


class DiscoveredSerializer(serializers.Serializer):
    name = serializers.CharField(allow_null=True)
    folder = serializers.CharField()
    source = serializers.CharField()
    valid = serializers.BooleanField()
    error = ErrorSerializer(allow_null=True)


class DiscoverySerializer(serializers.Serializer):
    found = DiscoveredSerializer(many=True)
    created = serializers.ListField(child=serializers.CharField())
    updated = serializers.ListField(child=serializers.CharField())
    missing = serializers.ListField(child=serializers.CharField())
    loaded = serializers.ListField(child=serializers.CharField())
    load_errors = serializers.DictField(child=serializers.CharField())
    store_errors = serializers.DictField(
        child=serializers.CharField(), help_text="Packages whose row the database refused; the others were kept."
    )


class ExtensionConfigSerializer(serializers.Serializer):
    config = serializers.DictField(help_text="The stored configuration (PUT replaces it).")
    effective = serializers.DictField(read_only=True, help_text="Stored values over the schema's defaults.")
    schema = serializers.DictField(read_only=True, allow_null=True, help_text="The manifest's settings schema.")
    config_version = serializers.IntegerField(read_only=True)


class ConfigUpdateSerializer(NoUnknownKeys, serializers.Serializer):
    config = serializers.DictField(help_text="The new configuration; validated against the settings schema.")


# Documents in the schema what DRF's CharField enforces anyway: no NUL characters.
NO_NUL = RegexValidator(r"^[^\x00]*$", "Null characters are not allowed.")


class TokenRequestSerializer(NoUnknownKeys, serializers.Serializer):
    username = serializers.CharField(validators=[NO_NUL])
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False, validators=[NO_NUL])
    expires_days = serializers.IntegerField(min_value=1, max_value=3650, default=30)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`; shown only once.")
    expiry = serializers.DateTimeField(allow_null=True)


class TaskDefinitionSerializer(serializers.ModelSerializer):
    """A background task as declared by its extension (with operator overrides)."""

    extension_name = serializers.CharField(source="extension.name", read_only=True)
    task_name = serializers.CharField(source="name", read_only=True)
    enabled = serializers.BooleanField(source="is_enabled", read_only=True)
    isolated = serializers.BooleanField(source="is_isolated", read_only=True)
    kind = serializers.ChoiceField(choices=["scheduled", "event", "manual"], read_only=True)

    class Meta:
        from extensions_core.models import TaskDefinition

        model = TaskDefinition
        fields = [
            "extension_name",
            "task_name",
            "function",
            "description",
            "kind",
            "schedule",
            "interval_seconds",
            "timezone",
            "timeout_seconds",
            "max_retries",
            "retry_backoff_seconds",
            "isolated",
            "misfire_policy",
            "depends_on",
            "parameters_schema",
            "triggers",
            "enabled",
            "overridden_fields",
            "updated_at",
        ]
        read_only_fields = fields


class ExecutionSerializer(serializers.ModelSerializer):
    """One run of a task (the first system's fields, and more)."""

    execution_id = serializers.UUIDField(source="id", read_only=True)
    failure_reason = serializers.CharField(
        read_only=True,
        help_text="Empty unless failed: exception, timeout, memory_limit, cpu_limit, worker_lost, message_lost, "
        "dependency_failed, extension_unavailable, crashed, invalid_result.",
    )
    completed_at = serializers.DateTimeField(source="finished_at", read_only=True, allow_null=True)
    event_id = serializers.UUIDField(read_only=True, allow_null=True)
    retry_of = serializers.UUIDField(source="retry_of_id", read_only=True, allow_null=True)
    parent = serializers.UUIDField(source="parent_id", read_only=True, allow_null=True)
    user = serializers.CharField(source="user.username", read_only=True, allow_null=True, default=None)
    result = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        from extensions_core.models import TaskExecution

        model = TaskExecution
        fields = [
            "execution_id",
            "extension_name",
            "task_name",
            "status",
            "failure_reason",
            "trigger_type",
            "triggered_by",
            "user",
            "event_id",
            "parent",
            "retry_of",
            "attempt",
            "max_attempts",
            "is_isolated",
            "parameters",
            "queued_at",
            "started_at",
            "completed_at",
            "duration_seconds",
            "result",
            "error",
            "cpu_seconds",
            "peak_memory_bytes",
            "worker",
            "cancel_requested_at",
            "dispatch_error",
        ]
        read_only_fields = fields


class ExecutionDetailSerializer(ExecutionSerializer):
    """An execution with its traceback and captured log lines ([time, level, message])."""

    log = serializers.JSONField(read_only=True)

    class Meta(ExecutionSerializer.Meta):
        fields = [*ExecutionSerializer.Meta.fields, "timeout_seconds", "traceback", "log"]
        read_only_fields = fields


class ExecuteSerializer(NoUnknownKeys, serializers.Serializer):
    unknown_key_hint = '; a task\'s parameters go inside "parameters": {"parameters": {"name": "value"}}'

    parameters = serializers.DictField(required=False, default=dict, help_text="Checked against the task's schema.")


class ExecutionQuerySerializer(serializers.Serializer):
    extension = serializers.CharField(required=False)
    task = serializers.CharField(required=False)
    status = serializers.ChoiceField(choices=Status.values, required=False)
    trigger = serializers.ChoiceField(choices=Trigger.values, required=False)
    failure_reason = serializers.CharField(required=False)
    since = serializers.DateTimeField(required=False, help_text="Queued at or after (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Queued before (ISO 8601).")


class EventSerializer(serializers.ModelSerializer):
    """An event; the tasks it started are named only when the caller may see them (context "visible_tasks")."""

    event_id = serializers.UUIDField(source="id", read_only=True)
    event_data = serializers.JSONField(read_only=True)
    triggered_tasks = serializers.SerializerMethodField(
        help_text="Each started task you may see: trigger_id, extension_name, task_name, execution_id (or why not)."
    )
    triggered_elsewhere = serializers.SerializerMethodField(
        help_text="How many more tasks it started that you may not see (they are not named)."
    )

    def _split(self, event) -> tuple[list[dict], int]:
        entries = list(event.triggered_tasks or [])
        visible = self.context.get("visible_tasks")
        if visible is None:
            return entries, 0
        shown = [entry for entry in entries if (entry.get("extension_name"), entry.get("task_name")) in visible]
        return shown, len(entries) - len(shown)

    def get_triggered_tasks(self, event) -> list[dict]:
        return self._split(event)[0]

    def get_triggered_elsewhere(self, event) -> int:
        return self._split(event)[1]

    class Meta:
        from extensions_core.models import Event

        model = Event
        fields = [
            "event_id",
            "event_type",
            "event_data",
            "source",
            "emitted_by",
            "depth",
            "triggered_tasks",
            "triggered_elsewhere",
            "suppressed",
            "created_at",
        ]
        read_only_fields = fields


EVENT_TYPE_REGEX = r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$"


class EmitSerializer(NoUnknownKeys, serializers.Serializer):
    event_type = serializers.RegexField(
        EVENT_TYPE_REGEX, max_length=100, help_text="Dotted lowercase name, e.g. order.created."
    )
    event_data = serializers.DictField(required=False, default=dict, help_text="A JSON object.")


class EmitResultSerializer(EventSerializer):
    executions = ExecutionSerializer(
        source="started_executions", many=True, read_only=True, help_text="The executions the event started."
    )

    class Meta(EventSerializer.Meta):
        fields = [*EventSerializer.Meta.fields, "executions"]
        read_only_fields = fields


class TriggerSerializer(NoUnknownKeys, serializers.ModelSerializer):
    event_type = serializers.RegexField(EVENT_TYPE_REGEX, max_length=100)
    extension_name = serializers.CharField(source="definition.extension.name", max_length=50)
    task_name = serializers.CharField(source="definition.name", max_length=100)
    enabled = serializers.BooleanField(source="is_enabled", required=False, default=True)
    filter_conditions = serializers.DictField(
        required=False,
        default=dict,
        help_text="Plain keys: equality; operators $ne $in $gt $gte $lt $lte $exists $contains on dotted paths.",
    )

    class Meta:
        from extensions_core.models import EventTrigger

        model = EventTrigger
        fields = [
            "id",
            "event_type",
            "extension_name",
            "task_name",
            "filter_conditions",
            "enabled",
            "source",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "source", "created_by", "created_at", "updated_at"]


class TriggerUpdateSerializer(NoUnknownKeys, serializers.Serializer):
    event_type = serializers.RegexField(EVENT_TYPE_REGEX, max_length=100, required=False)
    filter_conditions = serializers.DictField(required=False)
    enabled = serializers.BooleanField(required=False)


class TaskStatsSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    total = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    success_rate = serializers.FloatField(allow_null=True, help_text="completed / (completed + failed).")
    duration_seconds = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="p50, p95, p99 and max of finished runs."
    )
    by_extension = serializers.DictField(child=serializers.DictField())


class TaskHealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    problems = serializers.ListField(child=serializers.CharField(), help_text="What is wrong when degraded.")
    workers = serializers.DictField()
    beat = serializers.DictField()
    queue = serializers.DictField(help_text="Messages waiting in the broker queue.")
    executions = serializers.DictField(help_text="running, pending, stuck (past heartbeat or dispatch deadlines).")
    checked_at = serializers.DateTimeField()


class ExecutionPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="Link to the next (older) page, or null.")
    previous = serializers.URLField(allow_null=True, help_text="Link to the previous (newer) page, or null.")
    results = ExecutionSerializer(many=True)


class EventPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="Link to the next (older) page, or null.")
    previous = serializers.URLField(allow_null=True, help_text="Link to the previous (newer) page, or null.")
    results = EventSerializer(many=True)
