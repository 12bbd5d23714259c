"""Who may do what: permission codenames, grant/revoke helpers over django-guardian, and the checks.

The single home of access rules, used by the API, the admin and the commands.
A user's access (superuser flag, model-wide permissions, roles = group names,
object permissions) is read once per process and kept until the shared access
generation moves, which happens in the same transaction as any change of
users, groups or permissions; so a check costs no query in the common case.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import F, Model
from django.db.models.signals import m2m_changed, post_delete, post_save
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import assign_perm, remove_perm

from extensions_core.manifest import Endpoint
from extensions_core.models import Extension, RegistryState
from extensions_core.registry import registry

APP = "extensions_core"
VIEW_EXTENSION = "view_extension"
USE_EXTENSION = "use_extension"
MANAGE_EXTENSION = "manage_extension"
EXTENSION_PERMISSIONS = (VIEW_EXTENSION, USE_EXTENSION, MANAGE_EXTENSION)
# Holding any of these makes an extension visible; using or managing it implies seeing it.
VISIBLE_WITH = EXTENSION_PERMISSIONS


@dataclass(frozen=True, slots=True)
class Access:
    """What one user may do, outside the per-request user flags (active, superuser)."""

    global_permissions: frozenset[str]
    roles: frozenset[str]
    object_permissions: dict[tuple[int, str], frozenset[str]]
    # Our app's model-wide codenames (without the "extensions_core." prefix).
    app_codenames: frozenset[str] = frozenset()

    def holds(self, codename: str, obj: Model | None = None) -> bool:
        """Return whether the permission *codename* of our app is held model-wide or on *obj*."""
        return codename in self.codenames_on(obj)

    def codenames_on(self, obj: Model | None) -> frozenset[str]:
        """Return the codenames of our app held model-wide, and on *obj* when given."""
        if obj is None:
            return self.app_codenames
        content_type = ContentType.objects.get_for_model(obj)
        return self.app_codenames | self.object_permissions.get((content_type.pk, str(obj.pk)), frozenset())


NO_ACCESS = Access(frozenset(), frozenset(), {})


class _AccessCache:
    """Per-process cache of Access by user id, emptied when the access generation moves."""

    def __init__(self) -> None:
        self.generation: object = None
        self.entries: dict[int, Access] = {}
        self.lock = threading.Lock()

    def observe(self, generation: int) -> None:
        with self.lock:
            if generation != self.generation:
                self.generation = generation
                self.entries = {}

    def clear(self) -> None:
        with self.lock:
            self.generation = object()  # never equal to a generation read before the change
            self.entries = {}


access_cache = _AccessCache()


def access_of(user) -> Access:
    """Return the Access of *user* (read from the database once per process and generation)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return NO_ACCESS
    if registry.access_generation is not None:
        access_cache.observe(registry.access_generation)
    cached = access_cache.entries.get(user.pk)
    if cached is not None:
        return cached
    generation = access_cache.generation
    groups = list(user.groups.values_list("pk", "name"))
    group_ids = [pk for pk, _ in groups]
    global_permissions = frozenset(
        f"{app}.{codename}"
        for app, codename in Permission.objects.filter(user=user).values_list("content_type__app_label", "codename")
    ) | frozenset(
        f"{app}.{codename}"
        for app, codename in Permission.objects.filter(group__in=group_ids).values_list(
            "content_type__app_label", "codename"
        )
    )
    objects: dict[tuple[int, str], set[str]] = {}
    rows = list(
        UserObjectPermission.objects.filter(user=user).values_list(
            "content_type_id", "object_pk", "permission__codename"
        )
    )
    if group_ids:
        rows += GroupObjectPermission.objects.filter(group__in=group_ids).values_list(
            "content_type_id", "object_pk", "permission__codename"
        )
    for content_type_id, object_pk, codename in rows:
        objects.setdefault((content_type_id, str(object_pk)), set()).add(codename)
    access = Access(
        global_permissions=global_permissions,
        app_codenames=frozenset(name.partition(".")[2] for name in global_permissions if name.startswith(f"{APP}.")),
        roles=frozenset(name for _, name in groups),
        object_permissions={key: frozenset(value) for key, value in objects.items()},
    )
    with access_cache.lock:
        # Grants read before a concurrent change must not be cached under the new generation.
        if access_cache.generation == generation:
            access_cache.entries[user.pk] = access
    return access


def is_superuser(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_superuser)


def can_view_extension(user, extension: Extension) -> bool:
    """Return whether *user* may see *extension* (view, use or manage, model-wide or on it)."""
    if is_superuser(user):
        return True
    access = access_of(user)
    return any(access.holds(codename, extension) for codename in VISIBLE_WITH)


def can_open_contribution(user, extension: Extension, roles: tuple[str, ...]) -> bool:
    """Return whether *user* may open a page or widget of *extension* that asks for *roles* (group names).

    The extension must be visible to the user and, when *roles* is not empty,
    the user must hold one of them. Superusers pass.
    """
    if is_superuser(user):
        return True
    access = access_of(user)
    if not any(access.holds(codename, extension) for codename in VISIBLE_WITH):
        return False
    return not roles or not access.roles.isdisjoint(roles)


