"""Read queries, already narrowed to what the given user may see."""

from __future__ import annotations

from django.db.models import QuerySet

from extensions_core.exceptions import ExtensionNotFoundError, TaskNotFoundError
from extensions_core.models import Extension, TaskDefinition
from extensions_core.permissions import can_view_extension, can_view_task, visible_extension_ids, visible_task_ids


def extension_list_for_user(user, *, status: str | None = None, category: str | None = None) -> QuerySet[Extension]:
    """Return the extensions *user* may see, optionally of one status and category."""
    rows = Extension.objects.all()
    visible = visible_extension_ids(user)
    if visible is not None:
        rows = rows.filter(pk__in=visible)
    if status:
        rows = rows.filter(status=status)
    if category:
        rows = rows.filter(category=category)
    return rows.order_by("name")


def extension_get_for_user(user, name: str) -> Extension:
    """Return extension *name* if *user* may see it.

    Raise ExtensionNotFoundError when it does not exist or is invisible to the
    user: the two are indistinguishable to the caller.
    """
    extension = Extension.objects.filter(name=name).first()
    if extension is None or not can_view_extension(user, extension):
        raise ExtensionNotFoundError(name)
    return extension


def task_definition_list_for_user(user, *, extension: str | None = None) -> QuerySet[TaskDefinition]:
    """Return the task definitions *user* may see, still declared by their manifests."""
    rows = TaskDefinition.objects.select_related("extension").filter(is_present=True)
    visible = visible_task_ids(user)
    if visible is not None:
        rows = rows.filter(pk__in=visible)
    if extension:
        rows = rows.filter(extension__name=extension)
    return rows.order_by("extension__name", "name")


def task_definition_get_for_user(user, extension: str, name: str) -> TaskDefinition:
    """Return the definition *extension*/*name* if *user* may see it; else TaskNotFoundError (missing or invisible)."""
    definition = (
        TaskDefinition.objects.select_related("extension")
        .filter(extension__name=extension, name=name, is_present=True)
        .first()
    )
    if definition is None or not can_view_task(user, definition):
        raise TaskNotFoundError(extension, name)
    return definition
