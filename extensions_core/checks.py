"""Django system checks for the EXTENSIONS setting and the extension packages on disk.

extensions.E001 broken manifest or package, E002 duplicate name, E003 bad
EXTENSIONS setting; W001 manifest warnings, W002 configured folder missing.
"""

from __future__ import annotations

from django.core.checks import CheckMessage, Error, Tags, Warning, register

from extensions_core.conf import extension_settings, setting_problems
from extensions_core.discovery import discover_extensions
from extensions_core.exceptions import ExtensionConflictError


@register(Tags.compatibility, "extensions")
def check_extensions(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Report setting problems and every broken or suspicious extension package."""
    messages: list[CheckMessage] = [
        Error(problem, hint="Fix EXTENSIONS in karen/settings.py.", id="extensions.E003")
        for problem in setting_problems()
    ]
    if messages:
        return messages
    limits = extension_settings()
    for folder in limits.dirs:
        if not folder.is_dir():
            messages.append(
                Warning(
                    f"Extension folder {folder} does not exist.",
                    hint="Create it or fix KAREN_EXTENSION_DIRS.",
                    id="extensions.W002",
                )
            )
    found = discover_extensions(
        dirs=limits.dirs,
        entry_point_group=limits.entry_point_group if limits.entry_points else None,
        max_bytes=limits.manifest_max_bytes,
        max_depth=limits.manifest_max_depth,
    )
    for item in found:
        if item.error is not None:
            duplicate = isinstance(item.error, ExtensionConflictError)
            messages.append(
                Error(
                    item.error.message,
                    hint=f"Fix {item.folder}/extension.json, then run `manage.py extensions validate {item.folder}`.",
                    obj=item.label,
                    id="extensions.E002" if duplicate else "extensions.E001",
                )
            )
        elif item.manifest.warnings:
            listed = "; ".join(str(problem) for problem in item.manifest.warnings)
            messages.append(
                Warning(
                    f'Extension "{item.name}": {listed}',
                    hint="They are ignored; `extensions validate --strict` treats them as errors.",
                    obj=item.label,
                    id="extensions.W001",
                )
            )
    return messages
