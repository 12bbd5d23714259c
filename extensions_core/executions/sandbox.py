"""Isolated runs, the worker's side: a child forked from the worker runs task functions one at a time, under limits.

The child (the sandbox) is forked once and reused, so a run pays neither a
fork nor a new database connection; it is killed and replaced whenever a run
misbehaves: a hard timeout, a memory limit, a cancel it ignores, a crash, or
any failure after which its state cannot be trusted (timeout, MemoryError).
So a task that crashes, hangs or runs away with memory takes down the sandbox
only, never the worker. Each run gets:

- a soft timeout (TaskTimeoutError raised inside it), then SIGKILL after a grace period;
- an address-space limit of the extension's `max_memory_mb` above what the
  sandbox holds when the run starts, as a hard limit the task cannot raise
  (the sandbox has dropped CAP_SYS_RESOURCE; a run that needs a higher limit
  gets a fresh sandbox), and a resident-memory check of the whole process
  tree by the parent every 10 ms;
- its CPU share, children included, held at `max_cpu_percent` (SIGSTOP/SIGCONT
  of the whole tree from the parent);
- the end of every process it started: the sandbox is a child subreaper, and
  after each run its descendants are frozen and killed (`process_tree`);
- its log lines and prints streamed to the parent over a pipe;
- its own CPU seconds (getrusage delta) and peak memory (the kernel's peak RSS,
  reset before the run through /proc/self/clear_refs).

Nothing here knows the database: the parent's `RunControl` answers cancels and
takes heartbeats; the child (`sandbox_child`) calls the `execute` callback it
was forked with.
A run's log holds only what its task logged or printed while it ran: lines
from anything else in the sandbox (a registry sync, another extension's
shutdown) go to the worker's own log.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from extensions_core.conf import EXECUTION_HEARTBEAT_SECONDS
from extensions_core.executions.outcome import (
    CANCEL_GRACE_SECONDS,
    CANCEL_POLL_SECONDS,
    CPU_ALLOWANCE_SECONDS,
    HARD_TIMEOUT_GRACE_SECONDS,
    LogBuffer,
    Outcome,
    RunControl,
    RunLimits,
)
from extensions_core.executions.sandbox_child import CANCELLED_FLAG, Execute, child_main
from extensions_core.executions.states import FailureReason, Status
from extensions_core.process_tree import kill_descendants, reap_children, signal_tree, tree_memory, tree_usage

logger = logging.getLogger(__name__)

MONITOR_TICK_SECONDS = 0.05
# With a memory limit the tree's resident memory is sampled this often (children are not held by the rlimit alone).
MEMORY_TICK_SECONDS = 0.01
# Failures after which the sandbox's state cannot be trusted: it is replaced before the next run.
RETIRE_AFTER = {FailureReason.TIMEOUT, FailureReason.MEMORY_LIMIT, FailureReason.CPU_LIMIT, FailureReason.CRASHED}


class Sandbox:
    """One forked child and the two pipes to it; `run()` sends a request and watches it to the end."""

    def __init__(self, execute: Execute) -> None:
        self.execute = execute
        self.pid = 0
        self.to_child = -1
        self.from_child = -1
        self.partial = b""

    @property
    def is_alive(self) -> bool:
        return self.pid > 0

    def start(self) -> None:
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; it reports through the pipe
            code = 0
            try:
                os.close(request_write)
                os.close(reply_read)
                _sandboxes.clear()  # the worker's sandboxes are not this process's
                child_main(self.execute, request_read, reply_write)
            except BaseException:
                code = 70
            finally:
                os._exit(code)
        os.close(request_read)
        os.close(reply_write)
        self.pid, self.to_child, self.from_child, self.partial = pid, request_write, reply_read, b""

    def stop(self) -> None:
        """Kill the child (if any) and everything it started, and reap it."""
        if not self.is_alive:
            return
        kill_descendants(self.pid)
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        self.forget()

    def forget(self) -> None:
        """Drop the (reaped) child and its pipes; the next run starts a new sandbox."""
        for fd in (self.to_child, self.from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        self.pid = 0

    def run(self, request: dict[str, Any], limits: RunLimits, control: RunControl) -> Outcome:
        """Run one request in the sandbox (starting one if needed) and return how it ended.

        Whatever the run started is killed when it ends, however it ends.
        """
        message = (json.dumps({**request, "limits": _limits_dict(limits)}, default=str) + "\n").encode()
        watch = self._send_and_watch(message, limits, control)
        if watch.needs_fresh_sandbox:
            # Its hard memory limit is lower than this run's, and cannot be raised: a new sandbox runs it.
            self.stop()
            watch = self._send_and_watch(message, limits, control)
        outcome = watch.outcome
        if self.is_alive:
            reap_children(kill_descendants(self.pid))
        if outcome.failure_reason in RETIRE_AFTER:
            self.stop()  # a killed sandbox is already reaped; this retires one that survived a bad run
        return outcome

    def _send_and_watch(self, message: bytes, limits: RunLimits, control: RunControl) -> _Watch:
        if not self.is_alive:
            self.start()
        try:
            os.write(self.to_child, message)
        except OSError:
            # The sandbox died between runs (killed from outside): start a fresh one.
            self.stop()
            self.start()
            os.write(self.to_child, message)
        watch = _Watch(self, limits, control)
        watch.until_done()
        return watch


def current_sandbox_pid() -> int | None:
    """Return the pid of this process's sandbox, or None when it has none running."""
    sandbox = _sandboxes.get(os.getpid())
    return sandbox.pid if sandbox is not None and sandbox.is_alive else None


