"""`manage.py extensions list | show | validate | discover | load | unload | reload | enable | disable`."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from extensions_core.conf import extension_settings
from extensions_core.exceptions import ExtensionError, ManifestError
from extensions_core.inspection import DEFAULT_TIMEOUT_SECONDS, code_problems
from extensions_core.management.output import as_json, extension_as_dict, failing_with_one_line, table
from extensions_core.manifest import MANIFEST_FILENAME, manifest_problems, parse_json_text, read_document
from extensions_core.models import Extension
from extensions_core.permissions import UserPolicy, can_manage_extension
from extensions_core.selectors import extension_get_for_user
from extensions_core.services import (
    PLATFORM,
    extension_disable,
    extension_discover,
    extension_enable,
    extension_get,
    extension_load,
    extension_reload,
    extension_unload,
)

ACTIONS = {
    "load": lambda name, options: extension_load(name=name, actor=options["actor"]),
    "unload": lambda name, options: extension_unload(name=name, cascade=options["cascade"], actor=options["actor"]),
    "reload": lambda name, options: extension_reload(name=name, actor=options["actor"]),
    "enable": lambda name, options: extension_enable(name=name, actor=options["actor"]),
    "disable": lambda name, options: extension_disable(name=name, cascade=options["cascade"], actor=options["actor"]),
}


class Command(BaseCommand):
    requires_system_checks = []
    help = "List, inspect, validate, discover, load, unload, reload, enable and disable extensions."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
        listing = commands.add_parser("list", help="All known extensions with their status.")
        listing.add_argument("--status", choices=Extension.Status.values, help="Only this status.")
        listing.add_argument("--json", action="store_true", help="Print JSON.")
        show = commands.add_parser("show", help="One extension: manifest, state, error.")
        show.add_argument("name")
        show.add_argument("--json", action="store_true", help="Print JSON.")
        validate = commands.add_parser("validate", help="Validate an extension folder or its extension.json.")
        validate.add_argument("path", type=Path)
        validate.add_argument("--strict", action="store_true", help="Treat warnings as errors.")
        validate.add_argument(
            "--import",
            dest="import_code",
            action="store_true",
            help="Also import the code in a child process (without initialize()): the package imports, its class "
            "is found, every declared endpoint has a @route and none is undeclared, every task function resolves.",
        )
        validate.add_argument(
            "--import-timeout",
            type=float,
            default=DEFAULT_TIMEOUT_SECONDS,
            metavar="SECONDS",
            help=f"How long --import may take before the child is killed (default {DEFAULT_TIMEOUT_SECONDS:g}).",
        )
        validate.add_argument("--json", action="store_true", help="Print JSON.")
        discover = commands.add_parser("discover", help="Rescan extension folders and entry points.")
        discover.add_argument("--no-load", action="store_true", help="Do not load newly found extensions.")
        discover.add_argument("--json", action="store_true", help="Print JSON.")
        for action in ACTIONS:
            sub = commands.add_parser(action, help=f"{action.capitalize()} an extension in every process.")
            sub.add_argument("name")
            sub.add_argument("--json", action="store_true", help="Print JSON.")
            sub.add_argument(
                "--as-user",
                metavar="USERNAME",
                help="Act for this user: refused unless it may manage the extension (as in the API and admin).",
            )
            if action in ("unload", "disable"):
                sub.add_argument("--cascade", action="store_true", help="Also unload the extensions that depend on it.")
            else:
                sub.set_defaults(cascade=False)

    def handle(self, *args, **options) -> None:
        subcommand = options["subcommand"]
        if subcommand in ACTIONS:
            self.act(subcommand, options)
        else:
            getattr(self, f"handle_{subcommand}")(options)

    def handle_list(self, options) -> None:
        rows = Extension.objects.all()
        if options["status"]:
            rows = rows.filter(status=options["status"])
        if options["json"]:
            self.stdout.write(as_json([extension_as_dict(row) for row in rows]))
            return
        if not rows:
            self.stdout.write("No extensions known. Run `manage.py extensions discover`.")
            return
        self.stdout.write(
            table(
                ["name", "version", "status", "enabled", "category", "error"],
                [
                    [
                        row.name,
                        row.version,
                        row.status,
                        "yes" if row.is_enabled else "no",
                        row.category,
                        row.error_code,
                    ]
                    for row in rows
                ],
            )
        )

    def handle_show(self, options) -> None:
        row = failing_with_one_line(self, lambda: extension_get(options["name"]))
        data = {
            **extension_as_dict(row),
            "manifest": row.manifest,
            "manifest_warnings": row.manifest_warnings,
            "config": row.config,
            "error_traceback": row.error_traceback,
        }
        if options["json"]:
            self.stdout.write(as_json(data))
            return
        fields = [
            "name",
            "display_name",
            "version",
            "status",
            "is_enabled",
            "category",
            "source",
            "path",
            "revision",
            "loaded_at",
            "error_code",
            "error_message",
        ]
        width = max(len(field) for field in fields)
        for field in fields:
            self.stdout.write(f"{field.ljust(width)}  {data[field] if data[field] not in ('', None) else '-'}")
        if row.last_reload_error:
            self.stdout.write(
                f"\nLast reload failed at {row.reload_failed_at:%Y-%m-%d %H:%M:%S} ({row.reload_error_code}); "
                f"the running version keeps serving:\n  {row.reload_error_message}"
            )
        endpoints = (row.manifest.get("api") or {}).get("endpoints") or []
        self.stdout.write("\nEndpoints:" if endpoints else "\nEndpoints: none")
        for endpoint in endpoints:
            methods = ",".join(endpoint.get("methods", []))
            self.stdout.write(f"  {methods:<12} /api/extensions/{row.name}{endpoint.get('path', '')}")
        tasks = row.manifest.get("background_tasks") or []
        self.stdout.write("\nTasks:" if tasks else "\nTasks: none")
        for task in tasks:
            when = task.get("schedule") or (
                f"every {task['interval_seconds']}s" if task.get("interval_seconds") else "manual"
            )
            self.stdout.write(f"  {task.get('name', '?'):<32} {when}")
        for warning in row.manifest_warnings:
            self.stdout.write(f"\nWarning: {warning['field']}: {warning['message']}")
        if row.error_traceback and options["verbosity"] > 1:
            self.stdout.write("\nTraceback:\n" + row.error_traceback)

    def handle_validate(self, options) -> None:
        path: Path = options["path"]
        limits = extension_settings()
        try:
            if path.is_file() and path.name != "extension.json":
                document = parse_json_text(path.read_text(encoding="utf-8"), max_depth=limits.manifest_max_depth)
            else:
                document = read_document(path, max_bytes=limits.manifest_max_bytes, max_depth=limits.manifest_max_depth)
            problems = manifest_problems(document)
        except ManifestError as error:
            problems = list(error.problems)
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror}") from error
        package = self.package_of(path) if options["import_code"] else None
        errors = [p for p in problems if options["strict"] or not p.is_warning]
        imported = False
        if package is not None and not errors:
            problems += code_problems(package, timeout_seconds=options["import_timeout"])
            errors = [p for p in problems if options["strict"] or not p.is_warning]
            imported = True
        report = {
            "path": str(path),
            "valid": not errors,
            "errors": [p.as_dict() for p in errors],
            "warnings": [p.as_dict() for p in problems if p not in errors],
        }
        if options["json"]:
            self.stdout.write(as_json({**report, "imported": imported} if options["import_code"] else report))
        else:
            for problem in problems:
                kind = "error" if problem in errors else "warning"
                self.stdout.write(f"{kind}: {problem.field or '(file)'}: {problem.message} [{problem.code}]")
            if package is not None and not imported:
                self.stdout.write("not imported: the manifest has errors; fix them first")
        if errors:
            raise CommandError(f"{path} is not valid: {len(errors)} error{'s' if len(errors) > 1 else ''}")
        if not options["json"]:
            warned = len(problems)
            self.stdout.write(
                f"{path} is valid"
                + (f" ({warned} warning{'s' if warned > 1 else ''})" if warned else "")
                + ("; its code imports and matches the manifest" if imported else "")
            )

    def package_of(self, path: Path) -> Path:
        """Return the extension folder *path* names (the folder itself, or the folder of its extension.json)."""
        if path.is_dir():
            return path
        if path.name == MANIFEST_FILENAME:
            return path.parent
        raise CommandError(f"--import needs an extension folder or its {MANIFEST_FILENAME} (got {path})")

    def handle_discover(self, options) -> None:
        report = failing_with_one_line(self, lambda: extension_discover(load_new=not options["no_load"]))
        if options["json"]:
            self.stdout.write(as_json(report.as_dict()))
            return
        rows = []
        for item in report.found:
            state = "ok" if item.is_valid else f"error: {item.error.code}"
            rows.append([item.label, item.source, state, str(item.folder)])
        self.stdout.write(
            table(["name", "source", "state", "folder"], rows) if rows else "No extension packages found."
        )
        for item in report.problems:
            self.stderr.write(f"{item.label}: {item.error.message}")
        summary = (
            f"{len(report.found)} found, {len(report.created)} new, {len(report.updated)} updated, "
            f"{len(report.missing)} missing, {len(report.loaded)} loaded"
        )
        self.stdout.write(summary)
        for message in report.store_errors.values():
            self.stderr.write(f"not stored: {message}")
        for message in report.load_errors.values():
            self.stderr.write(f"load failed: {message}")

    def act(self, action: str, options) -> None:
        name = options["name"]
        options["actor"] = PLATFORM
        if options.get("as_user"):
            options["actor"] = UserPolicy(self.authorize(options["as_user"], name))
        row = failing_with_one_line(self, lambda: ACTIONS[action](name, options))
        if options["json"]:
            self.stdout.write(as_json(extension_as_dict(row)))
            return
        enabled = "enabled" if row.is_enabled else "disabled"
        self.stdout.write(f"{row.name} {row.version}: {row.status} ({enabled}, revision {row.revision})")
        if row.error_message:
            self.stderr.write(row.error_message)

    def authorize(self, username: str, name: str):
        """Apply the API's rule for *username*: invisible is "no such extension", visible is "not allowed"."""
        users = get_user_model()
        user = users.objects.filter(**{users.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f'no user "{username}"')
        extension = failing_with_one_line(self, lambda: extension_get_for_user(user, name))
        if not can_manage_extension(user, extension):
            raise CommandError(f'{username} may not manage extension "{name}" (needs manage_extension)')
        return user


__all__ = ["Command", "ExtensionError"]
