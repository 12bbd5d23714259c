"""Two real web processes: a change made in this one is in effect in both within 1 s, over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from knox.models import AuthToken

from extensions_core.services import (
    extension_disable,
    extension_discover,
    extension_enable,
    extension_reload,
    extension_unload,
)
from tests.conftest import ROOT, write_extension
from tests.extensions_core.api.conftest import make_user
from tests.processes import process_environment

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
LIMIT_SECONDS = 1.0
CODE = (
    "from extensions_core.sdk import BaseExtension, route\n\n\n"
    "class Versioned(BaseExtension):\n"
    "    @route('/version')\n"
    "    def version(self, request):\n"
    "        return {'code': 'old'}\n"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, token: str) -> tuple[int, dict | None]:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            import json

            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None
    except (urllib.error.URLError, ConnectionError):
        return 0, None  # the server is still starting


def wait_until(check, timeout: float = 20) -> float:
    """Poll *check* until it is true; return when that was (time.time())."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.time()
        time.sleep(0.01)
    raise AssertionError("the condition never held")


@pytest.fixture
def servers(extensions_root):
    """Two single-worker gunicorn processes on the test database."""
    processes, urls = [], []
    for _ in range(2):
        port = free_port()
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "karen.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "1",
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=process_environment(),
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    yield urls
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def test_unload_reload_and_disable_reach_every_web_process_within_a_second(extensions_root, servers):
    folder = write_extension(
        extensions_root, "versioned", api={"endpoints": [{"path": "/version", "methods": ["GET"]}]}, code=CODE
    )
    extension_discover(load_new=True)
    _, token = AuthToken.objects.create(make_user("superuser", None), expiry=None)
    routes = [f"{url}/api/extensions/versioned/version" for url in servers]
    for route in routes:
        wait_until(lambda route=route: get(route, token) == (200, {"code": "old"}))

    delays = {}
    changed = time.time()
    extension_unload(name="versioned")
    delays["unload"] = max(wait_until(lambda r=r: get(r, token)[0] == 404) for r in routes) - changed

    (folder / "__init__.py").write_text(CODE.replace("'old'", "'new'"))
    changed = time.time()
    extension_reload(name="versioned")
    delays["reload"] = max(wait_until(lambda r=r: get(r, token) == (200, {"code": "new"})) for r in routes) - changed

    changed = time.time()
    extension_disable(name="versioned")
    delays["disable"] = max(wait_until(lambda r=r: get(r, token)[0] == 404) for r in routes) - changed

    extension_enable(name="versioned")
    for route in routes:
        wait_until(lambda route=route: get(route, token)[0] == 200)
    assert all(delay < LIMIT_SECONDS for delay in delays.values()), delays
