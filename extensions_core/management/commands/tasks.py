"""`manage.py tasks list | run EXT TASK [--param k=v ...] [--wait] | executions | cancel ID`."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from extensions_core.management.output import as_json, failing_with_one_line, table
from extensions_core.models import TaskDefinition, TaskExecution
from extensions_core.selectors import execution_get_for_user, execution_list_for_user, task_definition_get_for_user
from extensions_core.services.executions import execution_cancel, execution_start


def execution_as_dict(execution: TaskExecution) -> dict[str, Any]:
    return {
        "execution_id": str(execution.id),
        "extension_name": execution.extension_name,
        "task_name": execution.task_name,
        "status": execution.status,
        "failure_reason": execution.failure_reason,
        "trigger_type": execution.trigger_type,
        "attempt": execution.attempt,
        "queued_at": execution.queued_at,
        "started_at": execution.started_at,
        "completed_at": execution.finished_at,
        "duration_seconds": execution.duration_seconds,
        "result": execution.result,
        "error": execution.error,
    }


def parse_param(text: str) -> tuple[str, Any]:
    """Split k=v; v is read as JSON when it is JSON (3, true, "x", [1]), else kept as text."""
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise CommandError(f'--param "{text}" is not key=value')
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


class Superuser:
    """The platform operator at the shell: sees and runs every task."""

    is_authenticated = True
    is_active = True
    is_superuser = True
    pk = None


class Command(BaseCommand):
    help = "Background tasks: list definitions, run one, list executions, cancel one."
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
        listing = commands.add_parser("list", help="Task definitions declared by the extensions' manifests.")
        listing.add_argument("--extension", help="Only this extension's tasks.")
        listing.add_argument("--json", action="store_true", help="Print JSON.")
        run = commands.add_parser("run", help="Run a task now (a worker picks it up).")
        run.add_argument("extension")
        run.add_argument("task")
        run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="A parameter (repeat).")
        run.add_argument("--wait", action="store_true", help="Wait for the run to finish and print its result.")
        run.add_argument("--timeout", type=float, default=300, help="Seconds --wait waits (default 300).")
        run.add_argument("--json", action="store_true", help="Print JSON.")
        history = commands.add_parser("executions", help="Recent executions, newest first.")
        history.add_argument("--extension")
        history.add_argument("--task")
        history.add_argument("--status", choices=TaskExecution.Status.values)
        history.add_argument("--trigger", choices=TaskExecution.Trigger.values)
        history.add_argument("--limit", type=int, default=20)
        history.add_argument("--json", action="store_true", help="Print JSON.")
        cancel = commands.add_parser("cancel", help="Cancel a pending or running execution.")
        cancel.add_argument("execution_id")
        cancel.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, **options) -> None:
        getattr(self, f"handle_{options['subcommand']}")(options)

    def handle_list(self, options) -> None:
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
            headers = ["extension", "task", "kind", "when", "triggers", "enabled"]
            self.stdout.write(
                table(
                    headers,
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

    def handle_run(self, options) -> None:
        parameters = dict(parse_param(text) for text in options["param"])
        definition = failing_with_one_line(
            self, lambda: task_definition_get_for_user(Superuser(), options["extension"], options["task"])
        )
        execution = failing_with_one_line(
            self,
            lambda: execution_start(
                definition=definition, trigger_type="manual", parameters=parameters, triggered_by="command"
            ),
        )
        if options["wait"]:
            execution = self._wait(execution, options["timeout"])
        execution.refresh_from_db()
        self._print_execution(execution, options["json"])
        if execution.status in (TaskExecution.Status.FAILED, TaskExecution.Status.CANCELLED):
            raise CommandError(f"execution {execution.id} {execution.status}: {execution.error or '-'}")

    def _wait(self, execution: TaskExecution, timeout: float) -> TaskExecution:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            execution.refresh_from_db()
            if execution.is_finished:
                return execution
            time.sleep(0.1)
        raise CommandError(
            f"execution {execution.id} is still {execution.status} after {timeout:g} s; is a worker running? "
            "(`manage.py tasks executions` shows it later)"
        )

    def _print_execution(self, execution: TaskExecution, as_json_output: bool) -> None:
        data = execution_as_dict(execution)
        if as_json_output:
            self.stdout.write(as_json(data))
            return
        self.stdout.write(f"execution {data['execution_id']}: {data['status']}")
        for key in ("failure_reason", "duration_seconds", "error"):
            if data[key] not in ("", None):
                self.stdout.write(f"  {key}: {data[key]}")
        if data["result"] is not None:
            self.stdout.write(f"  result: {json.dumps(data['result'], default=str)}")

    def handle_executions(self, options) -> None:
        rows = execution_list_for_user(
            Superuser(),
            extension=options["extension"],
            task=options["task"],
            status=options["status"],
            trigger=options["trigger"],
        )[: max(1, options["limit"])]
        data = [execution_as_dict(row) for row in rows]
        if options["json"]:
            self.stdout.write(as_json(data))
            return
        if not data:
            self.stdout.write("No executions.")
            return
        self.stdout.write(
            table(
                ["id", "extension", "task", "status", "trigger", "queued", "seconds", "error"],
                [
                    [
                        item["execution_id"],
                        item["extension_name"],
                        item["task_name"],
                        item["status"] + (f" ({item['failure_reason']})" if item["failure_reason"] else ""),
                        item["trigger_type"],
                        item["queued_at"].strftime("%Y-%m-%d %H:%M:%S"),
                        f"{item['duration_seconds']:.3f}" if item["duration_seconds"] is not None else "-",
                        (item["error"] or "-").splitlines()[0][:60] if item["error"] else "-",
                    ]
                    for item in data
                ],
            )
        )

    def handle_cancel(self, options) -> None:
        execution = failing_with_one_line(self, lambda: execution_get_for_user(Superuser(), options["execution_id"]))
        execution = failing_with_one_line(self, lambda: execution_cancel(execution=execution, by="command"))
        self._print_execution(execution, options["json"])
        if execution.status == TaskExecution.Status.RUNNING:
            self.stdout.write("  asked to stop; it stops within a few seconds")
