"""`manage.py tasks list [--extension NAME] [--json]`: the background task definitions.

(run, executions and cancel arrive with the execution pipeline.)
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from extensions_core.management.output import as_json, table
from extensions_core.models import TaskDefinition


class Command(BaseCommand):
    help = "List background task definitions."
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
        listing = commands.add_parser("list", help="Task definitions declared by the extensions' manifests.")
        listing.add_argument("--extension", help="Only this extension's tasks.")
        listing.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, **options) -> None:
        rows = TaskDefinition.objects.select_related("extension").filter(is_present=True)
        if options["extension"]:
            rows = rows.filter(extension__name=options["extension"])
        data = [
            {
                "extension": row.extension.name,
                "task": row.name,
                "kind": row.kind,
                "when": row.schedule or (f"every {row.interval_seconds}s" if row.interval_seconds else ""),
                "triggers": [trigger["event"] for trigger in row.triggers],
                "enabled": row.is_enabled,
                "function": row.function,
            }
            for row in rows
        ]
        if options["json"]:
            self.stdout.write(as_json(data))
        elif not data:
            self.stdout.write("No task definitions. Run `manage.py extensions discover`.")
        else:
            self.stdout.write(
                table(
                    ["extension", "task", "kind", "when", "triggers", "enabled"],
                    [
                        [
                            item["extension"],
                            item["task"],
                            item["kind"],
                            item["when"] or "-",
                            ",".join(item["triggers"]) or "-",
                            "yes" if item["enabled"] else "no",
                        ]
                        for item in data
                    ],
                )
            )
