"""`manage.py events emit NAME [--data JSON] | triggers`."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from extensions_core.management.output import as_json, failing_with_one_line, table
from extensions_core.models import Event, EventTrigger
from extensions_core.services.events import event_emit


class Command(BaseCommand):
    help = "Events: emit one (matching triggers start their tasks), list the triggers."
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
        emit = commands.add_parser("emit", help="Emit an event; print the executions it started.")
        emit.add_argument("event_type")
        emit.add_argument("--data", default="{}", help="Event data, a JSON object like '{\"level\": 3}'.")
        emit.add_argument("--json", action="store_true", help="Print JSON.")
        triggers = commands.add_parser("triggers", help="Event triggers (manifest, API and admin).")
        triggers.add_argument("--event-type")
        triggers.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, **options) -> None:
        getattr(self, f"handle_{options['subcommand']}")(options)

    def handle_emit(self, options) -> None:
        try:
            data = json.loads(options["data"])
        except ValueError as error:
            raise CommandError(f"--data is not JSON: {error}") from error
        event = failing_with_one_line(
            self,
            lambda: event_emit(
                event_type=options["event_type"], event_data=data, source=Event.Source.COMMAND, emitted_by="command"
            ),
        )
        report = {
            "event_id": str(event.id),
            "event_type": event.event_type,
            "triggered_tasks": event.triggered_tasks,
            "suppressed": event.suppressed,
        }
        if options["json"]:
            self.stdout.write(as_json(report))
            return
        started = [entry for entry in event.triggered_tasks if entry.get("execution_id")]
        self.stdout.write(f"event {event.id} ({event.event_type}) stored; {len(started)} task(s) started")
        for entry in event.triggered_tasks:
            outcome = entry.get("execution_id") or f"not started: {entry.get('error')}"
            self.stdout.write(f"  {entry['extension_name']}/{entry['task_name']}: {outcome}")
        if event.suppressed:
            self.stdout.write(f"  {event.suppressed}")

    def handle_triggers(self, options) -> None:
        rows = EventTrigger.objects.select_related("definition__extension").filter(definition__is_present=True)
        if options["event_type"]:
            rows = rows.filter(event_type=options["event_type"])
        data = [
            {
                "id": row.pk,
                "event_type": row.event_type,
                "extension_name": row.definition.extension.name,
                "task_name": row.definition.name,
                "filter_conditions": row.filter_conditions,
                "enabled": row.is_enabled,
                "source": row.source,
            }
            for row in rows.order_by("event_type", "id")
        ]
        if options["json"]:
            self.stdout.write(as_json(data))
        elif not data:
            self.stdout.write("No event triggers.")
        else:
            self.stdout.write(
                table(
                    ["id", "event", "extension", "task", "filter", "enabled", "source"],
                    [
                        [
                            item["id"],
                            item["event_type"],
                            item["extension_name"],
                            item["task_name"],
                            json.dumps(item["filter_conditions"]) if item["filter_conditions"] else "-",
                            "yes" if item["enabled"] else "no",
                            item["source"],
                        ]
                        for item in data
                    ],
                )
            )
