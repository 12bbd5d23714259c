"""The admin site as the operator's control room: the dashboard is its index, extension pages live under it.

`/admin/` is the dashboard, `/admin/models/` the stock list of models, and
`/admin/extensions/{extension}{path}` the pages extensions contribute. Every
admin page carries the navigation items the viewer may open. While the
database is unreachable every admin URL answers a page that says so (503),
never a server error.
"""

from __future__ import annotations

import functools
import logging

from django.contrib.admin import AdminSite
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from extensions_core.ui import navigation_for

logger = logging.getLogger(__name__)


class ControlRoomSite(AdminSite):
    site_header = "Karen control room"
    site_title = "Karen"
    index_title = "Control room"

    def get_urls(self):
        from extensions_core.admin import dashboard, pages

        urls = [
            path("models/", self.admin_view(self.models), name="models"),
            path("control-room/widgets/arrange/", self.admin_view(dashboard.widgets_arrange), name="widgets_arrange"),
            path("control-room/<slug:part>/", self.admin_view(dashboard.dashboard_part), name="dashboard_part"),
            path(
                "extensions/<slug:extension>/widgets/<slug:widget>/",
                self.admin_view(pages.widget_view),
                name="extension_widget",
            ),
            path("extensions/<slug:extension>/", self.admin_view(pages.extension_home), name="extension_home"),
            path(
                "extensions/<slug:extension>/<path:page_path>",
                self.admin_view(pages.page_view),
                name="extension_page",
            ),
        ]
        return urls + super().get_urls()

    def admin_view(self, view, cacheable: bool = False):
        guarded = super().admin_view(view, cacheable)

        @functools.wraps(guarded)
        def view_or_outage(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                return guarded(request, *args, **kwargs)
            except DatabaseError as error:
                logger.warning("Admin page %s answered while the database is unreachable: %s", request.path, error)
                return outage_response(request, error)

        return view_or_outage

    def each_context(self, request: HttpRequest) -> dict:
        context = super().each_context(request)
        context["navigation"] = navigation_for(request.user)
        return context

    def index(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        from extensions_core.admin.dashboard import dashboard_context

        context = {**self.each_context(request), "title": self.index_title, **dashboard_context(request)}
        context.update(extra_context or {})
        request.current_app = self.name
        return TemplateResponse(request, "admin/control_room/dashboard.html", context)

    def models(self, request: HttpRequest) -> HttpResponse:
        """The stock admin index: every model the viewer may see, by app."""
        context = {
            **self.each_context(request),
            "title": "Models",
            "subtitle": None,
            "app_list": self.get_app_list(request),
        }
        request.current_app = self.name
        return TemplateResponse(request, "admin/index.html", context)


def outage_response(request: HttpRequest, error: BaseException) -> HttpResponse:
    """Say that the database is unreachable, without touching it (no session, no user, no context processors)."""
    context = {"error": f"{type(error).__name__}: {error}".strip(), "at": timezone.now()}
    if request.headers.get("HX-Request"):
        # Shown in the page's alert bar; the part that asked keeps its content and goes on polling.
        body = render_to_string("admin/control_room/outage_alert.html", context)
        return HttpResponse(body, headers={"HX-Retarget": "#control-room-alert", "HX-Reswap": "innerHTML"})
    return HttpResponse(render_to_string("admin/control_room/outage.html", context), status=503)
