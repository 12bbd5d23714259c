"""Running a task from the admin: the form built from its parameters schema, Run again, and the live run page."""

from __future__ import annotations

import json
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from extensions_core.models import TaskDefinition, TaskExecution
from extensions_core.permissions import grant
from extensions_core.schema_forms import LinesField, SchemaForm
from extensions_core.services import extension_discover
from tests.conftest import install_fixture

pytestmark = pytest.mark.django_db
Status = TaskExecution.Status


@pytest.fixture
def typed(extensions_root):
    install_fixture(extensions_root, "ui_lab")
    install_fixture(extensions_root, "task_lab")
    extension_discover(load_new=True)
    return TaskDefinition.objects.get(extension__name="ui-lab", name="typed")


@pytest.fixture
def superuser(client):
    client.force_login(get_user_model().objects.create_superuser("root", password="pw"))
    return client


def run_url(definition: TaskDefinition) -> str:
    return f"/admin/extensions_core/taskdefinition/{definition.pk}/run/"


VALID = {
    "label": "lab",
    "mode": json.dumps("slow"),
    "count": "4",
    "ratio": "0.5",
    "verbose": "on",
    "tags": "a\nb\n\n c ",
    "sizes": "1\n22",
    "colours": [json.dumps("red"), json.dumps("blue")],
    "options": '{"depth": 2}',
    "note": "",
    "nothing": "null",
    "anything": '[1, "two"]',
}


def test_the_form_has_one_field_per_parameter_with_its_type_default_and_help(superuser, typed):
    page = superuser.get(run_url(typed)).content.decode()

    assert page.count('data-parameter="') == 12
    assert 'name="label" maxlength="20" minlength="2" required' in page
    assert '<option value="&quot;fast&quot;" selected>fast</option>' in page
    assert 'type="number" name="count" value="3" min="1" max="10"' in page
    assert 'type="number" name="ratio"' in page and 'min="0"' in page
    assert 'type="checkbox" name="verbose"' in page
    assert "One item per line." in page
    assert 'type="checkbox" name="colours" value="&quot;green&quot;"' in page
    assert "JSON (object)." in page
    assert "What to call it" in page


def test_valid_input_starts_the_run_with_typed_parameters_and_goes_to_its_page(superuser, typed):
    response = superuser.post(run_url(typed), VALID)

    execution = TaskExecution.objects.get(definition=typed)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/extensions_core/taskexecution/{execution.pk}/change/"
    assert execution.parameters == {
        "label": "lab",
        "mode": "slow",
        "count": 4,
        "ratio": 0.5,
        "verbose": True,
        "tags": ["a", "b", "c"],
        "sizes": [1, 22],
        "colours": ["red", "blue"],
        "options": {"depth": 2},
        "anything": [1, "two"],
    }
    assert execution.trigger_type == "manual" and execution.user.username == "root"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("label", "x", "Ensure this value has at least 2 characters"),
        ("label", "", "This field is required."),
        ("count", "11", "Ensure this value is less than or equal to 10."),
        ("count", "two", "Enter a whole number."),
        ("ratio", "1.5", "Ensure this value is less than or equal to 1."),
        ("mode", json.dumps("sideways"), "Select a valid choice."),
        ("sizes", "1\nbig", "line 2: &quot;big&quot; is not a whole number"),
        ("options", "{not json", "Enter a valid JSON."),
        ("options", '{"depth": "deep"}', "&#x27;deep&#x27; is not of type &#x27;integer&#x27;"),
        ("nothing", "3", "3 is not of type &#x27;null&#x27;"),
    ],
)
def test_invalid_input_is_shown_on_its_field_and_starts_nothing(superuser, typed, field, value, message):
    response = superuser.post(run_url(typed), {**VALID, field: value})

    page = response.content.decode()
    row = page.split(f'data-parameter="{field}"')[1].split('data-parameter="')[0]
    assert response.status_code == 200
    assert message in row
    assert not TaskExecution.objects.filter(definition=typed).exists()


def test_a_task_without_parameters_runs_from_an_empty_form(superuser, typed):
    fail = TaskDefinition.objects.get(extension__name="task-lab", name="fail")

    assert "This task takes no parameters." in superuser.get(run_url(fail)).content.decode()
    assert superuser.post(run_url(fail), {}).status_code == 302
    assert TaskExecution.objects.get(definition=fail).parameters == {}


def test_the_form_is_refused_without_run_permission_and_hidden_without_view(client, typed):
    user = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(run_url(typed)).status_code == 404

    grant(user, "view_taskdefinition", typed)
    assert client.get(run_url(typed)).status_code == 403

    grant(user, "run_taskdefinition", typed)
    assert client.get(run_url(typed)).status_code == 200


def test_a_task_whose_extension_is_not_loaded_says_so_on_the_form(superuser, typed):
    from extensions_core.services import extension_unload

    extension_unload(name="ui-lab")

    page = superuser.post(run_url(typed), VALID).content.decode()

    assert '<div class="errornote">Extension &quot;ui-lab&quot;: is not loaded, so task' in page
    assert not TaskExecution.objects.filter(definition=typed).exists()


def finished(definition: TaskDefinition, status: str, **values) -> TaskExecution:
    now = timezone.now()
    return TaskExecution.objects.create(
        id=uuid.uuid4(),
        definition=definition,
        extension_name=definition.extension.name,
        task_name=definition.name,
        status=status,
        trigger_type="manual",
        queued_at=now,
        started_at=now,
        finished_at=now,
        duration_seconds=0.5,
        **values,
    )


