"""Nothing invisible leaks: responses name only what the caller may see; invisible answers like missing."""

from __future__ import annotations

import json
import uuid

import pytest

from extensions_core.models import EventTrigger, TaskDefinition, TaskExecution
from extensions_core.services.executions import execution_start
from tests.extensions_core.api.conftest import make_user, token_client

pytestmark = pytest.mark.django_db
TASKS = "/api/extensions/background-tasks"


def test_emitting_an_event_names_only_the_tasks_the_caller_may_see(platform, django_capture_on_commit_callbacks):
    emitter = token_client(make_user("event_emitter", None))
    admin = token_client(make_user("superuser", None))

    with django_capture_on_commit_callbacks(execute=False):
        emitted = emitter.post(
            f"{TASKS}/events/emit",
            {"event_type": "extension.loaded", "event_data": {"extension_name": "x"}},
            format="json",
        )
    history = emitter.get(f"{TASKS}/events?event_type=extension.loaded").json()["results"][0]
    seen_by_admin = admin.get(f"{TASKS}/events?event_type=extension.loaded").json()["results"][0]

    body = emitted.json()
    assert emitted.status_code == 202
    assert (body["triggered_tasks"], body["executions"], body["triggered_elsewhere"]) == ([], [], 1)
    assert "handle_extension_loaded_event" not in emitted.content.decode()
    assert "background-task-extension" not in emitted.content.decode()
    assert (history["triggered_tasks"], history["triggered_elsewhere"]) == ([], 1)
    assert seen_by_admin["triggered_tasks"][0]["task_name"] == "handle_extension_loaded_event"
    assert seen_by_admin["triggered_elsewhere"] == 0


def invisible_and_missing() -> list[tuple[str, str, str, dict | None]]:
    """(method, path of something that exists but is invisible, path of something that does not exist, body)."""
    definition = TaskDefinition.objects.get(name="manual_task")
    execution = execution_start(definition=definition, trigger_type="manual", parameters={"message": "m"})
    trigger = EventTrigger.objects.get()
    ghost = uuid.uuid4()
    return [
        ("GET", "/api/extensions/hello-extension/", "/api/extensions/no-such-extension/", None),
        ("GET", "/api/extensions/hello-extension/health", "/api/extensions/no-such-extension/health", None),
        ("GET", "/api/extensions/hello-extension/config", "/api/extensions/no-such-extension/config", None),
        ("GET", "/api/extensions/hello-extension/schema", "/api/extensions/no-such-extension/schema", None),
        ("POST", "/api/extensions/hello-extension/reload", "/api/extensions/no-such-extension/reload", None),
        ("GET", "/api/extensions/hello-extension/hello", "/api/extensions/no-such-extension/hello", None),
        (
            "GET",
            f"{TASKS}/background-task-extension/manual_task",
            f"{TASKS}/background-task-extension/no_such_task",
            None,
        ),
        (
            "POST",
            f"{TASKS}/background-task-extension/manual_task/execute",
            f"{TASKS}/no-such-extension/manual_task/execute",
            {"parameters": {}},
        ),
        ("GET", f"{TASKS}/executions/{execution.pk}", f"{TASKS}/executions/{ghost}", None),
        ("POST", f"{TASKS}/executions/{execution.pk}/cancel", f"{TASKS}/executions/{ghost}/cancel", None),
        ("GET", f"{TASKS}/events/triggers/{trigger.pk}", f"{TASKS}/events/triggers/{trigger.pk + 999}", None),
        (
            "PATCH",
            f"{TASKS}/events/triggers/{trigger.pk}",
            f"{TASKS}/events/triggers/{trigger.pk + 999}",
            {"enabled": False},
        ),
        ("DELETE", f"{TASKS}/events/triggers/{trigger.pk}", f"{TASKS}/events/triggers/{trigger.pk + 999}", None),
    ]


def as_if_missing(text: str, invisible: str, missing: str) -> str:
    """*text* with each path segment that differs between the two paths put as in the missing one."""
    for seen, absent in zip(invisible.split("/"), missing.split("/"), strict=True):
        if seen != absent:
            text = text.replace(seen, absent)
    return text


@pytest.mark.parametrize("role", ["no_grants", "event_emitter"])
def test_something_invisible_answers_exactly_like_something_missing(platform, role):
    client = token_client(make_user(role, None))

    for method, invisible, missing, body in invisible_and_missing():
        data = None if body is None else json.dumps(body)
        hidden = client.generic(method, invisible, data, content_type="application/json")
        absent = client.generic(method, missing, data, content_type="application/json")

        assert hidden.status_code == absent.status_code == 404, (method, invisible, hidden.content)
        assert as_if_missing(hidden.content.decode(), invisible, missing) == absent.content.decode()
    assert TaskExecution.objects.filter(status="cancelled").count() == 0
    assert EventTrigger.objects.filter(is_enabled=True).count() == 1


@pytest.mark.parametrize(
    "path",
    [
        "/api/extensions/?category=examples",
        f"{TASKS}/?extension=background-task-extension",
        f"{TASKS}/executions?extension=background-task-extension",
        f"{TASKS}/executions/active",
        f"{TASKS}/events/triggers?event_type=extension.loaded",
        f"{TASKS}/stats",
    ],
)
def test_lists_and_counts_hold_nothing_invisible(platform, path):
    definition = TaskDefinition.objects.get(name="manual_task")
    execution_start(definition=definition, trigger_type="manual", parameters={"message": "m"})
    client = token_client(make_user("no_grants", None))

    response = client.get(path)

    text = response.content.decode()
    assert response.status_code == 200
    assert "manual_task" not in text and "background-task-extension" not in text and "hello-extension" not in text
