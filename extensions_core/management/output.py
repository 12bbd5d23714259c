"""Rendering of command output: aligned tables for people, JSON for scripts, one-line failures."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from extensions_core.exceptions import ExtensionError
from extensions_core.models import Extension


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Return *rows* under *headers* as left-aligned columns."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [max([len(header)] + [len(row[i]) for row in cells]) for i, header in enumerate(headers)]
    lines = ["  ".join(header.upper().ljust(width) for header, width in zip(headers, widths, strict=True))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str, ensure_ascii=False)


def extension_as_dict(extension: Extension) -> dict[str, Any]:
    """Return what commands print about one extension row."""
    return {
        "name": extension.name,
        "version": extension.version,
        "display_name": extension.display_name,
        "category": extension.category,
        "status": extension.status,
        "is_enabled": extension.is_enabled,
        "is_present": extension.is_present,
        "source": extension.source,
        "path": extension.path,
        "revision": extension.revision,
        "error_code": extension.error_code,
        "error_message": extension.error_message,
        "last_reload_error": extension.last_reload_error,
        "loaded_at": extension.loaded_at,
        "updated_at": extension.updated_at,
    }


def failing_with_one_line(command: BaseCommand, action: Callable[[], Any]) -> Any:
    """Run *action*; turn an ExtensionError into a CommandError with a one-line reason.

    Multi-problem errors list their problems on stderr first.
    """
    try:
        return action()
    except ExtensionError as error:
        if len(error.problems) > 1:
            for problem in error.problems:
                command.stderr.write(f"  {problem}")
            prefix = f'Extension "{error.extension}": ' if error.extension else ""
            raise CommandError(f"{prefix}extension.json has {len(error.problems)} problems (listed above)") from error
        raise CommandError(error.message.replace("\n", " ")) from error
