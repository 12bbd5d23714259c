"""Log lines say what they are about: the request (X-Request-ID), the extension and the run; JSON lines on request."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import pytest

from extensions_core.log_context import log_context, log_context_values
from extensions_core.models import TaskDefinition
from extensions_core.services import extension_discover
from extensions_core.services.executions import execution_start
from extensions_core.services.running import execute_in_sandbox
from extensions_core.tasks import execution_run_task
from tests.conftest import ROOT, base_manifest, write_extension

SPEAKER = """
import logging

from extensions_core.sdk import BaseExtension

module_logger = logging.getLogger("speaker.module")


class Speaker(BaseExtension):
    def speak(self, context, word="hello"):
        context.logger.warning("task says %s", word)
        module_logger.warning("module says %s", word)
        return {"word": word}
"""


@pytest.fixture
def speaker(extensions_root):
    manifest = base_manifest(
        "speaker",
        background_tasks=[
            {"name": "speak", "function": "speak", "isolated": False},
            {"name": "speak_isolated", "function": "speak"},
        ],
    )
    write_extension(extensions_root, "speaker", manifest=manifest, code=SPEAKER)
    extension_discover(load_new=True)


def lines_about(caplog, prefix: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage().startswith(prefix)]


@pytest.mark.django_db
def test_a_request_keeps_the_clients_id_in_its_response_and_on_its_log_lines(client, caplog):
    caplog.set_level(logging.WARNING, logger="django.request")

    response = client.get("/api/no-such-thing/", HTTP_X_REQUEST_ID="probe-42.a:b")

    assert response.status_code == 404
    assert response["X-Request-ID"] == "probe-42.a:b"
    # Django logs the 404 after the middleware chain returned: the id is still on it.
    [line] = [record for record in caplog.records if record.name == "django.request"]
    assert line.request_id == "probe-42.a:b"
    assert log_context_values() == {}  # and gone once the request finished


@pytest.mark.django_db
@pytest.mark.parametrize("sent", [None, "", "x" * 65, "has space", "new\nline", "ünïcode"])
def test_a_missing_or_unusable_request_id_is_replaced_by_a_new_one(client, sent):
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}

    first = client.get("/api/no-such-thing/", **headers)["X-Request-ID"]
    second = client.get("/api/no-such-thing/", **headers)["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


@pytest.mark.django_db
def test_an_in_process_runs_lines_carry_its_extension_and_execution(speaker, caplog):
    caplog.set_level(logging.WARNING)
    definition = TaskDefinition.objects.select_related("extension").get(extension__name="speaker", name="speak")
    execution = execution_start(definition=definition, trigger_type="manual")

    execution_run_task(str(execution.pk))  # as a worker runs it (its registry synced first)

    said = lines_about(caplog, "task says") + lines_about(caplog, "module says")
    assert len(said) == 2
    assert {(record.extension, record.execution_id) for record in said} == {("speaker", str(execution.pk))}
    logging.getLogger("after").warning("after the run")
    assert lines_about(caplog, "after the run")[0].execution_id == ""


@pytest.mark.django_db
def test_an_isolated_runs_lines_carry_its_extension_and_execution_in_the_sandbox(speaker, caplog):
    caplog.set_level(logging.WARNING)
    request = {
        "execution_id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "extension_name": "speaker",
        "task_name": "speak_isolated",
        "function": "speak",
        "parameters": {"word": "hi"},
        "event": None,
        "attempt": 1,
    }

    assert execute_in_sandbox(request, lambda: False)() == {"word": "hi"}

    said = lines_about(caplog, "task says hi") + lines_about(caplog, "module says hi")
    assert {(record.extension, record.execution_id) for record in said} == {
        ("speaker", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")
    }


def test_the_context_nests_and_comes_back():
    with log_context(extension="outer", execution_id="1"):
        with log_context(execution_id="2"):
            assert log_context_values() == {"extension": "outer", "execution_id": "2"}
        assert log_context_values() == {"extension": "outer", "execution_id": "1"}
    assert log_context_values() == {}
    with pytest.raises(ValueError, match="unknown log context fields: actor"):
        with log_context(actor="someone"):
            pass


LOG_SOME_LINES = """
import logging, django
django.setup()
from extensions_core.log_context import log_context
logging.getLogger("karen.probe").warning("plain line")
with log_context(request_id="r-1", extension="hello-extension", execution_id="e-1"):
    logging.getLogger("karen.probe").warning("about a run")
    try:
        1 / 0
    except ZeroDivisionError:
        logging.getLogger("karen.probe").exception("it failed")
"""


def run_with_log_format(value: str | None) -> subprocess.CompletedProcess:
    env = {key: item for key, item in os.environ.items() if key != "KAREN_LOG_FORMAT"}
    if value is not None:
        env["KAREN_LOG_FORMAT"] = value
    return subprocess.run(
        [sys.executable, "-c", LOG_SOME_LINES], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_karen_log_format_json_writes_one_json_object_per_line_with_the_context():
    finished = run_with_log_format("json")

    assert finished.returncode == 0, finished.stderr
    lines = [json.loads(line) for line in finished.stderr.splitlines() if '"karen.probe"' in line]
    assert [line["message"] for line in lines] == ["plain line", "about a run", "it failed"]
    assert set(lines[0]) == {"time", "level", "logger", "message"}
    assert lines[1] | {"time": "-"} == {
        "time": "-",
        "level": "WARNING",
        "logger": "karen.probe",
        "message": "about a run",
        "request_id": "r-1",
        "extension": "hello-extension",
        "execution_id": "e-1",
    }
    assert "ZeroDivisionError: division by zero" in lines[2]["exception"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", lines[0]["time"])


def test_the_plain_format_stays_the_default_and_a_wrong_value_says_what_to_set():
    plain = run_with_log_format(None)
    wrong = run_with_log_format("xml")

    assert plain.returncode == 0, plain.stderr
    assert re.search(r"WARNING karen\.probe: plain line", plain.stderr)
    assert wrong.returncode != 0
    assert "KAREN_LOG_FORMAT must be one of plain, json (got 'xml')" in wrong.stderr
