"""Pages and widgets that extensions contribute, served inside the admin's chrome."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from extensions_core import ui
from extensions_core.exceptions import ExtensionNotFoundError
from extensions_core.selectors import extension_get_for_user
from extensions_core.ui import (
    ContributionForbiddenError,
    ContributionNotFoundError,
    ContributionRenderError,
    contribution_render,
    page_get_for_user,
    widget_get_for_user,
)


def _rendered(request: HttpRequest, loaded, item, handler, timeout: float) -> tuple[str, str]:
    """Return (HTML, "") of a page or widget, or ("", what went wrong)."""
    try:
        return contribution_render(request, loaded, item, handler=handler, timeout=timeout), ""
    except ContributionRenderError as failure:
        return "", str(failure)


def page_view(request: HttpRequest, extension: str, page_path: str) -> HttpResponse:
    """An extension's page at /admin/extensions/{extension}{path}: 404 unless active and visible, 403 without a role."""
    path = "/" + page_path
    try:
        loaded, page = page_get_for_user(request.user, extension, path)
    except ContributionNotFoundError:
        # The same answer whether the page is missing, its extension inactive or invisible to the viewer.
        context = {**admin.site.each_context(request), "title": "Page not found", "extension": extension, "path": path}
        return TemplateResponse(request, "admin/control_room/page_missing.html", context, status=404)
    except ContributionForbiddenError as error:
        raise PermissionDenied(str(error)) from error
    handler = loaded.instance.get_pages().get(page.path)
    body, error = _rendered(request, loaded, page, handler, ui.PAGE_RENDER_TIMEOUT_SECONDS)
    context = {
        **admin.site.each_context(request),
        "title": page.name,
        "page": page,
        "loaded": loaded,
        "body": body,
        "render_error": error,
    }
    return TemplateResponse(request, "admin/control_room/extension_page.html", context, status=500 if error else 200)


def widget_view(request: HttpRequest, extension: str, widget: str) -> HttpResponse:
    """One dashboard widget's box content; its failure or slowness shows in the box only."""
    try:
        loaded, item = widget_get_for_user(request.user, extension, widget)
    except ContributionNotFoundError as error:
        raise Http404(f'no widget "{widget}" of an active extension "{extension}" is open to you') from error
    except ContributionForbiddenError as error:
        raise PermissionDenied(str(error)) from error
    handler = loaded.instance.get_widgets().get(item.name)
    body, error = _rendered(request, loaded, item, handler, ui.WIDGET_RENDER_TIMEOUT_SECONDS)
    context = {"body": body, "render_error": error, "widget": item, "loaded": loaded}
    return TemplateResponse(request, "admin/control_room/widget_body.html", context)


def extension_home(request: HttpRequest, extension: str) -> HttpResponse:
    """/admin/extensions/{extension}/ leads to the extension's own admin page."""
    try:
        row = extension_get_for_user(request.user, extension)
    except ExtensionNotFoundError as error:
        raise Http404(error.message) from error
    return redirect(reverse("admin:extensions_core_extension_change", args=[row.pk]))
