"""The extension's admin page: status, health, endpoints, tasks, configuration, permissions and lifecycle buttons.

Read-only fields; every change goes through a service (lifecycle actions,
extension_configure), exactly as the API's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from guardian.admin import GuardedModelAdminMixin
from guardian.models import GroupObjectPermission, UserObjectPermission

from extensions_core.admin.tasks import _next_or
from extensions_core.api.schema import operation_id
from extensions_core.configuration import ConfigurationError, effective_config
from extensions_core.dashboard import STATUS_COLOURS, health_board, lifecycle_actions
from extensions_core.exceptions import ExtensionError
from extensions_core.manifest import Manifest
from extensions_core.models import Extension, TaskDefinition
from extensions_core.permissions import (
    UserPolicy,
    access_of,
    can_manage_extension,
    can_run_task,
    can_view_extension,
    visible_task_ids,
)
from extensions_core.schema_forms import SchemaForm
from extensions_core.services import (
    extension_configure,
    extension_disable,
    extension_enable,
    extension_load,
    extension_reload,
    extension_unload,
)

LIFECYCLE_SERVICES: dict[str, Callable[..., Extension]] = {
    "load": extension_load,
    "unload": extension_unload,
    "reload": extension_reload,
    "enable": extension_enable,
    "disable": extension_disable,
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


def _lifecycle_action(action: str) -> Callable:
    """Return the admin bulk action that applies the lifecycle service *action* to each selected extension."""
    service = LIFECYCLE_SERVICES[action]

    @admin.action(description=f"{action.capitalize()} selected extensions", permissions=["manage"])
    def run(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Extension]) -> None:
        _run_for_each(
            modeladmin,
            request,
            queryset,
            action.capitalize(),
            lambda name: service(name=name, actor=UserPolicy(request.user)),
        )

    run.__name__ = f"{action}_selected"
    return run


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
    change_form_template = "admin/extensions_core/extension/change_form.html"
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
        ("Manifest", {"classes": ["collapse"], "fields": ["manifest_display", "warnings_display"]}),
        ("Times", {"fields": ["loaded_at", "status_changed_at", "created_at", "updated_at"]}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # extensions arrive by discovery, never by hand

    def has_delete_permission(self, request: HttpRequest, obj: Extension | None = None) -> bool:
        return False  # an extension leaves by removing its folder and discovering; disable stops it

    def get_urls(self):
        wrap = self.admin_site.admin_view
        opts = self.model._meta
        return [
            path(
                "<path:object_id>/lifecycle/<slug:action>/",
                wrap(self.lifecycle_view),
                name=f"{opts.app_label}_{opts.model_name}_lifecycle",
            ),
            path(
                "<path:object_id>/configure/",
                wrap(self.configure_view),
                name=f"{opts.app_label}_{opts.model_name}_configure",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        extension = self.get_object(request, object_id)
        extra = {}
        if extension is not None:
            extra = {**extension_page_context(request, extension), "title": extension.display_name or extension.name}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Every field is read-only: changes go through the lifecycle buttons and the configuration form.
        context.update(
            show_save=False, show_save_and_continue=False, show_save_and_add_another=False, show_delete=False
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def lifecycle_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        """POST: load, unload, reload, enable or disable one extension; back to `next` or its page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        extension = self.get_object(request, object_id)
        if extension is None or not can_view_extension(request.user, extension):
            raise Http404("No such extension is visible to you.")
        if action not in LIFECYCLE_SERVICES:
            raise Http404(f"Unknown action {action!r}; use one of {', '.join(LIFECYCLE_SERVICES)}.")
        back = _next_or(request, reverse("admin:extensions_core_extension_change", args=[extension.pk]))
        _lifecycle_action(action)(self, request, Extension.objects.filter(pk=extension.pk))
        return HttpResponseRedirect(back)

    def configure_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: the configuration form, applied through the same service as PUT /api/extensions/{name}/config."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        extension = self.get_object(request, object_id)
        if extension is None or not can_view_extension(request.user, extension):
            raise Http404("No such extension is visible to you.")
        if not can_manage_extension(request.user, extension):
            raise PermissionDenied(f'You may not configure "{extension.name}" (needs manage_extension).')
        form = SchemaForm((extension.manifest or {}).get("settings"), request.POST)
        if form.is_valid():
            try:
                extension_configure(name=extension.name, config=form.value())
            except ConfigurationError as error:
                form.show_errors(error.problems)
            except ExtensionError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, f'Configuration of "{extension.name}" saved and applied.', messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:extensions_core_extension_change", args=[extension.pk]))
        self.message_user(request, "The configuration was not saved; see the form below.", messages.ERROR)
        return self.change_view(request, object_id, extra_context={"config_form": form})

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
            '<span class="cr-badge" style="background:{}">{}</span>',
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

    load_selected = _lifecycle_action("load")
    unload_selected = _lifecycle_action("unload")
    reload_selected = _lifecycle_action("reload")
    enable_selected = _lifecycle_action("enable")
    disable_selected = _lifecycle_action("disable")


