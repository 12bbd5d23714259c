"""The processes a run starts, found through /proc and ended together: no child outlives its run.

A sandbox is a child subreaper (PR_SET_CHILD_SUBREAPER): whatever a task
starts stays below it even when it leaves its session or its parent exits, so
walking the sandbox's descendants finds them all. They are frozen (SIGSTOP,
so none can fork while the walk goes on), walked again until no new one
appears, then killed. The worker's pool process is a subreaper too, so the
children of a sandbox that crashed land there and are ended after the run.

Linux only; nothing here knows the database.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
from collections.abc import Iterable

logger = logging.getLogger(__name__)

_PR_SET_CHILD_SUBREAPER = 36
_PR_CAPBSET_DROP = 24
CAP_SYS_RESOURCE = 24
_CAPABILITY_VERSION_3 = 0x20080522
_MAX_FREEZE_ROUNDS = 50
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (instead of init); return whether the kernel agreed."""
    try:
        return _libc().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def children(pid: int) -> list[int]:
    """Return the direct children of *pid* (every thread's), [] when it is gone."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for thread in threads:
        # os.open/os.read: after every run a worker walks its own threads, and a text file object costs more.
        try:
            descriptor = os.open(f"/proc/{pid}/task/{thread}/children", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            chunks = [os.read(descriptor, 65536)]
            while chunks[-1]:
                chunks.append(os.read(descriptor, 65536))
            found.extend(int(item) for item in b"".join(chunks).split())
        except (OSError, ValueError):
            continue
        finally:
            os.close(descriptor)
    return found


def descendants(pid: int, *, skip: Iterable[int] = ()) -> list[int]:
    """Return every descendant of *pid*, parents before children, leaving out *skip* and what is below them."""
    skipped = set(skip)
    found: list[int] = []
    frontier = [pid]
    while frontier:
        below = [child for parent in frontier for child in children(parent) if child not in skipped]
        below = [child for child in below if child not in found]
        found.extend(below)
        frontier = below
    return found


def _signal(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except (ProcessLookupError, PermissionError):
        pass


def kill_descendants(pid: int, *, skip: Iterable[int] = ()) -> list[int]:
    """Kill every descendant of *pid* but *skip* (and theirs); return the pids killed.

    Each one found is stopped first, so none can fork while the tree is walked
    again; once a walk finds nothing new, all are killed at once.
    """
    skipped = tuple(skip)
    frozen: list[int] = []
    for _ in range(_MAX_FREEZE_ROUNDS):
        new = [child for child in descendants(pid, skip=skipped) if child not in frozen]
        if not new:
            break
        for child in new:
            _signal(child, signal.SIGSTOP)
        frozen.extend(new)
    for child in frozen:
        _signal(child, signal.SIGKILL)
    return frozen


def reap_children(pids: Iterable[int] | None = None) -> None:
    """Collect exit statuses of this process's ended children (*pids*, or any), so no zombie stays."""
    if pids is None:
        while True:
            try:
                waited, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if waited == 0:
                return
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue


def signal_tree(pid: int, number: int) -> None:
    """Send *number* to *pid* and all its descendants (SIGSTOP/SIGCONT: pause and resume a whole run)."""
    for member in [pid, *descendants(pid)]:
        _signal(member, number)


def tree_usage(pid: int) -> tuple[float, int] | None:
    """Return (CPU seconds, resident bytes) of *pid* and its descendants, ended ones' CPU included; None if gone."""
    cpu, rss, seen = 0.0, 0, False
    for member in [pid, *descendants(pid)]:
        try:
            with open(f"/proc/{member}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{member}/statm") as handle:
                resident = int(handle.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        seen = True
        # utime, stime, and the children's it waited for (cutime, cstime).
        cpu += sum(int(value) for value in fields[11:15]) / _CLOCK_TICKS
        rss += resident * _PAGE_SIZE
    return (cpu, rss) if seen else None


class OwnProcFile:
    """A file of this process's /proc folder kept open and read afresh with pread (after a fork, reopened).

    Opening /proc/self/statm or /status for each run cost more than reading it.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.pid = 0
        self.descriptor = -1

    def read(self) -> bytes:
        pid = os.getpid()
        if self.pid != pid:  # first use, or a forked child holding its parent's descriptor
            self.descriptor = os.open(f"/proc/{pid}/{self.name}", os.O_RDONLY | os.O_CLOEXEC)
            self.pid = pid
        return os.pread(self.descriptor, 16384, 0)


def _private_bytes(pid: int) -> int:
    """Bytes of *pid*'s resident pages that no other process maps (0 if gone)."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return total


def tree_memory(pid: int) -> int:
    """Return the resident bytes of *pid* plus the private bytes of its descendants.

    Summed resident set sizes count a page once per process that maps it: a
    child between fork and exec maps all of its parent's memory, so the sum
    doubles for a moment though nothing new is held. Here a descendant adds only
    the pages it holds alone. Dearer than `tree_usage` (the kernel walks each
    descendant's page tables): a check against a memory limit reads it only
    after `tree_usage` says the limit may be crossed.
    """
    try:
        with open(f"/proc/{pid}/statm") as handle:
            resident = int(handle.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0
    return resident + sum(_private_bytes(member) for member in descendants(pid))


class _CapabilityHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapabilityData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capability(number: int) -> bool:
    """Drop capability *number* from this process for good (bounding set too, so no exec gets it back).

    Used with CAP_SYS_RESOURCE, so a hard resource limit set here cannot be
    raised again, not even by root. Return False when it could not be dropped.
    """
    libc = _libc()
    try:
        if libc.prctl(_PR_CAPBSET_DROP, number, 0, 0, 0) != 0 and ctypes.get_errno() not in (0, 22):
            return False
        header = _CapabilityHeader(_CAPABILITY_VERSION_3, 0)
        data = (_CapabilityData * 2)()
        if libc.capget(ctypes.byref(header), data) != 0:
            return False
        word, bit = divmod(number, 32)
        mask = ~(1 << bit) & 0xFFFFFFFF
        data[word].effective &= mask
        data[word].permitted &= mask
        data[word].inheritable &= mask
        return libc.capset(ctypes.byref(header), data) == 0
    except (OSError, AttributeError):
        return False
