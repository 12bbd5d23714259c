"""The supervisor of ./karenctl start judges a child's process group by its live members, not its zombies."""

from __future__ import annotations

import os
import subprocess
import time

from extensions_core.supervisor import _group_alive


def test_a_group_of_only_a_zombie_is_not_alive():
    child = subprocess.Popen(["sleep", "0"], start_new_session=True)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(f"/proc/{child.pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.01)
    try:
        os.killpg(child.pid, 0)  # the kernel still lists the group: this is what used to count
        assert not _group_alive(child.pid, grace_seconds=0)
    finally:
        child.wait()


def test_a_group_with_a_live_process_is_alive_and_one_that_ends_within_the_grace_is_not():
    lasting = subprocess.Popen(["sleep", "30"], start_new_session=True)
    ending = subprocess.Popen(["sleep", "0.3"], start_new_session=True)
    try:
        assert _group_alive(lasting.pid, grace_seconds=0)
        assert not _group_alive(ending.pid, grace_seconds=3)
    finally:
        lasting.kill()
        lasting.wait()
        ending.wait()
