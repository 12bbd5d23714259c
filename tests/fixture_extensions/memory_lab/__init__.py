"""A task that holds as much memory as asked (its manifest sets no limit)."""

from __future__ import annotations

import os

from extensions_core.sdk import BaseExtension, TaskContext


class MemoryLab(BaseExtension):
    def allocate(self, context: TaskContext, megabytes: int = 200) -> dict:
        blocks = [bytearray(2**20) for _ in range(megabytes)]
        return {"megabytes": len(blocks), "pid": os.getpid()}
