"""Run one task function and report how it ended: in a forked child with limits, or in this process.

Isolated (the default): the function runs in a child forked from the worker
process, so a crash, a hang or a runaway allocation kills only the child. The
child gets a soft timeout (TaskTimeoutError raised inside it), then SIGKILL
after a grace period; an address-space limit of the extension's
`max_memory_mb` above what it inherited; its CPU share held at
`max_cpu_percent` (SIGSTOP/SIGCONT); its log lines and prints streamed back
over a pipe. CPU seconds and peak memory come from wait4() on that child, so
they are exact for the run.

In process (`"isolated": false`): no fork (faster), no memory or CPU limits;
timeouts and cancellation still hold, but a hard stop has to kill the whole
worker child process, which Celery then replaces.

This module knows nothing of the database: the caller passes a `RunControl`
that answers "was a cancel requested?" and takes heartbeats with new log lines.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import resource
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from extensions_core.sdk import TaskCancelledError, TaskTimeoutError

logger = logging.getLogger(__name__)

# Seconds between the soft timeout and the kill, and between a cancel request and the kill.
HARD_TIMEOUT_GRACE_SECONDS = 3.0
CANCEL_GRACE_SECONDS = 3.0
CANCEL_POLL_SECONDS = 0.5
MONITOR_TICK_SECONDS = 0.05
# A task whose CPU use stays within this many seconds of its allowed share is not paused.
CPU_ALLOWANCE_SECONDS = 0.2
MAX_LOG_LINES = 2000
MAX_LOG_LINE_CHARS = 4000
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class RunLimits:
    """How long and how much a run may take; None means no limit."""

    timeout_seconds: float | None = None
    max_memory_bytes: int | None = None
    max_cpu_percent: float | None = None


@dataclass(slots=True)
class Outcome:
    """How a run ended: status `completed`, `failed` or `cancelled`, with its result or error."""

    status: str
    failure_reason: str = ""
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


def _json_result(value: Any) -> Any:
    """Return *value* as it will be stored; raise TypeError/ValueError when it is not JSON."""
    return json.loads(json.dumps(value, allow_nan=False))


def _failure_from_exception(error: BaseException) -> tuple[str, str]:
    if isinstance(error, TaskTimeoutError):
        return "timeout", str(error) or "the task ran past its timeout"
    if isinstance(error, MemoryError):
        return "memory_limit", "the task ran out of memory (MemoryError)"
    return "exception", f"{type(error).__name__}: {error}"


# --- isolated runs -------------------------------------------------------------------------------


def run_isolated(
    function: Callable[..., Any],
    make_context: Callable[[Callable[[], bool]], Any],
    parameters: dict[str, Any],
    limits: RunLimits,
    control: RunControl,
) -> Outcome:
    """Run ``function(context, **parameters)`` in a forked child under *limits* and return its Outcome."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, reported through the pipe
        os.close(read_fd)
        code = 0
        try:
            _child_main(function, make_context, parameters, limits, write_fd)
        except BaseException:
            code = 70
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        return _Monitor(pid, read_fd, limits, control).watch()
    finally:
        os.close(read_fd)


def _child_main(function, make_context, parameters, limits: RunLimits, write_fd: int) -> None:  # pragma: no cover
    _die_with_parent()
    _forget_inherited_connections()
    cancelled = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: cancelled.set())
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    channel = _Channel(write_fd)
    _capture_output(channel)
    if limits.max_memory_bytes:
        allowed = _address_space_bytes() + limits.max_memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (allowed, allowed))
    if limits.timeout_seconds:

        def _timeout(*_):
            raise TaskTimeoutError(f"the task ran past its timeout of {limits.timeout_seconds:g} s")

        signal.signal(signal.SIGALRM, _timeout)
        signal.setitimer(signal.ITIMER_REAL, limits.timeout_seconds)
    try:
        context = make_context(cancelled.is_set)
        value = function(context, **parameters)
        signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            value = _json_result(value)
        except (TypeError, ValueError) as error:
            channel.send({"kind": "failed", "reason": "invalid_result", "error": f"result is not JSON: {error}"})
            return
        channel.send({"kind": "result", "result": value, "cancelled": cancelled.is_set()})
    except BaseException as error:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if isinstance(error, TaskCancelledError) or (cancelled.is_set() and not isinstance(error, TaskTimeoutError)):
            channel.send({"kind": "cancelled", "error": str(error) or "cancelled"})
            return
        reason, message = _failure_from_exception(error)
        channel.send({"kind": "failed", "reason": reason, "error": message, "traceback": traceback.format_exc()})


