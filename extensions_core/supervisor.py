"""Runs the platform's processes (web, worker, beat) in the foreground and stops them together.

Each child runs in a session of its own, so a terminal's Ctrl-C reaches only
the supervisor. It asks every child to stop the way the child stops cleanly
(SIGTERM to the child itself: gunicorn's graceful shutdown, Celery's warm
shutdown), waits, and kills a child's process group only past a bound, saying so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

# Exit codes that mean "stopped as asked": a clean exit, or death by the SIGTERM it was sent.
STOPPED_AS_ASKED = frozenset({0, -signal.SIGTERM, 128 + signal.SIGTERM})


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One process to run: the name that prefixes its output lines, and its command line (no shell)."""

    name: str
    command: tuple[str, ...]


class Supervisor:
    """Start processes, relay their output, and stop them all on SIGINT/SIGTERM or when one of them ends."""

    def __init__(
        self, specs: Sequence[ProcessSpec], *, env: dict[str, str], output: TextIO, stop_timeout_seconds: float
    ) -> None:
        self.specs = tuple(specs)
        self.env = env
        self.output = output
        self.stop_timeout_seconds = stop_timeout_seconds
        self.children: dict[str, subprocess.Popen] = {}
        self.readers: list[threading.Thread] = []
        self.signals_received = 0
        self.width = max(len(spec.name) for spec in self.specs)
        self.lock = threading.Lock()

    def run(self) -> int:
        """Run every process until SIGINT/SIGTERM arrives or one of them ends; stop the rest; return the exit code.

        0 when every process stopped as asked after the signal; the exit code of
        a process that ended by itself; 1 when one had to be killed.
        """
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {number: signal.signal(number, self._on_signal) for number in handled}
        ended = None
        try:
            try:
                for spec in self.specs:
                    self._start(spec)
                ended = self._wait_until_stop_is_due()
            finally:
                troubled = self._stop_all(ended)
            for reader in self.readers:
                reader.join(timeout=5)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        if ended is not None:
            code = self.children[ended].returncode
            self.say(f"stopped ({ended} had exited with code {code})")
            return code if code > 0 else 1
        self.say(f"stopped ({', '.join(troubled)} did not stop cleanly)" if troubled else "stopped")
        return 1 if troubled else 0

    def say(self, message: str) -> None:
        """Print one line of the supervisor's own."""
        with self.lock:
            print(f"karen: {message}", file=self.output, flush=True)

    def _on_signal(self, number: int, frame: object) -> None:
        self.signals_received += 1

    def _start(self, spec: ProcessSpec) -> None:
        child = subprocess.Popen(
            spec.command,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.children[spec.name] = child
        reader = threading.Thread(target=self._relay, args=(spec.name, child), name=f"relay-{spec.name}", daemon=True)
        reader.start()
        self.readers.append(reader)
        self.say(f"{spec.name} started (pid {child.pid})")

    def _relay(self, name: str, child: subprocess.Popen) -> None:
        for raw in child.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self.lock:
                print(f"{time.strftime('%H:%M:%S')} {name.ljust(self.width)} | {line}", file=self.output, flush=True)

    def _wait_until_stop_is_due(self) -> str | None:
        """Return when a signal arrived (None) or a process ended by itself (its name)."""
        while not self.signals_received:
            for name, child in self.children.items():
                if child.poll() is not None:
                    self.say(f"{name} exited with code {child.returncode}; stopping the others")
                    return name
            time.sleep(0.1)
        self.say("stopping (Ctrl-C again to kill at once)")
        return None

    def _stop_all(self, ended: str | None) -> list[str]:
        """SIGTERM every running process, wait up to the bound, kill what is left; return who did not stop cleanly.

        *ended* is the process that already exited by itself (its exit was reported).
        """
        signals_before = self.signals_received
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_seconds
        while time.monotonic() < deadline and self.signals_received == signals_before:
            if all(child.poll() is not None for child in self.children.values()):
                break
            time.sleep(0.1)
        troubled = []
        for name, child in self.children.items():
            if child.poll() is None:
                when = (
                    "on a second Ctrl-C"
                    if self.signals_received > signals_before
                    else f"after {self.stop_timeout_seconds:g} s"
                )
                self.say(f"{name} (pid {child.pid}) has not stopped; killing it {when}")
            elif _group_alive(child.pid):
                self.say(f"{name} left processes behind (process group {child.pid}); killing them")
            elif child.returncode not in STOPPED_AS_ASKED and name != ended:
                self.say(f"{name} stopped with exit code {child.returncode}")
                troubled.append(name)
                continue
            else:
                continue
            troubled.append(name)
            _kill_group(child.pid)
            child.wait()
        return troubled


def _group_alive(group: int, *, grace_seconds: float = 3.0) -> bool:
    """Return whether a live process is left in process group *group* after up to *grace_seconds*.

    Zombies do not count: a pool process's sandbox child, orphaned when the pool
    ends, stays a zombie until init reaps it, and is already gone. Processes
    still ending on their own get *grace_seconds* to do so.
    """
    deadline = time.monotonic() + grace_seconds
    while True:
        if not _live_members(group):
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.05)


def _live_members(group: int) -> list[int]:
    """Return the pids of group *group* that are not zombies (from /proc; killpg(0) also finds zombies)."""
    if not os.path.isdir("/proc"):
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return []
        return [group]
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state, ppid, pgrp, ...
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(entry))
    return members


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
