"""A viewer's dashboard layout: which widgets are hidden and in what order the others are shown."""

from __future__ import annotations

from typing import Literal

from django.db import transaction

from extensions_core.exceptions import DashboardLayoutError
from extensions_core.models import DashboardLayout

LayoutAction = Literal["hide", "show", "up", "down"]
LAYOUT_ACTIONS = ("hide", "show", "up", "down")


def layout_arrange(keys: list[str], layout: DashboardLayout | None) -> tuple[list[str], list[str]]:
    """Split the widget *keys* a viewer may see into (shown, in the viewer's order; hidden).

    Keys the layout does not know yet (a widget of a newly loaded extension)
    are shown after the arranged ones, in their default order; keys the
    layout knows but that are gone are ignored.
    """
    order = layout.order if layout else []
    hidden = set(layout.hidden if layout else [])
    position = {key: index for index, key in enumerate(order)}
    shown = sorted(
        (key for key in keys if key not in hidden),
        key=lambda key: (key not in position, position.get(key, 0), keys.index(key)),
    )
    return shown, [key for key in keys if key in hidden]


@transaction.atomic
def dashboard_layout_change(*, user, keys: list[str], widget: str, action: LayoutAction) -> DashboardLayout:
    """Hide, show, or move up or down the widget *widget* among the *keys* the viewer may see; keep it for *user*.

    Raise DashboardLayoutError when the widget is not one of *keys* or the action is unknown.
    """
    if action not in LAYOUT_ACTIONS:
        raise DashboardLayoutError(f'unknown action "{action}"; use one of {", ".join(LAYOUT_ACTIONS)}')
    if widget not in keys:
        raise DashboardLayoutError(f'there is no widget "{widget}" on your dashboard')
    layout, _ = DashboardLayout.objects.select_for_update().get_or_create(user=user)
    shown, hidden = layout_arrange(keys, layout)
    if action == "hide" and widget in shown:
        shown.remove(widget)
        hidden.append(widget)
    elif action == "show" and widget in hidden:
        hidden.remove(widget)
        shown.append(widget)
    elif action in ("up", "down") and widget in shown:
        index = shown.index(widget)
        target = index - 1 if action == "up" else index + 1
        if 0 <= target < len(shown):
            shown[index], shown[target] = shown[target], shown[index]
    # Hidden widgets of extensions not loaded now stay hidden when they come back.
    others = [key for key in layout.hidden if key not in keys]
    layout.order = shown
    layout.hidden = hidden + others
    layout.save(update_fields=["order", "hidden", "updated_at"])
    return layout
