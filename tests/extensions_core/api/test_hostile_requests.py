"""Every bad request against every write endpoint gets a 4xx with the API's error body: never a 500."""

from __future__ import annotations

import uuid

import pytest

from extensions_core.models import EventTrigger, TaskDefinition
from extensions_core.services import extension_discover
from extensions_core.services.events import trigger_create
from tests.conftest import install_fixture
from tests.extensions_core.api.conftest import make_user, token_client

pytestmark = pytest.mark.django_db

DEEP_ARRAY = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000
# (name, body, content type, the status a body-reading endpoint answers)
BAD_BODIES = [
    ("deep_array", DEEP_ARRAY, "application/json", 400),
    ("deep_object", DEEP_OBJECT, "application/json", 400),
    ("lone_surrogate", '{"parameters": {"x": "\\ud800"}, "event_data": {"x": "\\udfff"}, "config": {"x": "\\ud800"}}',
     "application/json", 400),
    ("nul", '{"parameters": {"x": "a\\u0000b"}, "event_data": {"x": "\\u0000"}, "config": {"x": "\\u0000"}}',
     "application/json", 400),
    ("nul_key", '{"config": {"a\\u0000": 1}}', "application/json", 400),
    ("nan", '{"parameters": {"x": NaN}, "config": {"x": Infinity}}', "application/json", 400),
    ("huge_number", '{"parameters": {"x": ' + "9" * 5000 + "}}", "application/json", 400),
    ("not_json", '{"parameters": ', "application/json", 400),
    ("not_utf8", b'{"parameters": {"x": "\xff\xfe"}}', "application/json", 400),
    ("too_large", '{"parameters": {"x": "' + "a" * 3_000_000 + '"}}', "application/json", 413),
    ("duplicate_key", '{"parameters": {}, "parameters": {"x": 1}}', "application/json", 400),
    ("not_an_object", "[1, 2, 3]", "application/json", 400),
    ("unknown_key", '{"surprise": 1}', "application/json", 400),
    ("plain_text", "parameters=1", "text/plain", 415),
]  # fmt: skip


@pytest.fixture
def lab(extensions_root):
    for fixture in ("with_routes", "task_lab"):
        install_fixture(extensions_root, fixture)
    extension_discover(load_new=True)
    definition = TaskDefinition.objects.get(extension__name="task-lab", name="on_ping")
    return trigger_create(definition=definition, event_type="lab.other", filter_conditions={})


def write_endpoints(trigger: EventTrigger) -> list[tuple[str, str, bool]]:
    """(method, path, whether it reads a body)."""
    execution = uuid.uuid4()
    return [
        ("POST", "/api/extensions/background-tasks/task-lab/succeed/execute", True),
        ("POST", "/api/extensions/background-tasks/events/emit", True),
        ("POST", "/api/extensions/background-tasks/events/triggers", True),
        ("PATCH", f"/api/extensions/background-tasks/events/triggers/{trigger.pk}", True),
        ("PUT", "/api/extensions/with-routes/config", True),
        ("POST", "/api/auth/token", True),
        ("POST", f"/api/extensions/background-tasks/executions/{execution}/cancel", False),
        ("POST", "/api/extensions/with-routes/reload", False),
        ("POST", "/api/extensions/discover", False),
        ("POST", "/api/extensions/with-routes/items", False),
        ("DELETE", f"/api/extensions/background-tasks/events/triggers/{trigger.pk + 1000}", False),
    ]


def test_no_bad_body_gets_a_server_error_and_every_refusal_is_the_json_error_body(lab, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": "10000/min"},
    }
    client = token_client(make_user("superuser", None))
    answers = []

    for method, path, reads_body in write_endpoints(lab):
        for name, body, content_type, expected in BAD_BODIES:
            response = client.generic(method, path, body, content_type=content_type)
            answers.append((name, method, path, reads_body, expected, response))

    server_errors = [
        (name, method, path, r.status_code) for name, method, path, _, _, r in answers if r.status_code >= 500
    ]
    assert server_errors == []
    for name, method, path, reads_body, expected, response in answers:
        if reads_body and not (name == "unknown_key" and path == "/api/auth/token"):
            assert response.status_code == expected, (name, method, path, response.status_code, response.content[:300])
        if response.status_code >= 400:
            body = response.json()
            assert body["code"] and body["message"], (name, path, body)


@pytest.mark.parametrize(
    ("name", "field"),
    [("lone_surrogate", "parameters.x"), ("nul", "parameters.x"), ("nan", "parameters.x")],
)
def test_a_refused_value_is_named_by_its_path(lab, name, field):
    client = token_client(make_user("superuser", None))
    body = dict((item[0], item[1]) for item in BAD_BODIES)[name]

    response = client.post(
        "/api/extensions/background-tasks/task-lab/succeed/execute", body, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert field in [problem["field"] for problem in response.json()["problems"]]


def test_execute_names_a_key_given_outside_parameters(lab):
    client = token_client(make_user("superuser", None))

    response = client.post("/api/extensions/background-tasks/task-lab/succeed/execute", {"value": 3}, format="json")

    assert response.status_code == 400
    problem = response.json()["problems"][0]
    assert problem["field"] == "value"
    assert 'inside "parameters"' in problem["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/extensions/?status=%00",
        "/api/extensions/?category=a%00b",
        "/api/extensions/background-tasks/?extension=%00",
        "/api/extensions/background-tasks/events?event_type=%00",
        "/api/extensions/background-tasks/events/triggers?event_type=%00",
        "/api/extensions/background-tasks/executions?extension=%00&task=x",
        "/api/extensions/background-tasks/executions?%00=1",
        "/api/extensions/%00/",
        "/api/extensions/with-routes/items/%00",
    ],
)
def test_a_nul_in_the_path_or_query_is_a_400_naming_it(lab, path):
    client = token_client(make_user("superuser", None))

    response = client.get(path)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_query"


def test_a_nul_in_an_admin_query_is_a_400_not_a_server_error(lab, admin_client):
    response = admin_client.get("/admin/extensions_core/extension/?q=%00")

    assert response.status_code == 400


def test_head_on_a_get_route_answers_like_get_without_a_body(lab):
    client = token_client(make_user("superuser", None))

    got = client.get("/api/extensions/with-routes/items")
    head = client.head("/api/extensions/with-routes/items")

    assert got.status_code == head.status_code == 200
    assert head.content == b""
    assert head["Content-Length"] == str(len(got.content))


@pytest.mark.parametrize("accept", ["application/json", "application/vnd.oai.openapi+json"])
def test_a_client_asking_for_json_gets_json_schemas(lab, accept):
    client = token_client(make_user("superuser", None))

    platform = client.get("/api/schema/", HTTP_ACCEPT=accept)
    extension = client.get("/api/extensions/with-routes/schema", HTTP_ACCEPT=accept)

    assert platform.status_code == extension.status_code == 200
    assert platform["Content-Type"].startswith(accept) and extension["Content-Type"].startswith(accept)
    assert platform.json()["openapi"].startswith("3") and extension.json()["openapi"].startswith("3")
