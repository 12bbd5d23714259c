"""Task behaviours for the execution tests: each function does one thing a real task might."""

from __future__ import annotations

import os
import signal
import time

from extensions_core.sdk import BaseExtension, TaskContext, TaskTimeoutError


class TaskLab(BaseExtension):
    def succeed(self, context: TaskContext, value: int = 1) -> dict:
        context.logger.info("doubling %s", value)
        print("printed line")
        return {"double": value * 2, "execution_id": context.execution_id, "attempt": context.attempt}

    def fail(self, context: TaskContext) -> None:
        context.logger.warning("about to fail")
        raise ValueError("boom")

    def nap(self, context: TaskContext, seconds: float = 30) -> dict:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if context.is_cancelled():
                context.logger.info("stopping: cancelled")
                return {"stopped": "cancelled"}
            time.sleep(0.05)
        return {"slept": seconds}

    def hang(self, context: TaskContext) -> None:
        time.sleep(600)

    def stubborn(self, context: TaskContext) -> None:
        while True:
            try:
                time.sleep(600)
            except TaskTimeoutError:
                context.logger.info("ignoring the timeout")

    def hog(self, context: TaskContext, megabytes: int = 400) -> int:
        blocks = [bytearray(2**20) for _ in range(megabytes)]
        return len(blocks)

    def crash(self, context: TaskContext) -> None:
        os.kill(os.getpid(), signal.SIGSEGV)

    def flaky(self, context: TaskContext) -> dict:
        if context.attempt < 3:
            raise RuntimeError(f"attempt {context.attempt} fails")
        return {"attempt": context.attempt}

    def step_a(self, context: TaskContext) -> float:
        time.sleep(0.2)
        return time.time()

    def step_b(self, context: TaskContext) -> float:
        return time.time()

    def final(self, context: TaskContext) -> float:
        return time.time()

    def where(self, context: TaskContext) -> dict:
        return {"pid": os.getpid(), "parent": os.getppid()}

    def on_event(self, context: TaskContext) -> dict:
        return {"event": context.event}

    def loop(self, context: TaskContext) -> dict:
        return context.emit("lab.loop", {"again": True})