def test_run_again_starts_the_same_task_with_the_same_parameters(superuser, typed):
    failed = finished(typed, Status.FAILED, parameters={"label": "again", "count": 2}, failure_reason="exception")

    response = superuser.post(f"/admin/extensions_core/taskexecution/{failed.pk}/run-again/")

    again = TaskExecution.objects.exclude(pk=failed.pk).get(definition=typed)
    assert response["Location"] == f"/admin/extensions_core/taskexecution/{again.pk}/change/"
    assert again.parameters == {"label": "again", "count": 2}
    assert f"again as {failed.pk}" in again.triggered_by
    assert (
        'data-action="run-again"'
        in superuser.get(f"/admin/extensions_core/taskexecution/{failed.pk}/change/").content.decode()
    )


def test_change_parameters_and_run_starts_the_form_from_that_run(superuser, typed):
    source = finished(typed, Status.COMPLETED, parameters={"label": "from-before", "count": 7})

    page = superuser.get(f"{run_url(typed)}?from={source.pk}").content.decode()

    assert 'value="from-before"' in page and 'name="count" value="7"' in page


@pytest.mark.parametrize("status", [Status.CANCELLED, Status.FAILED])
def test_a_cancelled_or_failed_run_never_shows_a_result(superuser, typed, status):
    execution = finished(typed, status, result={"status": "success"}, error="stopped")

    page = superuser.get(f"/admin/extensions_core/taskexecution/{execution.pk}/change/").content.decode()

    assert "success" not in page.lower().replace("success rate", "")
    assert f"a {execution.get_status_display()} run has no result" in page


def test_the_run_page_tails_new_log_lines_and_stops_polling_when_the_run_ends(superuser, typed):
    execution = finished(typed, Status.RUNNING, log=[["12:00:00", "INFO", "one"], ["12:00:01", "INFO", "two"]])
    TaskExecution.objects.filter(pk=execution.pk).update(finished_at=None, duration_seconds=None)
    live = f"/admin/extensions_core/taskexecution/{execution.pk}/live/"

    page = superuser.get(f"/admin/extensions_core/taskexecution/{execution.pk}/change/").content.decode()
    assert f'hx-get="{live}?after=2"' in page and 'id="execution-log"' in page

    TaskExecution.objects.filter(pk=execution.pk).update(log=[*execution.log, ["12:00:02", "ERROR", "three"]])
    running = superuser.get(f"{live}?after=2")
    assert running.status_code == 200
    body = running.content.decode()
    assert 'hx-swap-oob="beforeend"' in body and "three" in body and "two" not in body
    assert f'hx-get="{live}?after=3"' in body

    TaskExecution.objects.filter(pk=execution.pk).update(status=Status.COMPLETED, result={"n": 1})
    ended = superuser.get(f"{live}?after=3")
    assert ended.status_code == 286  # htmx: stop polling
    assert ended["HX-Refresh"] == "true"  # and show the whole page once more, final
    assert "hx-get" not in ended.content.decode()
    assert "&quot;n&quot;: 1" in ended.content.decode()


def test_the_task_page_says_the_schedule_in_words_and_the_next_five_runs_in_its_zone(superuser, extensions_root):
    from tests.conftest import base_manifest, write_extension

    write_extension(
        extensions_root,
        "clock",
        manifest=base_manifest(
            "clock",
            background_tasks=[
                {"name": "tick", "function": "tick", "schedule": "30 9 * * 1-5", "timezone": "Europe/Paris"}
            ],
        ),
        code=(
            "from extensions_core.sdk import BaseExtension\n\n\n"
            "class Clock(BaseExtension):\n"
            "    def tick(self, context):\n"
            "        return {}\n"
        ),
    )
    extension_discover(load_new=True)
    definition = TaskDefinition.objects.get(name="tick")

    page = superuser.get(f"/admin/extensions_core/taskdefinition/{definition.pk}/change/").content.decode()
    upcoming = page.split('data-section="next-runs"')[1].split("</ol>")[0]

    assert "At 09:30, Monday through Friday (Europe/Paris time)" in page
    assert upcoming.count("<li>") == 5
    assert upcoming.count("09:30:00 CET</time> (Europe/Paris)") == 5
    assert "Never run." in page


@given(st.lists(st.integers(min_value=-(10**12), max_value=10**12), max_size=20))
def test_lines_of_integers_come_back_as_they_were_shown(values):
    field = LinesField(item_type="integer", required=False)

    assert field.clean(field.prepare_value(values)) == (values or None)


@given(st.lists(st.text(min_size=1).map(str.strip).filter(lambda text: text and "\n" not in text and "\r" not in text)))
def test_lines_of_text_come_back_as_they_were_shown(values):
    field = LinesField(item_type="string", required=False)

    cleaned = field.clean(field.prepare_value(values))

    assert cleaned == ([value for value in values if value.strip()] or None)


def test_a_schema_form_checks_the_whole_object_against_the_schema():
    schema = {
        "type": "object",
        "properties": {"low": {"type": "integer"}, "high": {"type": "integer"}},
        "dependentRequired": {"low": ["high"]},
    }

    form = SchemaForm(schema, {"low": "1"})

    assert not form.is_valid()
    assert form.non_field_errors() == ["'high' is a dependency of 'low'"]


@pytest.mark.parametrize(("after", "expected"), [(0, ["a", "b", "c"]), (1, ["b", "c"]), (3, []), (50, [])])
def test_the_log_is_sliced_by_the_database(typed, after, expected):
    from extensions_core.selectors import execution_log_after

    execution = finished(typed, Status.RUNNING, log=[["t", "INFO", text] for text in "abc"])

    count, lines = execution_log_after(execution.pk, after)

    assert count == 3
    assert [line[2] for line in lines] == expected
