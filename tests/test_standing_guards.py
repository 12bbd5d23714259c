"""Standing guards: models and migrations match; the schema generates cleanly; load then unload leaves no trace."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command

from tests.conftest import ROOT


@pytest.mark.django_db
def test_models_and_migrations_do_not_drift():
    out = StringIO()

    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()


def test_the_openapi_schema_generates_without_warnings(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(tmp_path / "s.yaml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "s.yaml").read_text().startswith("openapi: 3")


def test_system_checks_pass():
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr


def platform_state() -> dict:
    """What loading adds and unloading must remove: registry, modules, routes, beat rows, triggers."""
    from django_celery_beat.models import PeriodicTask

    from extensions_core.api.endpoints import route_table
    from extensions_core.loader import NAMESPACE, finder
    from extensions_core.models import EventTrigger
    from extensions_core.registry import registry

    names = ["hello-extension", "background-task-extension", "half-way"]
    return {
        "registry": registry.snapshot(),
        "modules": sorted(name for name in sys.modules if name.startswith(NAMESPACE + ".")),
        "finder": sorted(finder.roots),
        "routes": {
            name: sorted((route.endpoint.path, sorted(route.handlers)) for route in route_table.for_extension(name))
            for name in names
        },
        "beat": sorted(
            PeriodicTask.objects.values_list("name", "enabled", "task", "kwargs", "crontab_id", "interval_id")
        ),
        "triggers": sorted(EventTrigger.objects.values_list("event_type", "definition__name", "is_enabled", "source")),
    }


HALF_WAY = {
    "api": {"endpoints": [{"path": "/hi", "methods": ["GET"], "permissions": ["user"]}]},
    "background_tasks": [
        {"name": "tick", "function": "tick", "interval_seconds": 60},
        {"name": "react", "function": "tick", "triggers": [{"event": "extension.loaded"}]},
    ],
}
HALF_WAY_CODE = """
from extensions_core.sdk import BaseExtension, route


class HalfWay(BaseExtension):
    @route("/hi", methods=["GET"])
    def hi(self, request):
        return {}

    def tick(self, context):
        return 1

    def initialize(self):
        raise RuntimeError("fails half way: imported, checked, not initialized")
"""


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["hello-extension", "background-task-extension"])
def test_loading_then_unloading_a_shipped_extension_leaves_the_platform_as_it_was(shipped, name):
    from extensions_core.services import extension_load, extension_unload

    before = platform_state()

    extension_load(name=name)
    loaded = platform_state()
    extension_unload(name=name)

    assert loaded != before
    assert platform_state() == before


@pytest.mark.django_db
def test_a_load_that_fails_half_way_leaves_the_platform_as_it_was(extensions_root):
    from extensions_core.exceptions import ExtensionLoadError
    from extensions_core.services import extension_discover, extension_load
    from tests.conftest import base_manifest, write_extension

    write_extension(extensions_root, "half-way", manifest=base_manifest("half-way", **HALF_WAY), code=HALF_WAY_CODE)
    extension_discover(load_new=False)
    before = platform_state()

    with pytest.raises(ExtensionLoadError):
        extension_load(name="half-way")

    assert platform_state() == before


@pytest.mark.django_db
def test_a_reload_that_fails_half_way_leaves_the_running_version_as_it_was(extensions_root):
    from extensions_core.exceptions import ExtensionLoadError
    from extensions_core.services import extension_discover, extension_load, extension_reload
    from tests.conftest import base_manifest, write_extension

    working = HALF_WAY_CODE.replace('raise RuntimeError("fails half way: imported, checked, not initialized")', "pass")
    folder = write_extension(extensions_root, "half-way", manifest=base_manifest("half-way", **HALF_WAY), code=working)
    extension_discover(load_new=False)
    extension_load(name="half-way")
    before = platform_state()
    (folder / "__init__.py").write_text(HALF_WAY_CODE)

    with pytest.raises(ExtensionLoadError):
        extension_reload(name="half-way")

    assert platform_state() == before
