"""Read queries, already narrowed to what the given user may see."""

from __future__ import annotations

from django.db.models import QuerySet

from extensions_core.exceptions import ExtensionNotFoundError
from extensions_core.models import Extension
from extensions_core.permissions import can_view_extension, visible_extension_ids


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