def can_manage_extension(user, extension: Extension | None = None) -> bool:
    """Return whether *user* may load, unload, reload, enable, disable and configure *extension*.

    Without an extension: whether the user holds manage_extension model-wide
    (needed for platform-wide actions such as discover).
    """
    return is_superuser(user) or access_of(user).holds(MANAGE_EXTENSION, extension)


def endpoint_access(user, extension: Extension, endpoint: Endpoint | None) -> str:
    """Return "allowed", "invisible" or "forbidden" for *user* calling *endpoint* of *extension*.

    One pass over the user's cached access: the hot path of every extension request.
    Without an endpoint (no route matched), "allowed" means the extension is visible.
    """
    if (endpoint is not None and endpoint.is_public) or is_superuser(user):
        return "allowed"
    access = access_of(user)
    held = access.codenames_on(extension)
    if held.isdisjoint(VISIBLE_WITH):
        return "invisible"
    if endpoint is None:
        return "allowed"
    if USE_EXTENSION in held and (not endpoint.permissions or not access.roles.isdisjoint(endpoint.permissions)):
        return "allowed"
    return "forbidden"


VIEW_TASK = "view_taskdefinition"
RUN_TASK = "run_taskdefinition"


def can_view_task(user, definition) -> bool:
    """Return whether *user* may see a task definition (view or run it, model-wide or on it)."""
    if is_superuser(user):
        return True
    access = access_of(user)
    return access.holds(VIEW_TASK, definition) or access.holds(RUN_TASK, definition)


def can_run_task(user, definition) -> bool:
    """Return whether *user* may run a task definition by hand."""
    return is_superuser(user) or access_of(user).holds(RUN_TASK, definition)


def visible_task_ids(user) -> set[int] | None:
    """Return the ids of task definitions *user* may see, or None when it may see all of them."""
    from extensions_core.models import TaskDefinition

    if is_superuser(user):
        return None
    access = access_of(user)
    if any(f"{APP}.{codename}" in access.global_permissions for codename in (VIEW_TASK, RUN_TASK)):
        return None
    content_type = ContentType.objects.get_for_model(TaskDefinition)
    return {
        int(object_pk)
        for (content_type_id, object_pk), codenames in access.object_permissions.items()
        if content_type_id == content_type.pk and codenames & {VIEW_TASK, RUN_TASK}
    }


@dataclass(frozen=True, slots=True)
class UserPolicy:
    """A user's rights over the extensions an action touches beyond the one named (services.AccessPolicy)."""

    user: Any

    def may_view(self, extension: Extension) -> bool:
        return can_view_extension(self.user, extension)

    def may_manage(self, extension: Extension) -> bool:
        return can_manage_extension(self.user, extension)


def visible_extension_ids(user) -> set[int] | None:
    """Return the ids of extensions *user* may see, or None when it may see all of them."""
    if is_superuser(user):
        return None
    access = access_of(user)
    if any(f"{APP}.{codename}" in access.global_permissions for codename in VISIBLE_WITH):
        return None
    content_type = ContentType.objects.get_for_model(Extension)
    return {
        int(object_pk)
        for (content_type_id, object_pk), codenames in access.object_permissions.items()
        if content_type_id == content_type.pk and codenames & set(VISIBLE_WITH)
    }


def grant(holder, codename: str, obj: Model | None = None) -> None:
    """Give *holder* (a user or group) the permission *codename*, on *obj* or model-wide."""
    assign_perm(f"{APP}.{codename}", holder, obj)


def revoke(holder, codename: str, obj: Model | None = None) -> None:
    """Take the permission *codename* back from *holder*, on *obj* or model-wide."""
    remove_perm(f"{APP}.{codename}", holder, obj)


def access_generation_bump(**kwargs) -> None:
    """Tell every process to drop cached access rules; runs inside the changing transaction.

    This process forgets at once; the others when their next change check reads the marker.
    """
    access_cache.clear()
    updated = RegistryState.objects.filter(pk=1).update(access_generation=F("access_generation") + 1)
    if not updated:
        RegistryState.objects.get_or_create(pk=1, defaults={"access_generation": 1})


def connect_access_signals() -> None:
    """Bump the access generation whenever users, groups or permissions change (models we do not own)."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    for model in (UserObjectPermission, GroupObjectPermission, Group, Permission, user_model):
        post_save.connect(access_generation_bump, sender=model, dispatch_uid=f"karen-access-save-{model.__name__}")
        post_delete.connect(access_generation_bump, sender=model, dispatch_uid=f"karen-access-delete-{model.__name__}")
    for through in (user_model.groups.through, user_model.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(access_generation_bump, sender=through, dispatch_uid=f"karen-access-m2m-{through.__name__}")


__all__: Iterable[str] = (
    "Access",
    "access_of",
    "can_manage_extension",
    "can_view_extension",
    "UserPolicy",
    "grant",
    "revoke",
    "visible_extension_ids",
)


def can_emit_event(user) -> bool:
    """Return whether *user* may emit events by hand (model-wide add_event): they start any matching trigger."""
    return is_superuser(user) or "add_event" in access_of(user).app_codenames


def can_view_events(user) -> bool:
    """Return whether *user* may read the event history (model-wide view_event or add_event)."""
    return is_superuser(user) or not {"view_event", "add_event"}.isdisjoint(access_of(user).app_codenames)
