"""Isolated runs, the sandbox's side: the loop of the forked child that runs one request at a time.

It reads requests from a pipe, applies each run's limits (timeout, a hard
address-space limit), runs the task, and writes log lines and the result back.
A run's log gets only its task's lines; anything else logged or printed in the
sandbox goes to the worker's own log. The worker's side is `sandbox.py`.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import resource
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from extensions_core.executions.outcome import failure_from_exception, json_result
from extensions_core.executions.states import FailureReason, Status
from extensions_core.process_tree import (
    CAP_SYS_RESOURCE,
    OwnProcFile,
    become_subreaper,
    drop_capability,
    reap_children,
)
from extensions_core.sdk import TaskCancelledError, TaskTimeoutError

# A reused sandbox whose hard address-space limit falls short of a run's by at most this much runs it anyway.
HARD_LIMIT_TOLERANCE_BYTES = 4 * 2**20
# A result reply's flag: the task returned, but after it was asked to stop.
CANCELLED_FLAG = Status.CANCELLED.value
_PR_SET_PDEATHSIG = 1
# execute(request, is_cancelled) prepares a run (outside its log) and returns the callable that runs the task.
Execute = Callable[[dict[str, Any], Callable[[], bool]], Callable[[], Any]]


def child_main(execute: Execute, request_fd: int, reply_fd: int) -> None:  # pragma: no cover
    """Serve run requests from *request_fd* until the worker closes it; replies and log lines go to *reply_fd*."""
    _die_with_parent()
    # Orphans of whatever a task starts are adopted here, never by init: the parent finds and ends them all.
    become_subreaper()
    # Without CAP_SYS_RESOURCE (root has it) a hard limit set here cannot be raised again, by the task or anyone.
    drop_capability(CAP_SYS_RESOURCE)
    _forget_inherited_connections()
    cancelled = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: cancelled.set())
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(number, signal.SIG_DFL)
    channel = _Channel(reply_fd)
    _capture_output(channel)
    requests = os.fdopen(request_fd, "rb", buffering=0)
    pending = b""
    while True:
        chunk = requests.read(65536)
        if not chunk:
            return  # the worker closed the pipe: it is gone or replacing us
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            cancelled.clear()
            _child_run(execute, json.loads(line), cancelled, channel)


def _child_run(
    execute: Execute, request: dict[str, Any], cancelled: threading.Event, channel: _Channel
) -> None:  # pragma: no cover
    limits = request.pop("limits")
    reap_children()  # the previous run's processes, killed by the parent, adopted here
    if not _apply_memory_limit(limits.get("max_memory_bytes")):
        channel.send({"kind": "restart"})
        return
    _reset_peak_memory()
    usage = _cpu_seconds_used()
    timeout = limits.get("timeout_seconds")
    if timeout:

        def _timeout(*_):
            raise TaskTimeoutError(f"the task ran past its timeout of {timeout:g} s")

        signal.signal(signal.SIGALRM, _timeout)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    reply: dict[str, Any]
    try:
        task = execute(request, cancelled.is_set)
        with _window.open(request):
            value = task()
            sys.stdout.flush()
            sys.stderr.flush()
        signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            reply = {"kind": "result", "result": json_result(value), CANCELLED_FLAG: cancelled.is_set()}
        except (TypeError, ValueError) as error:
            reply = {
                "kind": Status.FAILED,
                "reason": FailureReason.INVALID_RESULT,
                "error": f"result is not JSON: {error}",
            }
    except BaseException as error:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if isinstance(error, TaskCancelledError) or (cancelled.is_set() and not isinstance(error, TaskTimeoutError)):
            reply = {"kind": Status.CANCELLED, "error": str(error) or Status.CANCELLED.label}
        else:
            reason, message = failure_from_exception(error)
            reply = {"kind": Status.FAILED, "reason": reason, "error": message, "traceback": traceback.format_exc()}
    reply["cpu_seconds"] = round(_cpu_seconds_used() - usage, 6)
    reply["peak_memory_bytes"] = _peak_rss_bytes()
    channel.send(reply)


def _apply_memory_limit(limit: int | None) -> bool:  # pragma: no cover
    """Set the run's address-space limit as soft and hard limit; False when this sandbox cannot grant it.

    A hard limit can only be lowered: a run needing more room than an earlier
    run left (or no limit at all) needs a fresh sandbox.
    """
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if not limit:
        return hard == resource.RLIM_INFINITY
    allowed = _address_space_bytes() + limit
    if hard != resource.RLIM_INFINITY and allowed > hard:
        if allowed - hard > HARD_LIMIT_TOLERANCE_BYTES:
            return False
        allowed = hard
    resource.setrlimit(resource.RLIMIT_AS, (allowed, allowed))
    return True


def _cpu_seconds_used() -> float:  # pragma: no cover
    """CPU seconds of this process and of the children it waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + waited.ru_utime + waited.ru_stime


