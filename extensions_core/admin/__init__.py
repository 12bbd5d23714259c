"""Admin for extensions: status and errors at a glance, the manifest readable, actions that call services."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from guardian.admin import GuardedModelAdminMixin
from knox.models import AuthToken

from extensions_core.exceptions import ExtensionError
from extensions_core.models import Extension
from extensions_core.permissions import UserPolicy, access_of, can_manage_extension
from extensions_core.services import (
    extension_disable,
    extension_enable,
    extension_load,
    extension_reload,
    extension_unload,
)

STATUS_COLOURS = {
    Extension.Status.ACTIVE: "#1a7f37",
    Extension.Status.ERROR: "#cf222e",
    Extension.Status.DISABLED: "#6e7781",
    Extension.Status.NOT_LOADED: "#9a6700",
    Extension.Status.LOADING: "#0969da",
    Extension.Status.UNLOADING: "#0969da",
}


def _run_for_each(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Extension],
    verb: str,
    service: Callable[[str], Extension],
) -> None:
    """Call *service* per selected extension the user may manage; report each outcome on its own line."""
    for extension in queryset.order_by("name"):
        if not can_manage_extension(request.user, extension):
            modeladmin.message_user(
                request,
                f'{verb} refused: you may not manage "{extension.name}" (needs manage_extension).',
                level=messages.ERROR,
            )
            continue
        try:
            result = service(extension.name)
        except ExtensionError as error:
            modeladmin.message_user(request, f"{verb} failed: {error.message}", level=messages.ERROR)
        else:
            modeladmin.message_user(
                request,
                f'{verb}: "{result.name}" is now {result.get_status_display()}.',
                level=messages.SUCCESS,
            )


@admin.register(Extension)
class ExtensionAdmin(GuardedModelAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "display_name",
        "version",
        "status_badge",
        "is_enabled",
        "category",
        "error_summary",
        "updated_at",
    ]
    list_filter = ["status", "is_enabled", "category", "source"]
    search_fields = ["name", "display_name", "description", "author"]
    ordering = ["name"]
    actions = ["load_selected", "unload_selected", "reload_selected", "enable_selected", "disable_selected"]
    readonly_fields = [
        "name",
        "version",
        "display_name",
        "description",
        "author",
        "license",
        "category",
        "source",
        "path",
        "entry_point",
        "is_enabled",
        "is_present",
        "status_badge",
        "revision",
        "error_code",
        "error_message",
        "error_traceback_display",
        "reload_error_code",
        "reload_error_message",
        "reload_failed_at",
        "reload_error_traceback_display",
        "loaded_at",
        "status_changed_at",
        "discovered_at",
        "created_at",
        "updated_at",
        "manifest_display",
        "warnings_display",
        "config_display",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "display_name",
                    "version",
                    "status_badge",
                    "is_enabled",
                    "revision",
                    "description",
                    "author",
                    "license",
                    "category",
                ]
            },
        ),
        ("Error", {"fields": ["error_code", "error_message", "error_traceback_display"]}),
        (
            "Last reload failed (the running version keeps serving)",
            {
                "fields": [
                    "reload_failed_at",
                    "reload_error_code",
                    "reload_error_message",
                    "reload_error_traceback_display",
                ]
            },
        ),
        ("Source", {"fields": ["source", "path", "entry_point", "is_present", "discovered_at"]}),
        ("Manifest", {"fields": ["manifest_display", "warnings_display"]}),
        ("Configuration", {"fields": ["config_display"]}),
        ("Times", {"fields": ["loaded_at", "status_changed_at", "created_at", "updated_at"]}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # extensions arrive by discovery, never by hand

    def get_fieldsets(self, request: HttpRequest, obj: Extension | None = None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not obj.error_code:
            fieldsets = [item for item in fieldsets if item[0] != "Error"]
        if obj is not None and not obj.reload_error_code:
            fieldsets = [item for item in fieldsets if not str(item[0]).startswith("Last reload")]
        return fieldsets

    def has_change_permission(self, request: HttpRequest, obj: Extension | None = None) -> bool:
        return request.user.has_perm("extensions_core.change_extension") or bool(
            obj and can_manage_extension(request.user, obj)
        )

    def has_manage_permission(self, request: HttpRequest) -> bool:
        """Whether the lifecycle actions are offered: the user manages some extension (checked per object)."""
        user = request.user
        return can_manage_extension(user) or any(
            "manage_extension" in codenames for codenames in access_of(user).object_permissions.values()
        )

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Extension) -> str:
        return format_html(
            '<span style="color:#fff;background:{};padding:2px 8px;border-radius:10px;font-weight:600">{}</span>',
            STATUS_COLOURS.get(obj.status, "#6e7781"),
            obj.get_status_display(),
        )

    @admin.display(description="error")
    def error_summary(self, obj: Extension) -> str:
        if obj.error_code:
            return format_html('<span title="{}"><code>{}</code></span>', obj.error_message, obj.error_code)
        if obj.reload_error_code:
            message, code = obj.reload_error_message, obj.reload_error_code
            return format_html('<span title="{}">reload failed: <code>{}</code></span>', message, code)
        return "-"

    @admin.display(description="traceback")
    def error_traceback_display(self, obj: Extension) -> str:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", obj.error_traceback or "-")

    @admin.display(description="traceback")
    def reload_error_traceback_display(self, obj: Extension) -> str:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", obj.reload_error_traceback or "-")

    @admin.display(description="extension.json")
    def manifest_display(self, obj: Extension) -> str:
        return format_html(
            "<pre style='max-height:32em;overflow:auto'>{}</pre>",
            json.dumps(obj.manifest, indent=2, ensure_ascii=False),
        )

    @admin.display(description="warnings")
    def warnings_display(self, obj: Extension) -> str:
        if not obj.manifest_warnings:
            return "-"
        lines = "\n".join(f"{item['field']}: {item['message']}" for item in obj.manifest_warnings)
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", lines)

    @admin.display(description="configuration")
    def config_display(self, obj: Extension) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.config, indent=2, ensure_ascii=False))

    @admin.action(description="Load selected extensions", permissions=["manage"])
    def load_selected(self, request: HttpRequest, queryset: QuerySet[Extension]) -> None:
        _run_for_each(
            self, request, queryset, "Load", lambda name: extension_load(name=name, actor=UserPolicy(request.user))
        )

    @admin.action(description="Unload selected extensions", permissions=["manage"])
    def unload_selected(self, request: HttpRequest, queryset: QuerySet[Extension]) -> None:
        _run_for_each(
            self, request, queryset, "Unload", lambda name: extension_unload(name=name, actor=UserPolicy(request.user))
        )

    @admin.action(description="Reload selected extensions", permissions=["manage"])
    def reload_selected(self, request: HttpRequest, queryset: QuerySet[Extension]) -> None:
        _run_for_each(
            self, request, queryset, "Reload", lambda name: extension_reload(name=name, actor=UserPolicy(request.user))
        )

    @admin.action(description="Enable selected extensions", permissions=["manage"])
    def enable_selected(self, request: HttpRequest, queryset: QuerySet[Extension]) -> None:
        _run_for_each(
            self, request, queryset, "Enable", lambda name: extension_enable(name=name, actor=UserPolicy(request.user))
        )

    @admin.action(description="Disable selected extensions", permissions=["manage"])
    def disable_selected(self, request: HttpRequest, queryset: QuerySet[Extension]) -> None:
        _run_for_each(
            self,
            request,
            queryset,
            "Disable",
            lambda name: extension_disable(name=name, actor=UserPolicy(request.user)),
        )


admin.site.unregister(AuthToken)


class ApiTokenCreateForm(forms.ModelForm):
    """Create a token for a user; its secret is shown once, in the confirmation message."""

    expires_days = forms.IntegerField(
        min_value=1, max_value=3650, initial=30, required=False, help_text="Leave empty for a token that never expires."
    )

    class Meta:
        model = AuthToken
        fields = ["user"]


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens: stored hashed; create shows the token once; delete revokes."""

    list_display = ["token_key", "user", "created", "expiry", "is_expired"]
    list_filter = ["created", "expiry"]
    search_fields = ["token_key", "user__username"]
    raw_id_fields = ["user"]
    readonly_fields = ["token_key", "user", "created", "expiry"]
    actions = ["delete_selected"]

    def get_form(self, request: HttpRequest, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request: HttpRequest, obj=None):
        return ["user", "expires_days"] if obj is None else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    @admin.display(boolean=True, description="expired")
    def is_expired(self, token: AuthToken) -> bool:
        return token.expiry is not None and token.expiry < timezone.now()

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        days = form.cleaned_data.get("expires_days")
        instance, secret = AuthToken.objects.create(
            form.cleaned_data["user"], expiry=timedelta(days=days) if days else None
        )
        for field in ("digest", "token_key", "created", "expiry"):
            setattr(obj, field, getattr(instance, field))
        self.message_user(
            request,
            f"Token for {instance.user.get_username()}, shown only now: {secret}",
            level=messages.WARNING,
        )

    def response_add(self, request: HttpRequest, obj, post_url_continue=None):
        from django.http import HttpResponseRedirect
        from django.urls import reverse

        return HttpResponseRedirect(reverse("admin:knox_authtoken_changelist"))


from extensions_core.admin import tasks  # noqa: E402,F401 - registers the task admins
