"""Per-extension configuration: validated against the manifest's settings schema, applied everywhere."""

from __future__ import annotations

from dataclasses import replace

import pytest

from extensions_core.registry import registry
from extensions_core.services import extension_discover, registry_sync
from tests.conftest import write_extension
from tests.extensions_core.api.conftest import make_user, token_client

pytestmark = pytest.mark.django_db

SETTINGS = {
    "type": "object",
    "properties": {
        "unit": {"type": "string", "enum": ["C", "F"], "default": "C"},
        "interval": {"type": "integer", "minimum": 1, "default": 60},
    },
    "additionalProperties": False,
}
CODE = (
    "from extensions_core.sdk import BaseExtension\n\n\n"
    "class Configurable(BaseExtension):\n"
    "    def initialize(self):\n"
    "        self.applied = [dict(self.config)]\n\n"
    "    def configure(self, config):\n"
    "        super().configure(config)\n"
    "        self.applied.append(dict(config))\n"
)
URL = "/api/extensions/configurable/config"


@pytest.fixture
def configurable(extensions_root):
    write_extension(extensions_root, "configurable", settings=SETTINGS, code=CODE)
    extension_discover(load_new=True)
    return token_client(make_user("superuser", None))


def test_get_shows_stored_effective_and_schema(configurable):
    body = configurable.get(URL).json()

    assert body == {"config": {}, "effective": {"unit": "C", "interval": 60}, "schema": SETTINGS, "config_version": 0}


def test_put_validates_stores_and_applies_without_reload(configurable):
    response = configurable.put(URL, {"config": {"unit": "F"}}, format="json")

    assert response.status_code == 200
    assert response.json()["effective"] == {"unit": "F", "interval": 60}
    instance = registry.entries["configurable"].instance
    assert instance.applied == [{"unit": "C", "interval": 60}, {"unit": "F", "interval": 60}]
    assert registry.entries["configurable"].revision == 1


def test_put_reports_every_problem_and_changes_nothing(configurable):
    response = configurable.put(URL, {"config": {"unit": "K", "interval": 0, "colour": "red"}}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "extension_config_invalid"
    assert {problem["field"] for problem in body["problems"]} == {"unit", "interval", "(config)"}
    assert configurable.get(URL).json()["config"] == {}


def test_another_process_applies_the_change_on_its_next_check(configurable):
    configurable.put(URL, {"config": {"interval": 5}}, format="json")
    # Pretend this process has not seen the change yet, as another process would not have.
    registry.entries["configurable"] = replace(registry.entries["configurable"], config_version=0)
    registry.applied_generation = None

    registry_sync(force=True)

    assert registry.entries["configurable"].instance.applied[-1] == {"unit": "C", "interval": 5}
    assert registry.entries["configurable"].config_version == 1


def test_a_viewer_may_not_read_the_configuration(configurable):
    from extensions_core.models import Extension

    viewer = make_user("viewer", Extension.objects.get(name="configurable"))

    response = token_client(viewer).get(URL)

    assert response.status_code == 403
