"""What every run shares, in the worker and in the sandbox: its limits, how it ended, its log, its control.

`Outcome` is what both runners hand back (status from `states`), `RunControl`
what they ask the worker for (cancel requested? here is my log), `LogBuffer`
the capped lines a run printed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from extensions_core.executions.states import FailureReason, Status
from extensions_core.process_tree import OwnProcFile
from extensions_core.sdk import TaskTimeoutError

# Seconds between the soft timeout and the kill, and between a cancel request and the kill.
HARD_TIMEOUT_GRACE_SECONDS = 3.0
CANCEL_GRACE_SECONDS = 3.0
CANCEL_POLL_SECONDS = 0.5
# A task whose CPU use stays within this many seconds of its allowed share is not paused.
CPU_ALLOWANCE_SECONDS = 0.2
MAX_LOG_LINES = 2000
MAX_LOG_LINE_CHARS = 4000


@dataclass(frozen=True, slots=True)
class RunLimits:
    """How long and how much a run may take; None means no limit."""

    timeout_seconds: float | None = None
    max_memory_bytes: int | None = None
    max_cpu_percent: float | None = None


@dataclass(slots=True)
class Outcome:
    """How a run ended: completed, failed (with its FailureReason) or cancelled, with its result or error."""

    status: Status
    failure_reason: FailureReason | str = ""
    result: Any = None
    error: str = ""
    traceback: str = ""
    cpu_seconds: float | None = None
    peak_memory_bytes: int | None = None
    log: list[list[Any]] = field(default_factory=list)


class RunControl(Protocol):
    def is_cancel_requested(self) -> bool:
        """Return whether someone asked to cancel this run."""

    def heartbeat(self, log: list[list[Any]]) -> None:
        """Record that the run is alive, with the log lines captured so far."""


@dataclass
class LogBuffer:
    """Captured lines of one run, capped so a chatty task cannot fill the database."""

    lines: list[list[Any]] = field(default_factory=list)
    dropped: int = 0
    changed: bool = False

    def add(self, level: str, message: str, at: str | None = None) -> None:
        if len(self.lines) >= MAX_LOG_LINES:
            self.dropped += 1
            return
        if len(message) > MAX_LOG_LINE_CHARS:
            message = message[:MAX_LOG_LINE_CHARS] + "… (truncated)"
        self.lines.append([at or _now(), level, message])
        self.changed = True

    def snapshot(self) -> list[list[Any]]:
        self.changed = False
        if self.dropped:
            return [*self.lines, [_now(), "WARNING", f"{self.dropped} more log lines were dropped"]]
        return list(self.lines)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def json_result(value: Any) -> Any:
    """Return *value* as it will be stored; raise TypeError/ValueError when it is not JSON."""
    return json.loads(json.dumps(value, allow_nan=False))


def failure_from_exception(error: BaseException) -> tuple[str, str]:
    if isinstance(error, TaskTimeoutError):
        return FailureReason.TIMEOUT, str(error) or "the task ran past its timeout"
    if isinstance(error, MemoryError):
        return FailureReason.MEMORY_LIMIT, "the task ran out of memory (MemoryError)"
    return FailureReason.EXCEPTION, f"{type(error).__name__}: {error}"


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_own_statm = OwnProcFile("statm")


def rss_bytes(pid: int) -> int | None:
    """Resident bytes of *pid*; this process's own are read through a kept descriptor (once per run)."""
    try:
        if pid == os.getpid():
            return int(_own_statm.read().split()[1]) * _PAGE_SIZE
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None
