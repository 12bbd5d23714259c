"""Django system checks for the EXTENSIONS setting and the extension packages on disk.

A broken package never blocks the platform: it is a warning (W003 broken
manifest or package, W004 duplicate name) for `migrate`, `check` and
`runserver`, which go on; `check --deploy` escalates each to an error (E001,
E002). E003 bad EXTENSIONS setting; W001 manifest warnings, W002 configured
folder missing.
"""

from __future__ import annotations

from django.core.checks import CheckMessage, Error, Tags, Warning, register

from extensions_core.conf import extension_settings, setting_problems
from extensions_core.discovery import discover_extensions
from extensions_core.exceptions import ExtensionConflictError


@register(Tags.compatibility, "extensions")
def check_extensions(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Report setting problems, and every broken or suspicious extension package as a warning."""
    return _extension_messages(deploy=False)


@register(Tags.compatibility, "extensions", deploy=True)
def check_extensions_for_deployment(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Under `check --deploy`: every broken extension package is an error (deploy what you checked)."""
    return [message for message in _extension_messages(deploy=True) if message.is_serious()]


def _extension_messages(*, deploy: bool) -> list[CheckMessage]:
    messages: list[CheckMessage] = [
        Error(problem, hint="Fix EXTENSIONS in karen/settings.py.", id="extensions.E003")
        for problem in setting_problems()
    ]
    if messages:
        return [] if deploy else messages
    limits = extension_settings()
    for folder in limits.dirs:
        if not folder.is_dir() and not deploy:
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
            kind, ids = (Error, ("E002", "E001")) if deploy else (Warning, ("W004", "W003"))
            messages.append(
                kind(
                    item.error.message,
                    hint=f"Fix {item.folder}/extension.json, then run `manage.py extensions validate {item.folder}`."
                    + ("" if deploy else " The platform runs without it meanwhile."),
                    obj=item.label,
                    id=f"extensions.{ids[0] if duplicate else ids[1]}",
                )
            )
        elif item.manifest.warnings and not deploy:
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
