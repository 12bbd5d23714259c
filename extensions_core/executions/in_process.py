"""Runs in the worker process itself (`"isolated": false`): the task on the worker's own thread.

Faster (no sandbox round trip), with no memory or CPU limits; timeouts and
cancellation still hold, but a hard stop has to kill the whole worker child
process, which Celery then replaces. Isolated runs are `sandbox.py` (the
worker's side) and `sandbox_child.py` (the sandbox's side).
"""

from __future__ import annotations

import logging
import os
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
    buffer = LogBuffer()
    handler = _BufferLogHandler(buffer, threading.get_ident())
    root = logging.getLogger()
    if root.level > logging.INFO:
        _let_info_through(root)
    root.addHandler(handler)
    use_alarm = bool(limits.timeout_seconds) and threading.current_thread() is threading.main_thread()
    previous_alarm = None
    watched = None
    cpu_before = time.thread_time()
    try:
        if use_alarm:

            def _timeout(*_):
                raise TaskTimeoutError(f"the task ran past its timeout of {limits.timeout_seconds:g} s")

            previous_alarm = signal.signal(signal.SIGALRM, _timeout)
            signal.setitimer(signal.ITIMER_REAL, limits.timeout_seconds)
        watched = _Watched(limits, control, cancelled, buffer, on_hard_stop)
        _watch(watched)
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
        if watched is not None:
            _unwatch(watched)
        if use_alarm and previous_alarm is not None:
            signal.signal(signal.SIGALRM, previous_alarm)
        root.removeHandler(handler)
    outcome.cpu_seconds = round(time.thread_time() - cpu_before, 6)
    outcome.peak_memory_bytes = rss_bytes(os.getpid())
    outcome.log = buffer.snapshot()
    return outcome


def _let_info_through(root: logging.Logger) -> None:
    """Lower the root logger to INFO for good, so a run's INFO lines reach its buffer; the handlers it had keep
    showing only what they showed before (`_AsBefore`).

    Lowering it for each run and raising it after (as before) cost two walks over every logger's cache
    (setLevel: about 20 us with a worker's ~100 loggers), and while it was lowered every INFO line of any
    logger in the process reached the worker's console, which was started with --loglevel WARNING or ERROR.
    """
    threshold = root.level
    for handler in list(root.handlers):
        if isinstance(handler, _BufferLogHandler):  # another run's, going on in another thread
            continue
        kept = [existing for existing in handler.filters if isinstance(existing, _AsBefore)]
        if kept:
            kept[0].threshold = threshold
        else:
            handler.addFilter(_AsBefore(threshold))
    root.setLevel(logging.INFO)


class _AsBefore(logging.Filter):
    """Passes what the root logger let through at *threshold*: records at or above it, and records of loggers
    with a level of their own (which never looked at the root's) at or above that level."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= self.threshold:
            return True
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None and logger.parent is not None:  # up to, not including, the root
            if logger.level:
                return record.levelno >= logger.level
            logger = logger.parent
        return False


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


# --- the watcher: one thread per process, waking every tick, never handed a run -------------------

# How often the watcher looks at the runs going on. It is not woken per run: a run shorter than the first
# cancel poll (CANCEL_POLL_SECONDS) costs it nothing but two set operations.
WATCH_TICK_SECONDS = 0.1


class _Watched:
    """One in-process run as the watcher sees it: its limits, its deadlines, how to stop it."""

    __slots__ = (
        "limits",
        "control",
        "cancel_flag",
        "buffer",
        "on_hard_stop",
        "hard_deadline",
        "next_cancel_poll",
        "cancel_deadline",
        "next_heartbeat",
    )

    def __init__(self, limits, control, cancelled, buffer, on_hard_stop) -> None:
        started = time.monotonic()
        self.limits, self.control, self.cancel_flag = limits, control, cancelled
        self.buffer, self.on_hard_stop = buffer, on_hard_stop
        timeout = limits.timeout_seconds
        self.hard_deadline = started + timeout + HARD_TIMEOUT_GRACE_SECONDS if timeout else None
        self.next_cancel_poll = started + CANCEL_POLL_SECONDS
        self.cancel_deadline: float | None = None
        self.next_heartbeat = started + EXECUTION_HEARTBEAT_SECONDS


# The runs going on in this process. A run leaves it under the lock, and the watcher stops a run only under
# the lock while it is still here: a run that ends as it is stopped is recorded once, by one of the two.
_running: set[_Watched] = set()
_running_lock = threading.Lock()
_watcher_pid = 0


def _watch(watched: _Watched) -> None:
    """Put a run under this process's watcher (started once per process)."""
    global _watcher_pid
    if _watcher_pid != os.getpid():
        _watcher_pid = os.getpid()
        threading.Thread(target=_watcher_loop, name="karen-execution-watcher", daemon=True).start()
    _running.add(watched)


def _unwatch(watched: _Watched) -> None:
    with _running_lock:
        _running.discard(watched)


def _watcher_loop() -> None:
    from django.db import connection

    while True:
        time.sleep(WATCH_TICK_SECONDS)
        if not _running:
            # The connection it opened for a long run's heartbeats and cancel polls goes with the run.
            if connection.connection is not None:
                connection.close()
            continue
        now = time.monotonic()
        for watched in list(_running):
            try:
                _look_at(watched, now)
            except Exception:  # noqa: BLE001 - the watcher must keep watching the next runs
                logger.exception("Watching an in-process run failed; it goes on unwatched until its next look")


def _look_at(watched: _Watched, now: float) -> None:
    if watched.cancel_deadline is None and now >= watched.next_cancel_poll:
        watched.next_cancel_poll = now + CANCEL_POLL_SECONDS
        if _ask(watched.control.is_cancel_requested):
            watched.cancel_flag.set()
            watched.cancel_deadline = now + CANCEL_GRACE_SECONDS
    stop = None
    if watched.cancel_deadline is not None and now >= watched.cancel_deadline:
        stop = Outcome(
            status=Status.CANCELLED,
            error="cancelled; the task did not stop in time and its worker process was killed",
        )
    elif watched.hard_deadline and now >= watched.hard_deadline:
        stop = Outcome(
            status=Status.FAILED,
            failure_reason=FailureReason.TIMEOUT,
            error=f"the task ran past its timeout of "
            f"{watched.limits.timeout_seconds:g} s and its worker process was killed",
        )
    if stop is not None:
        with _running_lock:
            if watched not in _running:
                return  # it ended on its own meanwhile, and recorded that
            stop.log = watched.buffer.snapshot()
            _ask(lambda: watched.on_hard_stop(stop))
            # Whatever this process started (its sandbox's tree included) dies first, or init adopts it.
            kill_descendants(os.getpid())
            os.kill(os.getpid(), signal.SIGKILL)
    if now >= watched.next_heartbeat:
        watched.next_heartbeat = now + EXECUTION_HEARTBEAT_SECONDS
        _ask(lambda: watched.control.heartbeat(watched.buffer.snapshot()))


def _ask(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception:  # noqa: BLE001 - the watcher must keep watching
        logger.exception("Execution control call failed; the run goes on")
        return None
