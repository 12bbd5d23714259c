"""The dashboard's views: the whole page's context, its live parts, and arranging widgets."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils import timezone

from extensions_core import dashboard
from extensions_core.exceptions import ExtensionError
from extensions_core.models import DashboardLayout
from extensions_core.services.layouts import dashboard_layout_change, layout_arrange
from extensions_core.ui import navigation_for, widgets_for

REFRESH_SECONDS = 5


def _overview(request: HttpRequest) -> dict[str, Any]:
    return {"overview": dashboard.overview(request.user)}


def _extensions(request: HttpRequest) -> dict[str, Any]:
    return {"cards": dashboard.extension_cards(request.user)}


def _runs(request: HttpRequest) -> dict[str, Any]:
    return {
        "active_runs": dashboard.active_runs(request.user),
        "failures": dashboard.recent_failures(request.user),
    }


def _chart(request: HttpRequest) -> dict[str, Any]:
    return {"chart": dashboard.runs_chart(request.user)}


# Each live part: what it shows, refreshed in place every REFRESH_SECONDS.
PARTS = {"overview": _overview, "extensions": _extensions, "runs": _runs, "chart": _chart}


def _part_context(request: HttpRequest, name: str) -> dict[str, Any]:
    try:
        context = PARTS[name](request)
    except DatabaseError as error:
        context = {"part_error": f"the database did not answer: {type(error).__name__}: {error}"}
    return {**context, "part": name, "refresh_seconds": REFRESH_SECONDS, "updated_at": timezone.now()}


def _widget_context(request: HttpRequest) -> dict[str, Any]:
    slots = {slot.key: slot for slot in widgets_for(request.user)}
    layout = DashboardLayout.objects.filter(user=request.user).first()
    shown, hidden = layout_arrange(list(slots), layout)
    return {"widgets": [slots[key] for key in shown], "hidden_widgets": [slots[key] for key in hidden]}


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    """Return the whole dashboard's context: every part rendered, the widgets in the viewer's order, the navigation."""
    return {
        "parts_html": {
            name: render_to_string(f"admin/control_room/parts/{name}.html", _part_context(request, name), request)
            for name in PARTS
        },
        "navigation": navigation_for(request.user),
        **_widget_context(request),
    }


def dashboard_part(request: HttpRequest, part: str) -> HttpResponse:
    """One live part of the dashboard, as the page polls it."""
    if part not in PARTS:
        raise Http404(f"the dashboard has no part {part!r}")
    return TemplateResponse(request, f"admin/control_room/parts/{part}.html", _part_context(request, part))


def widgets_arrange(request: HttpRequest) -> HttpResponse:
    """Hide, show or move one widget for the viewer (POST widget=extension:name, action=hide|show|up|down)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    keys = [slot.key for slot in widgets_for(request.user)]
    try:
        dashboard_layout_change(
            user=request.user, keys=keys, widget=request.POST.get("widget", ""), action=request.POST.get("action", "")
        )
    except ExtensionError as error:
        messages.error(request, error.message)
    return redirect("admin:index")
