"""`manage.py startextension NAME`: a working extension skeleton that validates and loads as generated."""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from extensions_core.conf import extension_settings
from extensions_core.manifest import parse_manifest

INIT_TEMPLATE = '''"""{display_name}: {description}"""

from __future__ import annotations

from extensions_core.sdk import BaseExtension, RequestError, TaskContext, page, route, widget


class {class_name}(BaseExtension):
    """{display_name}."""

    def initialize(self) -> None:
        self.calls = 0
        self.logger.info("{display_name} initialized")

    def shutdown(self) -> None:
        self.logger.info("{display_name} stopped after %d calls", self.calls)

    @route("/ping", methods=["GET"])
    def ping(self, request) -> dict:
        """Answer GET /api/extensions/{name}/ping."""
        self.calls += 1
        return {{"extension": self.name, "pong": True, "calls": self.calls}}

    @route("/echo", methods=["POST"])
    def echo(self, request) -> dict:
        """Answer POST /api/extensions/{name}/echo with the JSON body it was sent."""
        if not isinstance(request.data, dict):
            raise RequestError("send a JSON object")
        return {{"echo": request.data}}

    def health_check(self) -> dict:
        return {{"healthy": True, "calls": self.calls}}

    @page("/{name}")
    def overview_page(self, request) -> dict:
        """Context of /admin/extensions/{name}/{name} (templates/pages/{name}.html)."""
        return {{"calls": self.calls, "recent_runs": self.recent_runs(limit=5)}}

    @widget("summary")
    def summary_widget(self, request) -> dict:
        """Context of the dashboard widget (templates/widgets/summary.html)."""
        return {{"calls": self.calls}}

    def example_task(self, context: TaskContext, greeting: str = "hello") -> dict:
        """A manual task: `manage.py tasks run {name} example_task --param greeting=hi`."""
        context.logger.info("example_task says %s", greeting)
        return {{"greeting": greeting}}
'''

# Rendered inside the admin (its chrome, CSS and htmx are there): plain HTML, no inline scripts (CSP).
PAGE_TEMPLATE = """<div class="module" style="padding: 12px">
  <p>{{ extension.display_name }} {{ extension.version }} answered
     <strong>{{ calls }}</strong> call{{ calls|pluralize }} in this web process.
     Its API: <a href="{{ extension.api_url }}ping">{{ extension.api_url }}ping</a>.</p>
  <h2>Recent task runs</h2>
  <ul>
  {% for run in recent_runs %}
    <li><a href="{{ run.admin_url }}">{{ run.task_name }}</a>: {{ run.status }}
        at {{ run.queued_at|date:"Y-m-d H:i:s" }}</li>
  {% empty %}
    <li>No runs yet.</li>
  {% endfor %}
  </ul>
</div>
"""
WIDGET_TEMPLATE = """<p><strong>{{ calls }}</strong> call{{ calls|pluralize }} answered by this web process.</p>
"""


class Command(BaseCommand):
    requires_system_checks = []
    help = (
        "Create a working extension skeleton in the extensions folder: extension.json, __init__.py "
        "(two endpoints, a task, a page and a dashboard widget) and the page's and widget's templates."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Extension name: lowercase letters, digits and hyphens (my-extension).")
        parser.add_argument("--directory", type=Path, help="Parent folder (default: the first extension folder).")
        parser.add_argument("--author", default="Unknown author", help="Author for the manifest.")

    def handle(self, *args, name: str, directory: Path | None, author: str, **options) -> None:
        parent = directory or (extension_settings().dirs or (Path("extensions"),))[0]
        target = Path(parent) / name
        display_name = name.replace("-", " ").title()
        document = {
            "name": name,
            "version": "0.1.0",
            "display_name": display_name,
            "description": f"{display_name} extension.",
            "author": author,
            "license": "MIT",
            "category": "custom",
            "tags": [],
            "capabilities": {"provides_api": True, "provides_background_tasks": True, "provides_ui": True},
            "api": {
                "endpoints": [
                    {"path": "/ping", "methods": ["GET"], "permissions": [], "description": "Liveness ping."},
                    {
                        "path": "/echo",
                        "methods": ["POST"],
                        "permissions": [],
                        "description": "Echo a JSON body.",
                    },
                ]
            },
            "background_tasks": [
                {
                    "name": "example_task",
                    "function": "example_task",
                    "description": "An example manual task.",
                    "parameters": {
                        "type": "object",
                        "properties": {"greeting": {"type": "string", "default": "hello"}},
                        "additionalProperties": False,
                    },
                }
            ],
            "settings": {"type": "object", "properties": {}, "additionalProperties": True},
            "ui": {
                "control_room_pages": [{"name": display_name, "path": f"/{name}", "icon": "🧩", "permissions": []}],
                "dashboard_widgets": [{"name": "summary", "title": display_name, "refresh_seconds": 30}],
            },
        }
        from extensions_core.exceptions import ManifestError

        try:
            parse_manifest(document, strict=True)
        except ManifestError as error:
            raise CommandError(str(error).replace("\n", " ")) from error
        if target.exists():
            raise CommandError(f"{target} already exists; choose another name or remove it")
        class_name = re.sub(r"(^|-)([a-z0-9])", lambda match: match.group(2).upper(), name) + "Extension"
        target.mkdir(parents=True)
        (target / "extension.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        (target / "templates" / "pages").mkdir(parents=True)
        (target / "templates" / "widgets").mkdir(parents=True)
        (target / "templates" / "pages" / f"{name}.html").write_text(PAGE_TEMPLATE, encoding="utf-8")
        (target / "templates" / "widgets" / "summary.html").write_text(WIDGET_TEMPLATE, encoding="utf-8")
        (target / "__init__.py").write_text(
            INIT_TEMPLATE.format(
                name=name,
                display_name=display_name,
                description=document["description"],
                class_name=class_name,
            ),
            encoding="utf-8",
        )
        self.stdout.write(f"Created {target}")
        self.stdout.write(
            f"Next: `./karenctl manage extensions discover` loads it; its endpoints are under "
            f"/api/extensions/{name}/, its page at /admin/extensions/{name}/{name}, its widget on the dashboard."
        )
