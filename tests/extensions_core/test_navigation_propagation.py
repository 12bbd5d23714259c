"""Navigation items appear and disappear in every web process within a second of a load or unload."""

from __future__ import annotations

import time
import urllib.request

import pytest
from django.contrib.auth import get_user_model

from extensions_core.services import (
    extension_disable,
    extension_discover,
    extension_enable,
    extension_load,
    extension_unload,
)
from tests.conftest import install_fixture
from tests.processes import free_port, start_web, stop_process, wait_for_http

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ITEM = 'data-navigation-item="ui-lab/lab"'


@pytest.fixture
def webs(extensions_root):
    install_fixture(extensions_root, "ui_lab")
    extension_discover(load_new=False)
    ports = [free_port(), free_port()]
    processes = [start_web(port) for port in ports]
    try:
        for port in ports:
            wait_for_http(f"http://127.0.0.1:{port}/admin/login/")
        yield ports
    finally:
        for process in processes:
            stop_process(process)


def session_cookie(client) -> str:
    client.force_login(get_user_model().objects.create_superuser("root", password="pw"))
    return f"sessionid={client.cookies['sessionid'].value}"


def shows_item(port: int, cookie: str) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/admin/extensions_core/extension/", headers={"Cookie": cookie}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return ITEM in response.read().decode()


def seconds_until(ports: list[int], cookie: str, *, shown: bool, limit: float = 10) -> float:
    """Return how long it took until every process shows (or no longer shows) the item."""
    started = time.monotonic()
    waiting = set(ports)
    while waiting and time.monotonic() - started < limit:
        waiting = {port for port in waiting if shows_item(port, cookie) != shown}
        if waiting:
            time.sleep(0.02)
    assert not waiting, f"web processes on {sorted(waiting)} still {'lack' if shown else 'show'} the item"
    return time.monotonic() - started


def test_items_follow_load_unload_and_disable_in_two_web_processes_within_a_second(client, webs):
    cookie = session_cookie(client)
    assert not any(shows_item(port, cookie) for port in webs)

    extension_load(name="ui-lab")
    appeared = seconds_until(webs, cookie, shown=True)
    extension_unload(name="ui-lab")
    vanished = seconds_until(webs, cookie, shown=False)
    extension_load(name="ui-lab")
    seconds_until(webs, cookie, shown=True)
    extension_disable(name="ui-lab")
    disabled = seconds_until(webs, cookie, shown=False)
    extension_enable(name="ui-lab")

    assert appeared < 1.0, appeared
    assert vanished < 1.0, vanished
    assert disabled < 1.0, disabled
