"""Task definitions follow the manifests; operator overrides survive a resync."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from extensions_core.models import TaskDefinition
from extensions_core.services import extension_discover, extension_reload, task_definition_override
from tests.conftest import base_manifest, write_extension

pytestmark = pytest.mark.django_db

CODE = (
    "from extensions_core.sdk import BaseExtension\n\n\n"
    "class Tasks(BaseExtension):\n"
    "    def work(self, context, **parameters):\n"
    "        return {}\n"
)


def tasks(*items):
    return base_manifest("task-owner", background_tasks=list(items))


@pytest.fixture
def owner(extensions_root):
    return write_extension(
        extensions_root,
        "task-owner",
        manifest=tasks(
            {"name": "nightly", "function": "work", "schedule": "0 3 * * *", "timeout_seconds": 30},
            {"name": "on_load", "function": "work", "triggers": [{"event": "extension.loaded"}]},
            {"name": "by_hand", "function": "work", "parameters": {"type": "object"}},
        ),
        code=CODE,
    )


def definitions():
    return {row.name: row for row in TaskDefinition.objects.all()}


def test_discovery_creates_a_definition_per_declared_task(owner):
    extension_discover(load_new=False)

    rows = definitions()
    assert {name: row.kind for name, row in rows.items()} == {
        "nightly": "scheduled",
        "on_load": "event",
        "by_hand": "manual",
    }
    assert rows["nightly"].schedule == "0 3 * * *"
    assert rows["nightly"].timeout_seconds == 30
    assert rows["on_load"].triggers == [{"event": "extension.loaded", "filter": {}}]


def test_a_reload_updates_definitions_and_retires_removed_tasks(owner):
    extension_discover(load_new=True)
    (owner / "extension.json").write_text(
        json.dumps(tasks({"name": "nightly", "function": "work", "schedule": "30 4 * * *"}))
    )

    extension_reload(name="task-owner")

    rows = definitions()
    assert rows["nightly"].schedule == "30 4 * * *"
    assert (rows["on_load"].is_present, rows["by_hand"].is_present) == (False, False)
    assert TaskDefinition.objects.count() == 3


def test_operator_overrides_survive_a_resync(owner):
    extension_discover(load_new=True)
    task_definition_override(definition=definitions()["nightly"], changes={"timeout_seconds": 5, "is_enabled": False})

    extension_reload(name="task-owner")

    nightly = definitions()["nightly"]
    assert (nightly.timeout_seconds, nightly.is_enabled) == (5, False)
    assert nightly.overridden_fields == ["is_enabled", "timeout_seconds"]


def test_only_operator_fields_can_be_overridden(owner):
    extension_discover(load_new=False)

    with pytest.raises(ValueError):
        task_definition_override(definition=definitions()["nightly"], changes={"function": "other"})


def test_reloading_never_duplicates_definitions(owner):
    extension_discover(load_new=True)

    for _ in range(3):
        extension_reload(name="task-owner")

    assert TaskDefinition.objects.count() == 3


def test_tasks_list_prints_the_definitions(owner):
    extension_discover(load_new=False)
    out = StringIO()

    call_command("tasks", "list", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["EXTENSION", "TASK", "KIND", "WHEN", "TRIGGERS", "ENABLED"]
    assert lines[2].split() == ["task-owner", "nightly", "scheduled", "0", "3", "*", "*", "*", "-", "yes"]
