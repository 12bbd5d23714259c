"""Runs in the worker process itself (`"isolated": false`): the task on the worker's own thread.

Faster (no sandbox round trip), with no memory or CPU limits; timeouts and
cancellation still hold, but a hard stop has to kill the whole worker child
process, which Celery then replaces. Isolated runs are `sandbox.py` (the
worker's side) and `sandbox_child.py` (the sandbox's side).
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from extensions_core.conf import EXECUTION_HEARTBEAT_SECONDS
from extensions_core.executions.outcome import (
    CANCEL_GRACE_SECONDS,
    CANCEL_POLL_SECONDS,
    HARD_TIMEOUT_GRACE_SECONDS,
    LogBuffer,
    Outcome,
    RunControl,
    RunLimits,
    failure_from_exception,
    json_result,
    rss_bytes,
)
from extensions_core.executions.states import FailureReason, Status
from extensions_core.process_tree import kill_descendants
from extensions_core.sdk import TaskCancelledError, TaskTimeoutError

logger = logging.getLogger(__name__)

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
