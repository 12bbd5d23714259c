"""Template filters of the control room."""

from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def pretty_json(value: Any) -> str:
    """Return *value* as indented JSON (escaped by the template like any text)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
