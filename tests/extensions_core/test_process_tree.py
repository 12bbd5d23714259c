"""A run's process tree as /proc shows it: memory a forked child still shares with its parent counts once."""

from __future__ import annotations

import os

from extensions_core.process_tree import tree_memory, tree_usage

BLOCK = 96 * 2**20


def _touched(size: int) -> bytearray:
    """A block of *size* bytes that is resident, not only reserved."""
    block = bytearray(size)
    block[::4096] = b"x" * len(block[::4096])
    return block


def _fork_and_hold(allocate: int = 0):
    """Fork a child that allocates *allocate* bytes of its own (0: touches nothing) and waits.

    Return (pid, write end that releases it).
    """
    release_read, release_write = os.pipe()
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        held = _touched(allocate) if allocate else None
        os.write(ready_write, b"x")
        os.read(release_read, 1)
        del held
        os._exit(0)
    for end in (release_read, ready_write):
        os.close(end)
    os.read(ready_read, 1)
    os.close(ready_read)
    return pid, release_write


def _release(pid: int, release: int) -> None:
    os.write(release, b"x")
    os.close(release)
    os.waitpid(pid, 0)


def test_a_child_between_fork_and_exec_does_not_double_the_trees_memory():
    block = _touched(BLOCK)
    own = tree_memory(os.getpid())
    pid, release = _fork_and_hold()
    try:
        _, summed = tree_usage(os.getpid())
        counted = tree_memory(os.getpid())
    finally:
        _release(pid, release)
    # Resident set sizes add the shared block twice; the tree holds it once.
    assert summed - own > BLOCK * 0.9
    assert counted - own < BLOCK * 0.1
    del block


def test_memory_a_child_allocates_for_itself_counts():
    before = tree_memory(os.getpid())
    pid, release = _fork_and_hold(allocate=BLOCK)
    try:
        grown = tree_memory(os.getpid())
    finally:
        _release(pid, release)
    assert grown - before > BLOCK * 0.9
    assert tree_memory(os.getpid()) - before < BLOCK * 0.1  # gone with the child