def _limits_dict(limits: RunLimits) -> dict[str, Any]:
    return {"timeout_seconds": limits.timeout_seconds, "max_memory_bytes": limits.max_memory_bytes}


_sandboxes: dict[int, Sandbox] = {}
_sandbox_lock = threading.Lock()


def run_isolated(request: dict[str, Any], limits: RunLimits, control: RunControl, execute: Execute) -> Outcome:
    """Run *request* in this process's sandbox; *execute(request, is_cancelled)* runs it inside the child."""
    with _sandbox_lock:
        sandbox = _sandboxes.get(os.getpid())
        if sandbox is None:
            sandbox = _sandboxes[os.getpid()] = Sandbox(execute)
        return sandbox.run(request, limits, control)


# --- the parent's watch over one run ------------------------------------------------------------------


class _Watch:
    """Reads the sandbox's replies for one run; enforces hard limits; relays cancels and heartbeats."""

    def __init__(self, sandbox: Sandbox, limits: RunLimits, control: RunControl) -> None:
        self.sandbox = sandbox
        self.pid = sandbox.pid
        self.limits = limits
        self.control = control
        self.log = LogBuffer()
        self.final: dict[str, Any] | None = None
        self.killed_for: tuple[str, str] | None = None
        self.cancel_deadline: float | None = None
        self.paused = False
        self.peak_rss = 0
        # Without a memory or CPU limit there is nothing to hold the tree to (the child reports its own peak).
        self.sampling = bool(limits.max_memory_bytes or limits.max_cpu_percent)
        self.baseline_cpu, self.baseline_rss = (tree_usage(self.pid) or (0.0, 0)) if self.sampling else (0.0, 0)
        self.eof = False
        self.needs_fresh_sandbox = False
        self.outcome: Outcome | None = None

    def until_done(self) -> Outcome:
        self.outcome = self._watch()
        return self.outcome

    def _watch(self) -> Outcome:

        tick = MEMORY_TICK_SECONDS if self.limits.max_memory_bytes else MONITOR_TICK_SECONDS
        started = time.monotonic()
        timeout = self.limits.timeout_seconds
        hard_deadline = started + timeout + HARD_TIMEOUT_GRACE_SECONDS if timeout else None
        next_cancel_poll = started + CANCEL_POLL_SECONDS
        next_heartbeat = started + EXECUTION_HEARTBEAT_SECONDS
        while True:
            self._read(tick)
            if self.final is not None:
                return self._outcome()
            waited, status = os.waitpid(self.pid, os.WNOHANG) if self.eof or self.killed_for else (0, 0)
            if waited:
                self._read(0)
                self.sandbox.forget()
                return self._outcome(status)
            now = time.monotonic()
            if self.sampling:
                self._sample(now - started)
            if hard_deadline and now >= hard_deadline and not self.killed_for:
                self._kill(FailureReason.TIMEOUT, f"the task ran past its timeout of {timeout:g} s and was killed")
            if now >= next_cancel_poll and self.cancel_deadline is None and not self.killed_for:
                next_cancel_poll = now + CANCEL_POLL_SECONDS
                if self._safely(self.control.is_cancel_requested, False):
                    self._signal(signal.SIGUSR1)
                    self.cancel_deadline = now + CANCEL_GRACE_SECONDS
            if self.cancel_deadline is not None and now >= self.cancel_deadline and not self.killed_for:
                self._kill(Status.CANCELLED, Status.CANCELLED.label)
            if now >= next_heartbeat:
                next_heartbeat = now + EXECUTION_HEARTBEAT_SECONDS
                self._safely(lambda: self.control.heartbeat(self.log.snapshot()), None)

    def _safely(self, call: Callable[[], Any], default: Any) -> Any:
        try:
            return call()
        except Exception:  # noqa: BLE001 - a database hiccup must not abandon the run
            logger.exception("Execution control call failed; the run goes on")
            return default

    def _read(self, timeout: float) -> None:
        fd = self.sandbox.from_child
        ready, _, _ = select.select([fd], [], [], timeout)
        while ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                self.eof = True
                break
            self.sandbox.partial += chunk
            ready, _, _ = select.select([fd], [], [], 0)
        *lines, self.sandbox.partial = self.sandbox.partial.split(b"\n")
        for line in lines:
            self._message(line)

    def _message(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        if message.get("kind") == "log":
            self.log.add(message.get("level", "INFO"), str(message.get("message", "")))
        elif message.get("kind") == "restart":
            self.needs_fresh_sandbox = True
            self.final = message
        elif self.final is None:
            self.final = message

    def _sample(self, elapsed: float) -> None:
        """Check the memory and CPU of the run's whole process tree against its limits."""
        limit, share = self.limits.max_memory_bytes, self.limits.max_cpu_percent
        usage = tree_usage(self.pid)
        if usage is None:
            return
        cpu, rss = usage
        self.peak_rss = max(self.peak_rss, rss)
        # Summed resident sizes count a forked child's shared pages twice: confirm with what the tree holds.
        over = limit and rss - self.baseline_rss > limit and not self.killed_for
        if over and tree_memory(self.pid) - self.baseline_rss > limit:
            self._kill(
                FailureReason.MEMORY_LIMIT,
                f"the task used more than its memory limit of {limit // 2**20} MB and was killed",
            )
            return
        if share:
            allowed = elapsed * share / 100 + CPU_ALLOWANCE_SECONDS
            used = cpu - self.baseline_cpu
            if used > allowed and not self.paused:
                signal_tree(self.pid, signal.SIGSTOP)
                self.paused = True
            elif used <= allowed and self.paused:
                signal_tree(self.pid, signal.SIGCONT)
                self.paused = False

    def _signal(self, number: int) -> None:
        try:
            os.kill(self.pid, number)
        except ProcessLookupError:
            pass

    def _kill(self, reason: str, message: str) -> None:
        """Kill the sandbox and every process below it (they first, so none is orphaned to init)."""
        self.killed_for = (reason, message)
        kill_descendants(self.pid)
        self._signal(signal.SIGKILL)

    def _outcome(self, exit_status: int = 0) -> Outcome:
        if self.paused:
            signal_tree(self.pid, signal.SIGCONT)
        outcome = self._ending(exit_status)
        # The child measures its own run; a killed or crashed one reports nothing but what was sampled.
        final = self.final or {}
        outcome.cpu_seconds = final.get("cpu_seconds")
        outcome.peak_memory_bytes = final.get("peak_memory_bytes") or self.peak_rss or None
        outcome.log = self.log.snapshot()
        return outcome

    def _ending(self, status: int) -> Outcome:
        if self.killed_for:
            reason, message = self.killed_for
            if reason == Status.CANCELLED:
                return Outcome(
                    status=Status.CANCELLED,
                    error=f"cancelled; the task did not stop within {CANCEL_GRACE_SECONDS:g} s and was killed",
                )
            return Outcome(status=Status.FAILED, failure_reason=reason, error=message)
        final = self.final or {}
        kind = final.get("kind")
        if kind == "result":
            if final.get(CANCELLED_FLAG):
                return Outcome(status=Status.CANCELLED, result=final.get("result"), error=Status.CANCELLED.label)
            return Outcome(status=Status.COMPLETED, result=final.get("result"))
        if kind == Status.CANCELLED:
            return Outcome(status=Status.CANCELLED, error=final.get("error", Status.CANCELLED.label))
        if kind == Status.FAILED:
            return Outcome(
                status=Status.FAILED,
                failure_reason=final.get("reason", FailureReason.EXCEPTION),
                error=final.get("error", ""),
                traceback=final.get("traceback", ""),
            )
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            if number == signal.SIGXCPU:
                return Outcome(
                    status=Status.FAILED,
                    failure_reason=FailureReason.CPU_LIMIT,
                    error="the task exceeded its CPU limit",
                )
            return Outcome(
                status=Status.FAILED,
                failure_reason=FailureReason.CRASHED,
                error=f"the task's process was killed by {signal.Signals(number).name}",
            )
        return Outcome(
            status=Status.FAILED,
            failure_reason=FailureReason.CRASHED,
            error=f"the task's process exited with status {os.WEXITSTATUS(status)} without a result",
        )
