"""Changes made in one process are in effect in another real process within 1 s."""

from __future__ import annotations

import time

import pytest

from extensions_core.registry import registry
from extensions_core.services import (
    extension_disable,
    extension_discover,
    extension_enable,
    extension_load,
    extension_reload,
    extension_unload,
    registry_sync,
)
from tests.conftest import install_fixture
from tests.processes import start_follower

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PROPAGATION_LIMIT_SECONDS = 1.0


def wait_for_state(reader, expected: dict, timeout: float = 10) -> float:
    """Return when the follower reported *expected* (epoch seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = reader.next_json(timeout=deadline - time.monotonic())
        if line["loaded"] == expected:
            return line["at"]
    raise AssertionError(f"follower never reported {expected}")


@pytest.fixture
def follower(extensions_root):
    process, reader = start_follower(seconds=60)
    assert reader.next_json(timeout=30)["loaded"] == {}
    yield reader
    process.kill()
    process.wait()


def test_load_unload_reload_in_one_process_take_effect_in_another_within_a_second(extensions_root, follower):
    install_fixture(extensions_root, "reloadable")
    extension_discover(load_new=False)

    changed_at = time.time()
    extension_load(name="reloadable")
    seen_at = wait_for_state(follower, {"reloadable": 1})
    load_delay = seen_at - changed_at

    changed_at = time.time()
    extension_reload(name="reloadable")
    seen_at = wait_for_state(follower, {"reloadable": 2})
    reload_delay = seen_at - changed_at

    changed_at = time.time()
    extension_unload(name="reloadable")
    seen_at = wait_for_state(follower, {})
    unload_delay = seen_at - changed_at

    assert load_delay < PROPAGATION_LIMIT_SECONDS
    assert reload_delay < PROPAGATION_LIMIT_SECONDS
    assert unload_delay < PROPAGATION_LIMIT_SECONDS


def test_disable_and_enable_take_effect_in_another_process(extensions_root, follower):
    install_fixture(extensions_root, "valid_minimal")
    extension_discover(load_new=True)
    wait_for_state(follower, {"valid-minimal": 1})

    changed_at = time.time()
    extension_disable(name="valid-minimal")
    disabled_delay = wait_for_state(follower, {}) - changed_at
    extension_enable(name="valid-minimal")
    wait_for_state(follower, {"valid-minimal": 2})

    assert disabled_delay < PROPAGATION_LIMIT_SECONDS


def test_a_process_follows_changes_it_did_not_make(extensions_root):
    install_fixture(extensions_root, "valid_minimal")
    extension_discover(load_new=True)
    registry.reset()

    registry_sync(force=True)

    assert registry.snapshot() == {"valid-minimal": 1}
    assert registry.is_ready
