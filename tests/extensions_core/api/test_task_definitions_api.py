"""Task definitions over the API: visible per view_taskdefinition / run_taskdefinition grants."""

from __future__ import annotations

import pytest

from extensions_core.models import TaskDefinition
from extensions_core.permissions import grant
from tests.extensions_core.api.conftest import make_user, token_client

pytestmark = pytest.mark.django_db
LIST = "/api/extensions/background-tasks/"


def test_a_superuser_sees_every_definition_with_the_first_systems_fields(platform):
    body = token_client(make_user("superuser", None)).get(LIST).json()

    assert body["count"] == 5
    first = body["results"][0]
    assert (first["extension_name"], first["task_name"], first["kind"]) == (
        "background-task-extension",
        "daily_report",
        "scheduled",
    )


def test_a_user_sees_only_the_definitions_granted_to_them(platform):
    user = make_user("viewer", None)
    grant(user, "view_taskdefinition", TaskDefinition.objects.get(name="manual_task"))
    grant(user, "run_taskdefinition", TaskDefinition.objects.get(name="hourly_cleanup"))
    client = token_client(user)

    listing = client.get(LIST).json()
    detail = client.get(f"{LIST}background-task-extension/manual_task")
    hidden = client.get(f"{LIST}background-task-extension/daily_report")
    missing = client.get(f"{LIST}background-task-extension/no_such_task")

    assert [item["task_name"] for item in listing["results"]] == ["hourly_cleanup", "manual_task"]
    assert detail.status_code == 200
    assert detail.json()["parameters_schema"]["properties"]["delay"]["maximum"] == 30
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["code"] == missing.json()["code"] == "task_not_found"


def test_the_list_filters_by_extension(platform):
    client = token_client(make_user("superuser", None))

    assert client.get(f"{LIST}?extension=hello-extension").json()["count"] == 0
    assert client.get(f"{LIST}?extension=background-task-extension").json()["count"] == 5
