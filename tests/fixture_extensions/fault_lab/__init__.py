"""Tasks for the fault tests: every side effect is a file, so duplicates and losses can be counted."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

from extensions_core.sdk import BaseExtension, TaskContext, route

BUSY_LOOP = "while True: pass"


def _record(folder: str, key: str) -> bool:
    """Create folder/key once; a second run of the same key leaves a .dup file (counted by the tests)."""
    os.makedirs(folder, exist_ok=True)
    try:
        descriptor = os.open(os.path.join(folder, key), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        with open(os.path.join(folder, f"{key}.dup-{time.time_ns()}"), "w"):
            pass
        return False
    os.close(descriptor)
    return True


class FaultLab(BaseExtension):
    @route("/ping", methods=["GET"])
    def ping(self, request):
        return {"pong": True}

    def record(self, context: TaskContext, folder: str, seconds: float = 0) -> dict:
        if seconds:
            time.sleep(seconds)
        first = _record(folder, context.execution_id)
        return {"first": first}

    def leave_children(self, context: TaskContext, folder: str, wait: bool = True) -> dict:
        """Start a busy loop in its own session, a sleep and an orphan; record their pids; hang past the timeout."""
        os.makedirs(folder, exist_ok=True)
        busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP], start_new_session=True)
        sleeper = subprocess.Popen(["sleep", "400"])
        # A grandchild whose parent exits at once: it is reparented, not a child of the task any more.
        subprocess.run(["sh", "-c", "sleep 401 & echo $! > " + os.path.join(folder, "orphan.pid")], check=True)
        with open(os.path.join(folder, "children.pid"), "w") as handle:
            handle.write(f"{busy.pid}\n{sleeper.pid}\n")
        if wait:
            time.sleep(600)
        return {"busy": busy.pid, "sleeper": sleeper.pid}

    def lift_memory_limit(self, context: TaskContext) -> dict:
        """Try to raise the address-space limit, then allocate well past the manifest's 64 MB."""
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        try:
            resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            lifted = True
        except (ValueError, OSError) as error:
            context.logger.info("could not lift the limit: %s", error)
            lifted = False
        blocks = []
        for _ in range(400):
            blocks.append(bytearray(2**20))
        return {"lifted": lifted, "soft": soft, "hard": hard, "megabytes": len(blocks)}

    def tick(self, context: TaskContext, folder: str = "") -> dict:
        folder = folder or self.config.get("folder") or os.environ.get("KAREN_FAULT_FOLDER", "")
        if folder:
            _record(folder, "tick-" + context.execution_id)
        return {"ok": True}