def _die_with_parent() -> None:  # pragma: no cover
    """Have the kernel kill this child if the worker process that forked it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _forget_inherited_connections() -> None:  # pragma: no cover
    """Drop database and broker connections inherited from the worker without closing them.

    Closing would send a goodbye on the parent's socket; the child opens its
    own if the task needs one, and exits with os._exit so nothing is finalized.
    """
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        raw = connection.connection
        if raw is None:
            continue
        _kept_alive.append(raw)
        connection.connection = None
        connection.close_at = None
    try:
        from karen.celery import app

        _kept_alive.append(app.__dict__.get("_pool"))
        app._pool = None
    except ImportError:
        pass


_kept_alive: list[Any] = []


def _address_space_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


class _Channel:
    """Child side of the pipe: one JSON document per line."""

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


class _ChannelLogHandler(logging.Handler):
    def __init__(self, channel: _Channel) -> None:
        super().__init__(logging.DEBUG)
        self.channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.channel.send({"kind": "log", "level": record.levelname, "message": self.format(record)})
        except Exception:  # noqa: BLE001 - a log line must never fail the task
            pass


class _ChannelStream:
    """sys.stdout / sys.stderr of the child: complete lines become log lines."""

    def __init__(self, channel: _Channel, level: str) -> None:
        self.channel = channel
        self.level = level
        self.pending = ""

    def write(self, text: str) -> int:
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
    handler = _ChannelLogHandler(channel)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    sys.stdout = _ChannelStream(channel, "STDOUT")
    sys.stderr = _ChannelStream(channel, "STDERR")


class _Monitor:
    """Parent side: reads the child's pipe, enforces hard limits, relays cancels and heartbeats."""

    def __init__(self, pid: int, read_fd: int, limits: RunLimits, control: RunControl) -> None:
        self.pid = pid
        self.read_fd = read_fd
        self.limits = limits
        self.control = control
        self.log = LogBuffer()
        self.final: dict[str, Any] | None = None
        self.partial = b""
        self.killed_for: tuple[str, str] | None = None
        self.cancel_deadline: float | None = None
        self.paused = False
        self.peak_rss = 0
        self.baseline_rss = _rss_bytes(pid) or 0

    def watch(self) -> Outcome:
        from extensions_core.services.heartbeats import EXECUTION_HEARTBEAT_SECONDS

        started = time.monotonic()
        hard_deadline = (
            started + self.limits.timeout_seconds + HARD_TIMEOUT_GRACE_SECONDS if self.limits.timeout_seconds else None
        )
        next_cancel_poll = started + CANCEL_POLL_SECONDS
        next_heartbeat = started + EXECUTION_HEARTBEAT_SECONDS
        while True:
            self._read(MONITOR_TICK_SECONDS)
            waited, status, usage = os.wait4(self.pid, os.WNOHANG)
            if waited:
                self._read(0)
                return self._outcome(status, usage)
            now = time.monotonic()
            self._sample_memory()
            if self.limits.max_cpu_percent:
                self._throttle(now - started)
            if hard_deadline and now >= hard_deadline and not self.killed_for:
                self._kill(
                    "timeout", f"the task ran past its timeout of {self.limits.timeout_seconds:g} s and was killed"
                )
            if now >= next_cancel_poll and self.cancel_deadline is None and not self.killed_for:
                next_cancel_poll = now + CANCEL_POLL_SECONDS
                if self._safely(self.control.is_cancel_requested, False):
                    self._signal(signal.SIGUSR1)
                    self.cancel_deadline = now + CANCEL_GRACE_SECONDS
            if self.cancel_deadline is not None and now >= self.cancel_deadline and not self.killed_for:
                self._kill("cancelled", "cancelled")
            if now >= next_heartbeat:
                next_heartbeat = now + EXECUTION_HEARTBEAT_SECONDS
                self._safely(lambda: self.control.heartbeat(self.log.snapshot()), None)

    def _safely(self, call: Callable[[], Any], default: Any) -> Any:
        try:
            return call()
        except Exception:  # noqa: BLE001 - a database hiccup must not abandon the child
            logger.exception("Execution control call failed; the run goes on")
            return default

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.read_fd], [], [], timeout)
        if not ready:
            return
        chunk = os.read(self.read_fd, 65536)
        while chunk:
            self.partial += chunk
            ready, _, _ = select.select([self.read_fd], [], [], 0)
            chunk = os.read(self.read_fd, 65536) if ready else b""
        *lines, self.partial = self.partial.split(b"\n")
        for line in lines:
            self._message(line)

    def _message(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        if message.get("kind") == "log":
            self.log.add(message.get("level", "INFO"), str(message.get("message", "")))
        else:
            self.final = message

    def _sample_memory(self) -> None:
        rss = _rss_bytes(self.pid)
        if rss is None:
            return
        self.peak_rss = max(self.peak_rss, rss)
        limit = self.limits.max_memory_bytes
        if limit and rss - self.baseline_rss > limit and not self.killed_for:
            self._kill(
                "memory_limit", f"the task used more than its memory limit of {limit // 2**20} MB and was killed"
            )

    def _throttle(self, elapsed: float) -> None:
        used = _cpu_seconds(self.pid)
        if used is None:
            return
        allowed = elapsed * self.limits.max_cpu_percent / 100 + CPU_ALLOWANCE_SECONDS
        if used > allowed and not self.paused:
            self._signal(signal.SIGSTOP)
            self.paused = True
        elif used <= allowed and self.paused:
            self._signal(signal.SIGCONT)
            self.paused = False

    def _signal(self, number: int) -> None:
        try:
            os.kill(self.pid, number)
        except ProcessLookupError:
            pass

    def _kill(self, reason: str, message: str) -> None:
        self.killed_for = (reason, message)
        self._signal(signal.SIGKILL)

    def _outcome(self, status: int, usage: resource.struct_rusage) -> Outcome:
        outcome = self._ending(status)
        outcome.cpu_seconds = round(usage.ru_utime + usage.ru_stime, 6)
        outcome.peak_memory_bytes = max(usage.ru_maxrss * 1024, self.peak_rss)
        outcome.log = self.log.snapshot()
        return outcome

    def _ending(self, status: int) -> Outcome:
        if self.killed_for:
            reason, message = self.killed_for
            if reason == "cancelled":
                return Outcome(
                    status="cancelled",
                    error=f"cancelled; the task did not stop within {CANCEL_GRACE_SECONDS:g} s and was killed",
                )
            return Outcome(status="failed", failure_reason=reason, error=message)
        final = self.final or {}
        kind = final.get("kind")
        if kind == "result":
            if final.get("cancelled"):
                return Outcome(status="cancelled", result=final.get("result"), error="cancelled")
            return Outcome(status="completed", result=final.get("result"))
        if kind == "cancelled":
            return Outcome(status="cancelled", error=final.get("error", "cancelled"))
        if kind == "failed":
            return Outcome(
                status="failed",
                failure_reason=final.get("reason", "exception"),
                error=final.get("error", ""),
                traceback=final.get("traceback", ""),
            )
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            if number == signal.SIGXCPU:
                return Outcome(status="failed", failure_reason="cpu_limit", error="the task exceeded its CPU limit")
            return Outcome(
                status="failed",
                failure_reason="crashed",
                error=f"the task's process was killed by {signal.Signals(number).name}",
            )
        return Outcome(
            status="failed",
            failure_reason="crashed",
            error=f"the task's process exited with status {os.WEXITSTATUS(status)} without a result",
        )


def _rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
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
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    watcher = threading.Thread(
        target=_watch_in_process,
        args=(limits, control, cancelled, finished, buffer, on_hard_stop),
        name="karen-execution-watcher",
        daemon=True,
    )
    use_alarm = bool(limits.timeout_seconds) and threading.current_thread() is threading.main_thread()
    previous_alarm = None
    cpu_before = time.thread_time()
    try:
        if use_alarm:

            def _timeout(*_):
                raise TaskTimeoutError(f"the task ran past its timeout of {limits.timeout_seconds:g} s")

            previous_alarm = signal.signal(signal.SIGALRM, _timeout)
            signal.setitimer(signal.ITIMER_REAL, limits.timeout_seconds)
        watcher.start()
        try:
            value = function(make_context(cancelled.is_set), **parameters)
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
            try:
                value = _json_result(value)
            except (TypeError, ValueError) as error:
                outcome = Outcome(
                    status="failed", failure_reason="invalid_result", error=f"result is not JSON: {error}"
                )
            else:
                outcome = Outcome(status="cancelled" if cancelled.is_set() else "completed", result=value)
        except BaseException as error:  # noqa: BLE001 - every ending of a task is reported
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if isinstance(error, TaskCancelledError) or (
                cancelled.is_set() and not isinstance(error, TaskTimeoutError)
            ):
                outcome = Outcome(status="cancelled", error=str(error) or "cancelled")
            else:
                reason, message = _failure_from_exception(error)
                outcome = Outcome(
                    status="failed", failure_reason=reason, error=message, traceback=traceback.format_exc()
                )
    finally:
        finished.set()
        if use_alarm and previous_alarm is not None:
            signal.signal(signal.SIGALRM, previous_alarm)
        root.removeHandler(handler)
        root.setLevel(previous_level)
    watcher.join(timeout=5)
    outcome.cpu_seconds = round(time.thread_time() - cpu_before, 6)
    outcome.peak_memory_bytes = _rss_bytes(os.getpid())
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


def _watch_in_process(limits, control, cancelled, finished, buffer, on_hard_stop) -> None:
    from django.db import connection

    from extensions_core.services.heartbeats import EXECUTION_HEARTBEAT_SECONDS

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
                    status="cancelled",
                    error="cancelled; the task did not stop in time and its worker process was killed",
                )
            elif hard_deadline and now >= hard_deadline:
                stop = Outcome(
                    status="failed",
                    failure_reason="timeout",
                    error=f"the task ran past its timeout of "
                    f"{limits.timeout_seconds:g} s and its worker process was killed",
                )
            if stop is not None and not finished.is_set():
                stop.log = buffer.snapshot()
                _ask(lambda stop=stop: on_hard_stop(stop))
                os.kill(os.getpid(), signal.SIGKILL)
            if now >= next_heartbeat:
                next_heartbeat = now + EXECUTION_HEARTBEAT_SECONDS
                _ask(lambda: control.heartbeat(buffer.snapshot()))
    finally:
        connection.close()


def _ask(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception:  # noqa: BLE001 - the watcher must keep watching
        logger.exception("Execution control call failed; the run goes on")
        return None
