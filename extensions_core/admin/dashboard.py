"""The dashboard's views: the whole page's context, its live parts, and arranging widgets."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from extensions_core import dashboard
from extensions_core.exceptions import ExtensionError
from extensions_core.models import DashboardLayout
from extensions_core.services.layouts import dashboard_layout_change, layout_arrange
from extensions_core.ui import navigation_for, widgets_for

REFRESH_SECONDS = 5


def _overview(request: HttpRequest) -> dict[str, Any]:
    return {"overview": dashboard.overview(request.user)}


def _extensions(request: HttpRequest) -> dict[str, Any]:
    cards = dashboard.extension_cards(request.user)
    return {"cards": cards, "cards_html": cards_html(request, cards)}


def _runs(request: HttpRequest) -> dict[str, Any]:
    return {
        "active_runs": dashboard.active_runs(request.user),
        "failures": dashboard.recent_failures(request.user),
    }


def _chart(request: HttpRequest) -> dict[str, Any]:
    return {"chart": dashboard.runs_chart(request.user)}


def cards_html(request: HttpRequest, cards: list[dashboard.Card]) -> str:
    """Return the extension cards as HTML, every value escaped.

    Written in Python rather than a template: a hundred cards took 50 ms through
    the template engine, which is the whole budget of a live part.
    """
    csrf = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request))
    dashboard_url = reverse("admin:index")
    runs_url = reverse("admin:extensions_core_taskexecution_changelist")
    return mark_safe("".join(_card_html(card, csrf, dashboard_url, runs_url) for card in cards))  # noqa: S308


def _card_html(card: dashboard.Card, csrf: str, dashboard_url: str, runs_url: str) -> str:
    extension, health = card.extension, card.health
    parts = [
        format_html(
            '<article class="cr-card" style="border-left-color: {}" data-extension="{}">'
            '<h3><a href="{}change/">{}</a> <small>{}</small></h3>'
            '<span class="cr-badge" style="background: {}" data-status="{}">{}</span>',
            card.colour,
            extension.name,
            card.admin_url,
            extension.display_name or extension.name,
            extension.version,
            card.colour,
            extension.status,
            extension.get_status_display(),
        )
    ]
    if health:
        healthy = bool(health.get("healthy"))
        parts.append(
            format_html(
                ' <span class="cr-badge" style="background:{}" data-health="{}">{}</span>',
                "#1a7f37" if healthy else "#cf222e",
                *(("healthy", "healthy") if healthy else ("unhealthy", "unhealthy")),
            )
        )
        if not healthy:
            parts.append(format_html('<p class="cr-error">Health: {}</p>', health.get("error", "")))
    if card.last_error:
        parts.append(format_html('<p class="cr-error">Last error: {}</p>', Truncator(card.last_error).chars(240)))
    failure = f" · failure rate {round(card.failure_rate * 100)} %" if card.failure_rate is not None else ""
    memory = filesizeformat(card.peak_memory_bytes_24h) if card.peak_memory_bytes_24h else "–"
    if card.last_run_at:
        stamp = timezone.localtime(card.last_run_at).strftime("%Y-%m-%d %H:%M:%S")
        last = format_html('<a href="{}?extension_name={}">{}</a>', runs_url, extension.name, stamp)
    else:
        last = "never"
    parts.append(
        format_html(
            "<dl><dt>Endpoints</dt><dd>{}</dd><dt>Tasks</dt><dd>{}</dd><dt>Runs (24 h)</dt><dd>{}{}</dd>"
            "<dt>CPU (24 h)</dt><dd>{} s</dd><dt>Peak memory</dt><dd>{}</dd><dt>Last run</dt><dd>{}</dd></dl>",
            card.endpoints,
            card.tasks,
            card.runs_24h,
            failure,
            f"{card.cpu_seconds_24h:.3f}",
            memory,
            last,
        )
    )
    if card.actions:
        buttons = format_html_join(
            "",
            '<button type="submit" formaction="{}lifecycle/{}/" data-action="{}"{}>{}</button>',
            (
                (
                    card.admin_url,
                    action,
                    action,
                    mark_safe(' class="cr-danger"') if action in DANGEROUS else "",
                    action.capitalize(),
                )
                for action in card.actions
            ),
        )
        parts.append(
            format_html(
                '<form method="post" class="cr-actions">{}<input type="hidden" name="next" value="{}">{}</form>',
                csrf,
                dashboard_url,
                buttons,
            )
        )
    parts.append("</article>")
    return "".join(parts)


# Actions shown as red buttons.
DANGEROUS = frozenset({"unload", "disable"})

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
