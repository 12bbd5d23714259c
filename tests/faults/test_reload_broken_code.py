"""A reload with broken code on a running platform: every web and worker process keeps serving the old version."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.slow


def test_a_reload_with_broken_code_keeps_every_process_serving_the_running_version(deployment):
    platform = deployment
    folder = platform.install("reload_lab")
    platform.prepare()
    platform.start_web()
    platform.start_worker(concurrency=2)
    platform.wait_until(lambda: platform.api("GET", "/api/extensions/reload-lab/mark").status_code == 200, 30, "route")
    source = folder / "__init__.py"
    source.write_text(source.read_text().replace('MARK = "one"', 'MARK = "two"\ndef broken(:\n'))

    refused = platform.api("POST", "/api/extensions/reload-lab/reload")
    time.sleep(1.5)  # longer than any process needs to follow a change
    answers = [platform.api("GET", "/api/extensions/reload-lab/mark") for _ in range(40)]
    run = platform.api("POST", "/api/extensions/background-tasks/reload-lab/work/execute", {"parameters": {}}).json()
    platform.wait_until(
        lambda: platform.executions("id = %s", (run["execution_id"],))[0]["status"] == "completed", 60, "the run"
    )
    ((result,),) = platform.query(
        "SELECT result FROM extensions_core_taskexecution WHERE id = %s", (run["execution_id"],)
    )
    detail = platform.api("GET", "/api/extensions/reload-lab/").json()
    source.write_text(source.read_text().replace("def broken(:\n", ""))
    fixed = platform.api("POST", "/api/extensions/reload-lab/reload")
    time.sleep(1.5)
    after = {platform.api("GET", "/api/extensions/reload-lab/mark").json()["mark"] for _ in range(20)}

    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "extension_import_failed"
    assert {(answer.status_code, answer.json()["mark"]) for answer in answers} == {(200, "one")}
    assert result == {"mark": "one"}
    assert detail["status"] == "active" and detail["last_reload_error"]["code"] == "extension_import_failed"
    assert fixed.status_code == 200 and after == {"two"}
