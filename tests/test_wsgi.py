"""The web process's garbage collector: frozen after set-up, collecting between requests, never in one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

# Imports the WSGI module as a server does, then makes cyclic garbage and serves requests through the WSGI app.
SERVE = """
import gc, json, weakref
from io import BytesIO
import karen.wsgi as wsgi

seen = {"enabled_after_import": gc.isenabled(), "frozen": gc.get_freeze_count() > 0}

class Cycle:
    def __init__(self):
        self.me = self

def request(path):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SERVER_NAME": "localhost", "SERVER_PORT": "80",
               "wsgi.input": BytesIO(), "wsgi.url_scheme": "http", "HTTP_HOST": "localhost"}
    response = wsgi.application(environ, lambda status, headers: None)
    b"".join(response)
    response.close()

collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
alive = weakref.WeakSet()
for _ in range(5000):
    alive.add(Cycle())  # garbage only a collection frees
seen["due_before"] = gc.get_count()[0]
seen["collections_while_making_garbage"] = len(collections)
seen["cycles_before"] = len(alive)
request("/favicon.ico")
seen["collections_at_request_start"] = list(collections)
seen["cycles_left"] = len(alive)
print(json.dumps(seen))
"""


def test_the_web_process_collects_garbage_when_a_request_starts_and_not_before(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="karen.settings", KAREN_VAR_DIR=str(tmp_path / "var"), ALLOWED_HOSTS="localhost")
    result = subprocess.run([sys.executable, "-c", SERVE], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    assert seen["enabled_after_import"] is False  # no collection in the middle of a request
    assert seen["frozen"]
    assert seen["collections_while_making_garbage"] == 0
    assert seen["due_before"] >= 5000
    assert seen["cycles_before"] == 5000
    assert seen["collections_at_request_start"][:1] == [0]
    assert seen["cycles_left"] == 0
