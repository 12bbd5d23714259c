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

from extensions_core.sdk import BaseExtension, RequestError, TaskContext, route


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

    def example_task(self, context: TaskContext, greeting: str = "hello") -> dict:
        """A manual task: `manage.py tasks run {name} example_task --param greeting=hi`."""
        context.logger.info("example_task says %s", greeting)
        return {{"greeting": greeting}}
'''


class Command(BaseCommand):
    requires_system_checks = []
    help = "Create a working extension skeleton (extension.json and __init__.py) in the extensions folder."

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
            "capabilities": {"provides_api": True, "provides_background_tasks": True},
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
            f"Next: `manage.py extensions discover` loads it; its endpoints are under /api/extensions/{name}/."
        )