def _die_with_parent() -> None:  # pragma: no cover
    """Have the kernel kill the sandbox if the worker process that forked it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


_kept_alive: list[Any] = []


def _forget_inherited_connections() -> None:  # pragma: no cover
    """Drop database and broker connections inherited from the worker without closing them.

    Closing would send a goodbye on the parent's socket; the sandbox opens its
    own when a task needs one, and exits with os._exit so nothing is finalized.
    """
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if connection.connection is None:
            continue
        _kept_alive.append(connection.connection)
        connection.connection = None
        connection.close_at = None
    try:
        from karen.celery import app

        _kept_alive.append(app.__dict__.get("_pool"))
        app._pool = None
    except ImportError:
        pass


_statm = OwnProcFile("statm")
_status = OwnProcFile("status")


def _address_space_bytes() -> int:
    return int(_statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_memory() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # resets the peak resident set size (VmHWM) to the current size
    except OSError:
        pass


def _peak_rss_bytes() -> int | None:
    try:
        status = _status.read()
        start = status.index(b"VmHWM:") + 6
        return int(status[start : status.index(b"kB", start)]) * 1024
    except (OSError, ValueError):
        return None


class _Channel:
    """Child side of the reply pipe: one JSON document per line."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, default=str) + "\n").encode()
        with self.lock:
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]


class _RunWindow:
    """Which lines belong to the run going on in the sandbox: its task's thread's, and its task logger's."""

    def __init__(self) -> None:
        self.thread: int | None = None
        self.logger_name = ""

    @contextmanager
    def open(self, request: dict[str, Any]):
        self.thread = threading.get_ident()
        self.logger_name = f"karen.tasks.{request.get('extension_name')}.{request.get('task_name')}"
        try:
            yield
        finally:
            self.thread = None

    def owns(self, thread: int | None, logger_name: str = "") -> bool:
        if self.thread is None:
            return False
        return (
            thread == self.thread or logger_name == self.logger_name or logger_name.startswith(self.logger_name + ".")
        )


_window = _RunWindow()


class _ChannelLogHandler(logging.Handler):
    """Log records of the run go to its log (through the channel); any other goes to the worker's own log."""

    def __init__(self, channel: _Channel, elsewhere: logging.Handler) -> None:
        super().__init__(logging.DEBUG)
        self.channel = channel
        self.elsewhere = elsewhere

    def emit(self, record: logging.LogRecord) -> None:
        if not _window.owns(record.thread, record.name):
            self.elsewhere.handle(record)
            return
        try:
            self.channel.send({"kind": "log", "level": record.levelname, "message": self.format(record)})
        except Exception:  # noqa: BLE001 - a log line must never fail the task
            pass


class _ChannelStream:
    """sys.stdout / sys.stderr of the sandbox: complete lines of the run become log lines; others go to *elsewhere*."""

    def __init__(self, channel: _Channel, level: str, elsewhere) -> None:
        self.channel = channel
        self.level = level
        self.elsewhere = elsewhere
        self.pending = ""

    def write(self, text: str) -> int:
        if not _window.owns(threading.get_ident()):
            try:
                self.elsewhere.write(text)
            except (OSError, ValueError):
                pass
            return len(text)
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            self.channel.send({"kind": "log", "level": self.level, "message": line})
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.channel.send({"kind": "log", "level": self.level, "message": self.pending})
            self.pending = ""

    def isatty(self) -> bool:
        return False


def _capture_output(channel: _Channel) -> None:  # pragma: no cover
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    worker_log = logging.StreamHandler(sys.__stderr__)
    worker_log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s (sandbox %(process)d)"))
    handler = _ChannelLogHandler(channel, worker_log)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    sys.stdout = _ChannelStream(channel, "STDOUT", sys.__stdout__)
    sys.stderr = _ChannelStream(channel, "STDERR", sys.__stderr__)
