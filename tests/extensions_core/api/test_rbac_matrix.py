"""The RBAC matrix: every operation of the schema x every role x {visible, invisible, missing object}.

Each operation has a row of expected statuses per role for an object the role
holds its grant on ("visible"). For the same request on an object the role
holds nothing on ("invisible") and on a name that does not exist ("missing"),
the expected status follows the rule written in `expected()`. An operation in
the schema that is missing from the table fails the test, and so does a table
row the schema no longer has.
"""

from __future__ import annotations

import uuid

import pytest

from extensions_core.models import Extension, TaskDefinition
from extensions_core.services.events import trigger_create
from extensions_core.services.executions import execution_start
from tests.extensions_core.api.conftest import ROLES, make_user, token_client

pytestmark = pytest.mark.django_db

R = dict(zip(ROLES, range(len(ROLES)), strict=True))
# Columns, in ROLES order: anonymous, no_grants, viewer, role_without_use, user_with_use, manager,
# task_viewer, task_runner, event_emitter, superuser.
OBJECT_OPERATIONS: dict[tuple[str, str], tuple[int, ...]] = {
    ("GET", "/api/extensions/{name}/"): (401, 404, 200, 200, 200, 200, 404, 404, 404, 200),
    ("POST", "/api/extensions/{name}/load"): (401, 404, 403, 403, 403, 409, 404, 404, 404, 409),
    ("POST", "/api/extensions/{name}/unload"): (401, 404, 403, 403, 403, 200, 404, 404, 404, 200),
    ("POST", "/api/extensions/{name}/reload"): (401, 404, 403, 403, 403, 200, 404, 404, 404, 200),
    ("POST", "/api/extensions/{name}/enable"): (401, 404, 403, 403, 403, 409, 404, 404, 404, 409),
    ("POST", "/api/extensions/{name}/disable"): (401, 404, 403, 403, 403, 200, 404, 404, 404, 200),
    ("GET", "/api/extensions/{name}/health"): (401, 404, 200, 200, 200, 200, 404, 404, 404, 200),
    ("GET", "/api/extensions/{name}/config"): (401, 404, 403, 403, 403, 200, 404, 404, 404, 200),
    ("PUT", "/api/extensions/{name}/config"): (401, 404, 403, 403, 403, 200, 404, 404, 404, 200),
    ("GET", "/api/extensions/{name}/schema"): (401, 404, 200, 200, 200, 200, 404, 404, 404, 200),
    ("GET", "/api/extensions/hello-extension/hello"): (401, 404, 403, 403, 200, 403, 404, 404, 404, 200),
    ("GET", "/api/extensions/hello-extension/hello/{name}"): (401, 404, 403, 403, 200, 403, 404, 404, 404, 200),
    ("GET", "/api/extensions/background-task-extension/status"): (401, 404, 403, 403, 200, 403, 404, 404, 404, 200),
    # Task definitions have their own grants (view_taskdefinition, run_taskdefinition); extension roles give none.
    ("GET", "/api/extensions/background-tasks/{extension}/{task}"): (401, 404, 404, 404, 404, 404, 200, 200, 404, 200),
    ("POST", "/api/extensions/background-tasks/{extension}/{task}/execute"): (
        401,
        404,
        404,
        404,
        404,
        404,
        403,
        202,
        404,
        202,
    ),
    ("GET", "/api/extensions/background-tasks/executions/{execution_id}"): (
        401,
        404,
        404,
        404,
        404,
        404,
        200,
        200,
        404,
        200,
    ),
    ("POST", "/api/extensions/background-tasks/executions/{execution_id}/cancel"): (
        401,
        404,
        404,
        404,
        404,
        404,
        403,
        200,
        404,
        200,
    ),
    ("GET", "/api/extensions/background-tasks/events/triggers/{trigger_id}"): (
        401,
        404,
        404,
        404,
        404,
        404,
        200,
        200,
        404,
        200,
    ),
    ("PATCH", "/api/extensions/background-tasks/events/triggers/{trigger_id}"): (
        401,
        404,
        404,
        404,
        404,
        404,
        403,
        200,
        404,
        200,
    ),
    ("DELETE", "/api/extensions/background-tasks/events/triggers/{trigger_id}"): (
        401,
        404,
        404,
        404,
        404,
        404,
        403,
        204,
        404,
        204,
    ),
}
PLATFORM_OPERATIONS: dict[tuple[str, str], tuple[int, ...]] = {
    ("GET", "/api/extensions/"): (401, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/extensions/discover"): (401, 403, 403, 403, 403, 403, 403, 403, 403, 200),
    ("GET", "/api/extensions/system/health"): (401, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/extensions/system/stats"): (401, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/extensions/background-tasks/"): (401, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/auth/token"): (400, 400, 400, 400, 400, 400, 400, 400, 400, 400),
    ("POST", "/api/auth/token/revoke"): (401, 204, 204, 204, 204, 204, 204, 204, 204, 204),
    ("GET", "/api/extensions/background-tasks/executions"): (401, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/extensions/background-tasks/executions/active"): (401, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/extensions/background-tasks/events"): (401, 403, 403, 403, 403, 403, 403, 403, 200, 200),
    ("POST", "/api/extensions/background-tasks/events/emit"): (401, 403, 403, 403, 403, 403, 403, 403, 202, 202),
    ("GET", "/api/extensions/background-tasks/events/triggers"): (401, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "/api/extensions/background-tasks/events/triggers"): (401, 404, 404, 404, 404, 404, 403, 201, 404, 201),
    ("GET", "/api/extensions/background-tasks/stats"): (401, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("GET", "/api/extensions/background-tasks/health"): (401, 200, 200, 200, 200, 200, 200, 200, 200, 200),
}
BODIES = {
    ("PUT", "/api/extensions/{name}/config"): {"config": {}},
    ("POST", "/api/extensions/background-tasks/{extension}/{task}/execute"): {
        "parameters": {"message": "hi", "delay": 0}
    },
    ("PATCH", "/api/extensions/background-tasks/events/triggers/{trigger_id}"): {"enabled": False},
    ("POST", "/api/extensions/background-tasks/events/emit"): {"event_type": "test.ping", "event_data": {"n": 1}},
    ("POST", "/api/extensions/background-tasks/events/triggers"): {
        "event_type": "test.ping",
        "extension_name": "background-task-extension",
        "task_name": "manual_task",
    },
}
VARIANTS = ("visible", "invisible", "missing")


def expected(row: tuple[int, ...], role: str, variant: str) -> int:
    """The status for *variant*: invisible objects answer like missing ones, except to superusers."""
    visible = row[R[role]]
    if variant == "visible" or role == "anonymous" or visible == 401:
        return visible
    if variant == "invisible" and role == "superuser":
        return visible
    return 404


def target_of(path: str) -> str:
    tasks = "background-task" in path
    return "background-task-extension" if tasks else "hello-extension"


def task_object_url(path: str, variant: str) -> str:
    """Fill {execution_id} / {trigger_id} with an object of background-task-extension's manual_task (or none)."""
    definition = TaskDefinition.objects.select_related("extension").get(
        extension__name="background-task-extension", name="manual_task"
    )
    if "{execution_id}" in path:
        if variant == "missing":
            return path.replace("{execution_id}", str(uuid.uuid4()))
        execution = execution_start(definition=definition, trigger_type="manual", parameters={"delay": 0})
        return path.replace("{execution_id}", str(execution.id))
    if variant == "missing":
        return path.replace("{trigger_id}", "999999")
    return path.replace("{trigger_id}", str(trigger_create(definition=definition, event_type="test.ping").pk))


def concrete(path: str, variant: str) -> tuple[str, str, str]:
    """Return (url, extension requested, extension granted) for a path template and a variant."""
    target = target_of(path)
    other = "hello-extension" if target == "background-task-extension" else "background-task-extension"
    requested = {"visible": target, "invisible": target, "missing": "no-such-extension"}[variant]
    granted = other if variant == "invisible" else target
    if "{execution_id}" in path or "{trigger_id}" in path:
        url = task_object_url(path, variant)
    elif "{extension}/{task}" in path:
        url = path.replace("{extension}", requested).replace("{task}", "manual_task")
    elif path.startswith("/api/extensions/{name}"):
        url = path.replace("{name}", requested, 1)
    else:
        url = path.replace(target, requested).replace("{name}", "Ada")
    return url, requested, granted


CELLS = [
    pytest.param(method, path, role, variant, id=f"{method} {path} | {role} | {variant}")
    for (method, path) in OBJECT_OPERATIONS
    for role in ROLES
    for variant in VARIANTS
] + [
    pytest.param(method, path, role, None, id=f"{method} {path} | {role}")
    for (method, path) in PLATFORM_OPERATIONS
    for role in ROLES
]


@pytest.mark.parametrize(("method", "path", "role", "variant"), CELLS)
def test_rbac_cell(platform, method, path, role, variant):
    if variant is None:
        url, granted, want = path, target_of(path), PLATFORM_OPERATIONS[(method, path)][R[role]]
    else:
        url, _, granted = concrete(path, variant)
        want = expected(OBJECT_OPERATIONS[(method, path)], role, variant)
    client = token_client(make_user(role, Extension.objects.get(name=granted)))

    response = client.generic(method, url, data=_body(method, path), content_type="application/json")

    assert response.status_code == want, response.content[:300]
    if want >= 400:
        assert set(response.json()) <= {"code", "message", "problems"}


def _body(method: str, path: str) -> str:
    import json

    return json.dumps(BODIES.get((method, path), {}))


def test_the_matrix_covers_every_operation_of_the_schema_and_nothing_else(platform):
    schema = token_client(make_user("superuser", None)).get("/api/schema/?format=json").json()

    operations = {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }

    assert operations == set(OBJECT_OPERATIONS) | set(PLATFORM_OPERATIONS)


def test_invisible_and_missing_objects_answer_the_same_body(platform):
    user = make_user("viewer", Extension.objects.get(name="background-task-extension"))
    client = token_client(user)

    hidden = client.get("/api/extensions/hello-extension/").json()
    missing = client.get("/api/extensions/no-such-extension/").json()

    assert hidden["code"] == missing["code"] == "extension_not_found"
    assert hidden["message"].replace("hello-extension", "X") == missing["message"].replace("no-such-extension", "X")
