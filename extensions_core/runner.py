"""What every run shares (limits, outcome, log buffer, control protocol), and runs in the worker process itself.

In process (`"isolated": false`): the task runs on the worker's own thread
(faster: no sandbox round trip), with no memory or CPU limits; timeouts and
cancellation still hold, but a hard stop has to kill the whole worker child
process, which Celery then replaces. Isolated runs live in `sandbox.py`.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from extensions_core.conf import EXECUTION_HEARTBEAT_SECONDS
from extensions_core.executions.states import FailureReason, Status
from extensions_core.process_tree import kill_descendants
from extensions_core.sdk import TaskCancelledError, TaskTimeoutError

logger = logging.getLogger(__name__)

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


def rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


# --- in-process runs -----------------------------------------------------------------------------


def run_in_process(
    function: Callable[..., Any],
    make_context: Callable[[Callable[[], bool]], Any],
    parameters: dict[str, Any],
    limits: RunLimits,
    control: RunControl,
    on_hard_stop: Callable[[Outcome], None],
) -> Outcome:
    """Run ``function(context, **parameters)`` on this thread; a watcher thread heartbeats and enforces stops.

    When the task ignores its soft timeout or a cancel, the watcher calls
    *on_hard_stop* with the final Outcome and kills this process.
    """
    cancelled = threading.Event()
    finished = threading.Event()
    buffer = LogBuffer()
    handler = _BufferLogHandler(buffer, threading.get_ident())
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    # setLevel clears every logger's cache: only when the level has to change.
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    use_alarm = bool(limits.timeout_seconds) and threading.current_thread() is threading.main_thread()
    previous_alarm = None
    cpu_before = time.thread_time()
    try:
        if use_alarm:

            def _timeout(*_):
                raise TaskTimeoutError(f"the task ran past its timeout of {limits.timeout_seconds:g} s")

            previous_alarm = signal.signal(signal.SIGALRM, _timeout)
            signal.setitimer(signal.ITIMER_REAL, limits.timeout_seconds)
        _watch((limits, control, cancelled, finished, buffer, on_hard_stop))
        try:
            value = function(make_context(cancelled.is_set), **parameters)
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
            try:
                value = json_result(value)
            except (TypeError, ValueError) as error:
                outcome = Outcome(
                    status=Status.FAILED,
                    failure_reason=FailureReason.INVALID_RESULT,
                    error=f"result is not JSON: {error}",
                )
            else:
                outcome = Outcome(status=Status.CANCELLED if cancelled.is_set() else Status.COMPLETED, result=value)
        except BaseException as error:  # noqa: BLE001 - every ending of a task is reported
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if isinstance(error, TaskCancelledError) or (
                cancelled.is_set() and not isinstance(error, TaskTimeoutError)
            ):
                outcome = Outcome(status=Status.CANCELLED, error=str(error) or Status.CANCELLED.label)
            else:
                reason, message = failure_from_exception(error)
                outcome = Outcome(
                    status=Status.FAILED, failure_reason=reason, error=message, traceback=traceback.format_exc()
                )
    finally:
        finished.set()
        if use_alarm and previous_alarm is not None:
            signal.signal(signal.SIGALRM, previous_alarm)
        root.removeHandler(handler)
        if root.level != previous_level:
            root.setLevel(previous_level)
    outcome.cpu_seconds = round(time.thread_time() - cpu_before, 6)
    outcome.peak_memory_bytes = rss_bytes(os.getpid())
    outcome.log = buffer.snapshot()
    return outcome


class _BufferLogHandler(logging.Handler):
    """Keeps the records logged by one thread (the task's) in its run's buffer."""

    def __init__(self, buffer: LogBuffer, thread_id: int) -> None:
        super().__init__(logging.DEBUG)
        self.buffer = buffer
        self.thread_id = thread_id
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread_id:
            self.buffer.add(record.levelname, self.format(record))


_watch_queue: queue.SimpleQueue = queue.SimpleQueue()
_watcher_pid = 0


def _watch(run: tuple) -> None:
    """Hand a run to this process's watcher thread (started once: no thread per run)."""
    global _watcher_pid
    if _watcher_pid != os.getpid():
        _watcher_pid = os.getpid()
        threading.Thread(target=_watcher_loop, name="karen-execution-watcher", daemon=True).start()
    _watch_queue.put(run)


def _watcher_loop() -> None:
    while True:
        _watch_in_process(*_watch_queue.get())


def _watch_in_process(limits, control, cancelled, finished, buffer, on_hard_stop) -> None:
    from django.db import connection

    started = time.monotonic()
    hard_deadline = started + limits.timeout_seconds + HARD_TIMEOUT_GRACE_SECONDS if limits.timeout_seconds else None
    cancel_deadline = None
    next_heartbeat = started + EXECUTION_HEARTBEAT_SECONDS
    try:
        while not finished.wait(CANCEL_POLL_SECONDS):
            now = time.monotonic()
            stop = None
            if cancel_deadline is None and _ask(control.is_cancel_requested):
                cancelled.set()
                cancel_deadline = now + CANCEL_GRACE_SECONDS
            if cancel_deadline is not None and now >= cancel_deadline:
                stop = Outcome(
                    status=Status.CANCELLED,
                    error="cancelled; the task did not stop in time and its worker process was killed",
                )
            elif hard_deadline and now >= hard_deadline:
                stop = Outcome(
                    status=Status.FAILED,
                    failure_reason=FailureReason.TIMEOUT,
                    error=f"the task ran past its timeout of "
                    f"{limits.timeout_seconds:g} s and its worker process was killed",
                )
            if stop is not None and not finished.is_set():
                stop.log = buffer.snapshot()
                _ask(lambda stop=stop: on_hard_stop(stop))
                # Whatever this process started (its sandbox's tree included) dies first, or init adopts it.
                kill_descendants(os.getpid())
                os.kill(os.getpid(), signal.SIGKILL)
            if now >= next_heartbeat:
                next_heartbeat = now + EXECUTION_HEARTBEAT_SECONDS
                _ask(lambda: control.heartbeat(buffer.snapshot()))
    finally:
        if connection.connection is not None:
            connection.close()


def _ask(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception:  # noqa: BLE001 - the watcher must keep watching
        logger.exception("Execution control call failed; the run goes on")
        return None