def extension_page_context(request: HttpRequest, extension: Extension) -> dict[str, Any]:
    """Return what the extension's page shows beyond its fields, narrowed to the viewer."""
    user = request.user
    manifest = extension.manifest or {}
    name = extension.name
    endpoints = []
    for endpoint in (manifest.get("api") or {}).get("endpoints") or []:
        for method in endpoint.get("methods", []):
            operation = operation_id(name, endpoint["path"], method)
            endpoints.append(
                {
                    "method": method,
                    "path": f"/api/extensions/{name}{endpoint['path']}",
                    "roles": ", ".join(endpoint.get("permissions") or [])
                    or ("anyone" if endpoint.get("public") else "—"),
                    "description": endpoint.get("description", ""),
                    "docs_url": f"/api/docs/#/{name}/{operation}",
                }
            )
    visible = visible_task_ids(user)
    definitions = TaskDefinition.objects.filter(extension=extension, is_present=True).order_by("name")
    if visible is not None:
        definitions = definitions.filter(pk__in=visible)
    tasks = [{"definition": item, "may_run": can_run_task(user, item)} for item in definitions]
    health = None
    if extension.status == Extension.Status.ACTIVE:
        health = health_board.check([extension], deadline=2.0).get(name)
    may_manage = can_manage_extension(user, extension)
    context = {
        "extension": extension,
        "status_colour": STATUS_COLOURS.get(extension.status, "#6e7781"),
        "health": health,
        "health_json": json.dumps(health.get("details", {}), indent=2, default=str) if health else "",
        "endpoints": endpoints,
        "tasks": tasks,
        "actions": lifecycle_actions(user, extension),
        "may_manage": may_manage,
        "pages": [
            {
                "name": page.get("name"),
                "url": f"/admin/extensions/{name}{page.get('path')}",
                "icon": page.get("icon", ""),
            }
            for key in ("control_room_pages", "admin_pages")
            for page in ((manifest.get("ui") or {}).get(key) or [])
            if isinstance(page, dict)
        ],
    }
    if may_manage:
        context["config_form"] = _config_form(extension)
        context["holders"] = _permission_holders(extension)
    return context


def _config_form(extension: Extension) -> SchemaForm | None:
    settings = (extension.manifest or {}).get("settings")
    if not isinstance(settings, dict):
        return None
    try:
        current = effective_config(Manifest.from_document(extension.manifest), extension.config)
    except (ExtensionError, KeyError, TypeError):
        current = extension.config or {}
    return SchemaForm(settings, initial=current)


def _permission_holders(extension: Extension) -> list[dict[str, Any]]:
    """Return who holds which permission on *extension* itself (users and groups), for managers to read."""
    content_type = ContentType.objects.get_for_model(Extension)
    held: dict[tuple[str, str], set[str]] = {}
    for model, kind in ((UserObjectPermission, "user"), (GroupObjectPermission, "group")):
        holder = "user__username" if kind == "user" else "group__name"
        rows = model.objects.filter(content_type=content_type, object_pk=str(extension.pk)).values_list(
            holder, "permission__codename"
        )
        for who, codename in rows:
            held.setdefault((kind, who), set()).add(codename)
    return [{"kind": kind, "name": who, "codenames": sorted(codes)} for (kind, who), codes in sorted(held.items())]
